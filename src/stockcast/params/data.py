"""Params of the data stages: sources (files, downloads, a database, synthetic), ingest and quality.

A leaf like the rest of stockcast.params, which re-exports every name (import them from there).
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from stockcast.section import Section


KEYED_SOURCES = ("alpha_vantage", "polygon")
"""Market-data APIs that need an API key (read from the environment variable a source's api_key_env names)."""


class SourceParams(Section):
    """One market-data API of the download source, with its own politeness: each counts its own requests."""

    name: Literal["yahoo", "stooq", "alpha_vantage", "polygon"]
    api_key_env: str | None = None                 # alpha_vantage, polygon: the environment variable with the key
    retries: int = Field(5, ge=0, le=20)           # after a rate limit (429) or a timeout
    backoff_seconds: float = Field(2.0, gt=0)      # first wait; doubles with each retry
    min_interval_seconds: float = Field(0.5, ge=0)  # between two requests: the rate limit

    @field_validator("api_key_env")
    @classmethod
    def _a_variable_name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Z_][A-Z0-9_]*", value):
            raise ValueError(f"{value!r} is not an environment variable name (A-Z, 0-9, _): name the variable "
                             "that holds the key, never the key itself (params.yaml is tracked by git)")
        return value

    @model_validator(mode="after")
    def _keys_where_needed(self) -> SourceParams:
        if (self.name in KEYED_SOURCES) != (self.api_key_env is not None):
            need = "needs api_key_env (e.g. ALPHAVANTAGE_API_KEY)" if self.name in KEYED_SOURCES else \
                "needs no api_key_env"
            raise ValueError(f"{self.name} {need}")
        return self


def _default_sources() -> list[SourceParams]:
    return [SourceParams(name="yahoo", retries=5, backoff_seconds=2.0, min_interval_seconds=0.5),
            SourceParams(name="stooq", retries=3, backoff_seconds=2.0, min_interval_seconds=1.0)]


class DownloadParams(Section):
    """The `download` source: daily bars from market-data APIs tried in order per ticker, cached, incremental."""

    tickers: list[str] = ["AAPL", "MSFT", "NVDA", "AMZN", "^GSPC"]
    universe_file: str | None = None               # one ticker per line (or CSV with a ticker column); replaces tickers
    start: date = Field(date(2000, 1, 1), strict=False)  # ISO date of the first bar wanted
    cache_dir: str = "data/cache"                  # <cache_dir>/<ticker>.parquet (yahoo), <cache_dir>/<source>/...
    sources: list[SourceParams] = Field(default_factory=_default_sources, min_length=1)  # tried in this order
    timeout_seconds: float = Field(30.0, gt=0)     # per request

    @field_validator("sources")
    @classmethod
    def _each_source_once(cls, value: list[SourceParams]) -> list[SourceParams]:
        names = [s.name for s in value]
        if len(set(names)) < len(names):
            raise ValueError(f"a source is listed twice: {names}")
        return value

    @model_validator(mode="after")
    def _some_tickers(self) -> DownloadParams:
        if not self.tickers and self.universe_file is None:
            raise ValueError("give tickers or a universe_file")
        return self


class SyntheticParams(Section):
    """The `synthetic` source: a seeded market (stockcast.data.synthetic explains the modes)."""

    mode: Literal["realistic", "null", "planted"] = "realistic"
    tickers: int = Field(50, ge=1, le=20_000)
    days: int = Field(2520, ge=2, le=20_000)       # XNYS sessions from 2000-01-03
    seed: int = 0
    bayes_accuracy: float = Field(0.55, ge=0.5, lt=1)  # planted: the best achievable direction accuracy

    @field_validator("mode", mode="before")
    @classmethod
    def _bare_null_means_the_null_market(cls, value: object) -> object:
        """YAML (and `dvc exp run -S ingest.synthetic.mode=null`) reads a bare `null` as None."""
        return "null" if value is None else value


class SqlParams(Section):
    """The `sql` source: a query (or a whole table) of a DuckDB file or a PostgreSQL/TimescaleDB server.

    The URL names no password: libpq takes it from PGPASSWORD or ~/.pgpass (and PGUSER, PGHOST, ... likewise),
    so params.yaml, which git and DVC track, never holds a secret."""

    url: str = "duckdb:///data/ohlcv.duckdb"        # duckdb:///relative/path, duckdb:////absolute, postgresql://...
    query: str | None = None                       # a SELECT giving OHLCV columns (any spelling columns.py accepts)
    table: str | None = "ohlcv"                    # without a query: every row of this table

    @field_validator("url")
    @classmethod
    def _a_known_database_without_secrets(cls, value: str) -> str:
        scheme, _, rest = value.partition("://")
        if scheme not in ("duckdb", "postgresql", "postgres") or not rest:
            raise ValueError(f"{value!r}: expected duckdb:///path/to/file.duckdb or postgresql://user@host:port/db")
        if scheme != "duckdb" and ("@" in rest and ":" in rest.split("@", 1)[0] or "password=" in rest.lower()):
            raise ValueError("the URL holds a password: params.yaml is tracked by git; set PGPASSWORD or use "
                             "~/.pgpass instead")
        return value

    @field_validator("table")
    @classmethod
    def _a_plain_table_name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?", value):
            raise ValueError(f"{value!r} is not a table name (letters, digits, _; schema.table allowed): "
                             "for anything else write a query")
        return value

    @model_validator(mode="after")
    def _query_or_table(self) -> SqlParams:
        if (self.query is None) == (self.table is None):
            raise ValueError("give exactly one of query and table (set the other to null)")
        return self

    def duckdb_file(self) -> str | None:
        """The DuckDB file of a duckdb:// URL (duckdb:///data/x.duckdb -> data/x.duckdb), else None."""
        return self.url.removeprefix("duckdb:///") if self.url.startswith("duckdb:///") else None


class IngestParams(Section):
    """Where bars come from. `path` is a dependency of the ingest stage in dvc.yaml, so it must be a real
    file or folder: DVC hashes paths, not globs (treeverse/dvc#5252). A glob goes in `pattern`, inside it."""

    source: Literal["sample", "directory", "download", "synthetic", "sql"] = "sample"
    path: str = "data/sample/ohlcv.parquet"        # sample: the file; directory: a file or a folder
    pattern: str | None = None                     # directory: a glob inside the folder (*.csv, **/*.parquet)
    download: DownloadParams = DownloadParams()
    synthetic: SyntheticParams = SyntheticParams()
    sql: SqlParams = SqlParams()

    @field_validator("path")
    @classmethod
    def _a_path_dvc_can_track(cls, value: str) -> str:
        parts = Path(value).parts
        plain = next((i for i, part in enumerate(parts) if set("*?[") & set(part)), len(parts))
        if plain < len(parts):
            folder, pattern = Path(*parts[:plain]) if plain else Path("."), Path(*parts[plain:])
            raise ValueError(f"{value!r} is a glob, and the ingest stage depends on this path (DVC tracks paths, "
                             f"not globs): set path: {str(folder)!r} and pattern: {str(pattern)!r}")
        return value

    @field_validator("pattern")
    @classmethod
    def _inside_the_folder(cls, value: str | None) -> str | None:
        if value is not None and (Path(value).is_absolute() or ".." in Path(value).parts):
            raise ValueError(f"{value!r} must stay inside the folder `path` (relative, no '..'): DVC tracks only it")
        return value

    @model_validator(mode="after")
    def _pattern_needs_a_folder(self) -> IngestParams:
        if self.pattern is not None and self.source != "directory":
            raise ValueError(f"pattern applies to the directory source only (source is {self.source!r}); "
                             "set it to null")
        database = self.sql.duckdb_file()
        if self.source == "sql" and database is not None and Path(self.path) != Path(database):
            raise ValueError(f"the sql source reads the DuckDB file {database!r}: set path: {database!r} too, "
                             "so the ingest stage's DVC dependency is the database itself")
        return self

    def location(self) -> str:
        """What the directory source reads: `path`, or the glob `pattern` inside the folder `path`."""
        return str(Path(self.path) / self.pattern) if self.pattern is not None else self.path


RuleAction = Literal["quarantine_row", "quarantine_ticker", "warn"]


class RuleParams(Section):
    """One quality rule: whether it runs, and what becomes of the rows it finds."""

    enabled: bool = True
    action: RuleAction = "quarantine_row"


class WarnRuleParams(RuleParams):
    """A rule that warns unless told otherwise (a partial mapping keeps this default)."""

    action: RuleAction = "warn"


class TickerRuleParams(RuleParams):
    action: RuleAction = "quarantine_ticker"


CONTRACT_RULES = ("missing_value", "non_finite_value", "non_positive_price", "ohlc_inconsistent", "negative_volume", "duplicate")
"""Rules the clean table's OHLCV contract enforces anyway: they cannot be switched off or only warn."""
TICKER_RULES = ("extreme_move", "missing_session", "short_history")
"""Rules about a series, not a row: a move belongs to two rows, a gap or a short history to none."""


class QualityRules(Section):
    """Every rule of stockcast.data.quality, in the order they are applied (each is defined where quality.py or
    session_rules.py computes it)."""

    missing_value: RuleParams = RuleParams()
    non_finite_value: RuleParams = RuleParams()
    non_positive_price: RuleParams = RuleParams()
    ohlc_inconsistent: RuleParams = RuleParams()
    negative_volume: RuleParams = RuleParams()
    zero_volume: RuleParams = RuleParams()            # no trade: a feed's placeholder, or a real halt (warn keeps it)
    future_date: RuleParams = RuleParams()            # a bar dated after the last completed session
    non_session: RuleParams = RuleParams()
    duplicate: RuleParams = RuleParams()
    stale_price: RuleParams = RuleParams()
    extreme_move: WarnRuleParams = WarnRuleParams()  # real crashes happen (AAPL -52%, 2000-09-29)
    missing_session: WarnRuleParams = WarnRuleParams()
    short_history: TickerRuleParams = TickerRuleParams()

    @model_validator(mode="after")
    def _actions_fit_rules(self) -> QualityRules:
        for name in CONTRACT_RULES:
            rule = getattr(self, name)
            if not rule.enabled or rule.action == "warn":
                raise ValueError(f"{name} must stay enabled with action quarantine_row or quarantine_ticker: "
                                 "rows breaking it would break the OHLCV contract of data/clean")
        for name in TICKER_RULES:
            if getattr(self, name).action == "quarantine_row":
                raise ValueError(f"{name}.action: quarantine_row does not apply to a rule about a whole series "
                                 "(use warn or quarantine_ticker)")
        return self


class QualityParams(Section):
    calendar: str | None = "XNYS"                  # exchange_calendars name; null skips the session rules
    min_history_days: int = Field(250, ge=1)       # short_history: fewer usable rows than this
    stale_run: int = Field(5, ge=2)                # stale_price: this many equal closes in a row
    extreme_move: float = Field(0.4, gt=0)         # extreme_move: |close or open / previous close - 1| >= this
    ohlc_tolerance: float = Field(0.000001, ge=0, le=0.01)  # ohlc_inconsistent: relative; closer is rounding, a finding
    max_missing_fraction: float = Field(0.0, ge=0, lt=1)  # missing_session: flag a ticker missing more sessions
    adjust_with_adj_close: bool = True             # restate OHLC by adj_close/close (splits, dividends)
    splits: Literal["adjust", "quarantine"] = "adjust"  # split-sized jumps in unadjusted series
    split_ratios: list[str] = ["2:1", "3:2", "3:1", "4:1", "5:1", "8:1", "10:1", "1:2", "1:5", "1:10", "1:20"]
    split_tolerance: float = Field(0.03, gt=0, le=0.1)  # overnight jump within 3% of a ratio
    rules: QualityRules = QualityRules()
