"""Typed, validated params: one model per params.yaml section, so a typo fails loudly and early.

Every stage reads only its own section. An unknown key, a wrong type or an out-of-range value is
a one-line StockcastError that names the key and what would be accepted. This module is a leaf: it
imports nothing of the domain, so every stage can depend on it without depending on everything.
Checks that need the domain (is the feature set registered, the calendar known, the embargo long
enough for the features' lookback) live in params_check.py, which `stockcast check-params` and the
pipeline's first stage run before any stage deletes an output.

The defaults here are the shipped params.yaml (a test keeps the two equal). Every section is a
section.Section: strict, and traced when STOCKCAST_PARAMS_TRACE is set (see section.py).
"""

from __future__ import annotations

import difflib
import re
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from stockcast.errors import StockcastError
from stockcast.section import Section, label, start_tracing
from stockcast.yaml12 import read_yaml

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
    """Every rule of stockcast.data.quality, in the order they are applied (each is defined there)."""

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


class FeaturesParams(Section):
    set: str = "basic"  # a name in stockcast.features.registry.SETS (params_check checks it)
    families: list[str] | None = None  # None: every family of the set


class FoldParams(Section):
    """Walk-forward folds: test periods of `step_days` dates one after another, each trained on
    what precedes it (expanding) or on the `train_days` dates before it (rolling)."""

    scheme: Literal["expanding", "rolling"] = "expanding"
    step_days: int = Field(252, ge=1)           # dates per test period (252 = one trading year)
    min_train_days: int = Field(756, ge=1)      # the first fold trains on at least this many dates
    train_days: int = Field(756, ge=1)          # rolling scheme: the training window's length


class SplitParams(Section):
    label: Literal["direction", "excess"] = "direction"
    horizon: int = Field(1, ge=1, le=60)
    dead_zone: float = Field(0.0, ge=0, lt=1)
    dead_zone_mode: Literal["exclude", "flat"] = "exclude"  # flat: a third class (label 2) instead of no label
    train_fraction: float = Field(0.6, gt=0, lt=1)
    val_fraction: float = Field(0.2, gt=0, lt=1)
    fraction_of: Literal["rows", "dates"] = "rows"      # what the fractions are shares of
    val_start: date | None = Field(None, strict=False)   # ISO dates; both or neither
    test_start: date | None = Field(None, strict=False)
    embargo_days: int = Field(80, ge=0)
    min_rows_per_segment: int = Field(60, ge=1)         # a ticker with fewer usable rows in a segment leaves it
    folds: FoldParams = FoldParams()

    @model_validator(mode="after")
    def _leaves_a_test_segment(self) -> SplitParams:
        if self.train_fraction + self.val_fraction >= 1:
            raise ValueError("train_fraction + val_fraction must be below 1 to leave a test segment")
        if (self.val_start is None) != (self.test_start is None):
            raise ValueError("give both val_start and test_start, or neither (fractions are used then)")
        if self.val_start and self.test_start and self.val_start >= self.test_start:
            raise ValueError(f"val_start ({self.val_start}) must come before test_start ({self.test_start})")
        if self.dead_zone_mode == "flat" and self.dead_zone == 0:
            raise ValueError("dead_zone_mode flat needs dead_zone > 0 (with 0 no move is flat)")
        return self


ModelName = Literal["lstm", "gru", "transformer", "logreg", "lightgbm", "ensemble"]
"""The names in stockcast.models.MODELS (a test keeps the two lists equal; params never imports torch)."""


class TransformerParams(Section):
    """Encoder width and heads; its depth and dropout are train.num_layers and train.dropout."""

    d_model: int = Field(32, ge=1)
    heads: int = Field(4, ge=1)

    @model_validator(mode="after")
    def _heads_divide_width(self) -> TransformerParams:
        if self.d_model % self.heads:
            raise ValueError(f"d_model ({self.d_model}) must be a multiple of heads ({self.heads})")
        return self


class LogregParams(Section):
    c: float = Field(1.0, gt=0)                 # inverse L2 strength, scikit-learn's C
    max_iter: int = Field(1000, ge=1)


class LightGBMParams(Section):
    num_leaves: int = Field(15, ge=2)
    n_estimators: int = Field(200, ge=1)        # the most boosting rounds
    learning_rate: float = Field(0.05, gt=0)
    min_child_samples: int = Field(50, ge=1)    # rows per leaf: the main guard against overfitting noise
    early_stopping_rounds: int = Field(20, ge=1)  # rounds without a better val `monitor` before stopping


class EnsembleParams(Section):
    members: list[Literal["lstm", "gru", "transformer", "logreg", "lightgbm"]] = ["lstm", "logreg", "lightgbm"]

    @model_validator(mode="after")
    def _distinct_members(self) -> EnsembleParams:
        if len(self.members) < 2 or len(set(self.members)) != len(self.members):
            raise ValueError(f"members must name at least two distinct models (got {self.members})")
        return self


class TrainParams(Section):
    model: ModelName = "lstm"
    seq_len: int = Field(20, ge=1, le=512)
    normalize: Literal["zscore", "robust", "rank"] = "zscore"  # fitted on the train segment only
    hidden_size: int = Field(64, ge=1)
    num_layers: int = Field(2, ge=1)
    dropout: float = Field(0.1, ge=0, lt=1)
    batch_size: int = Field(256, ge=1)          # per process under torchrun
    lr: float = Field(1e-3, gt=0)               # peak learning rate
    lr_schedule: Literal["cosine", "constant"] = "cosine"
    warmup_epochs: int = Field(1, ge=0)         # linear warm-up before the schedule
    min_lr: float = Field(1e-5, ge=0)           # where cosine ends
    weight_decay: float = Field(0.01, ge=0)     # AdamW
    clip_norm: float = Field(1.0, ge=0)         # max gradient norm; 0 turns clipping off
    epochs: int = Field(20, ge=1)
    patience: int = Field(5, ge=1)              # epochs without a better `monitor` before stopping
    monitor: Literal["val_loss", "val_accuracy"] = "val_loss"
    target_accuracy: float | None = Field(None, gt=0, le=1)  # stop once val accuracy reaches it
    seed: int = 42
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: bool = True                            # bf16 autocast, on CUDA only
    resume: bool = True                         # continue from checkpoint_dir if it matches params and data
    checkpoint_dir: str = "checkpoints/train"
    refit: Literal["none", "train_val"] = "none"  # train_val: after selection on val, fit again on train+val
    transformer: TransformerParams = TransformerParams()
    logreg: LogregParams = LogregParams()
    lightgbm: LightGBMParams = LightGBMParams()
    ensemble: EnsembleParams = EnsembleParams()


class EvaluateParams(Section):
    threshold: float = Field(0.5, gt=0, lt=1)   # P(up) above it calls up (flat: likeliest class)
    top_k: int = Field(2, ge=1)                 # most confident calls per day scored by top/flop accuracy


class RegimeParams(Section):
    """A named market regime: a calendar window whose backtest days are reported on their own."""

    name: str = Field(min_length=1)
    start: date = Field(strict=False)           # ISO dates, both inclusive
    end: date = Field(strict=False)

    @model_validator(mode="after")
    def _ordered(self) -> RegimeParams:
        if self.end < self.start:
            raise ValueError(f"regime {self.name!r} ends ({self.end}) before it starts ({self.start})")
        return self


REGIMES = [  # reported wherever the test segment reaches; windows may overlap
    {"name": "dotcom_bust", "start": "2000-01-01", "end": "2002-12-31"},
    {"name": "bull_2003_2007", "start": "2003-01-01", "end": "2007-12-31"},
    {"name": "financial_crisis", "start": "2008-01-01", "end": "2009-03-09"},      # to the S&P 500 low
    {"name": "recovery_2009_2013", "start": "2009-03-10", "end": "2013-12-31"},
    {"name": "sideways_2015_2016", "start": "2015-01-01", "end": "2016-12-31"},
    {"name": "pre_covid", "start": "2017-01-01", "end": "2020-02-19"},             # to the S&P 500 peak
    {"name": "covid_crash", "start": "2020-02-20", "end": "2020-03-23"},           # peak to low, 23 sessions
    {"name": "rebound_2020_2021", "start": "2020-03-24", "end": "2021-12-31"},
    {"name": "bear_2022", "start": "2022-01-01", "end": "2022-12-31"},
    {"name": "recent_2023_2025", "start": "2023-01-01", "end": "2025-12-31"},
]


class UniverseParams(Section):
    path: str = Field("data/sample/universe.csv", min_length=1)  # a CSV (stockcast.data.universe); a dep in dvc.yaml


class PPOParams(Section):
    """backtest.ppo: the RL sizing agents (stockcast.backtest.ppo), trained on val's first sessions."""

    seeds: list[int] = [0, 1, 2]                # one agent per seed, all reported; each adds a trial
    timesteps: int = Field(4000, ge=1)          # environment steps per agent
    train_fraction: float = Field(0.6, gt=0, lt=1)  # of val's sessions: learned on; the rest chooses the agent
    episode_days: int = Field(63, ge=2)         # sessions per training episode, from a random start
    lookback: int = Field(5, ge=1)              # recent returns of the book in the state
    learning_rate: float = Field(0.0003, gt=0)
    n_steps: int = Field(256, ge=2)             # steps per PPO update
    gamma: float = Field(0.9, gt=0, le=1)       # discount: a sizing decision pays off within days

    @model_validator(mode="after")
    def _distinct_seeds(self) -> PPOParams:
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct (got {self.seeds})")
        return self


class BacktestParams(Section):
    strategy: Literal["long_flat", "long_short", "topk_dropout", "vol_target", "kelly", "mean_variance",
                      "ppo"] = "long_flat"  # reported as `test`
    fill: Literal["next_open", "next_close", "same_close"] = "next_open"  # same_close: research only, untradable
    threshold: float = Field(0.5, gt=0, lt=1)   # long_flat: long when P(up) > threshold, else cash
    top_k: int = Field(2, ge=1)                 # long_short and topk_dropout: names per side
    max_swaps: int = Field(1, ge=0)             # topk_dropout: holdings replaced per day at most
    cost_bps: float = Field(5.0, ge=0, le=1000)
    slippage_bps: float = Field(5.0, ge=0, le=1000)
    initial_capital: float = Field(100_000.0, gt=0)
    periods_per_year: int = Field(252, ge=1)
    risk_free: float = Field(0.0, ge=-0.01, le=0.01)  # per period (daily), for Sharpe and Sortino
    trials: int = Field(6, ge=1)                # experiments tried; deflates the Sharpe ratio (+ ppo seeds)
    borrow_bps_per_year: float = Field(25.0, ge=0, le=10_000)  # on shorts, unless the universe gives a ticker's own
    min_price: float = Field(0.0, ge=0)         # tradable when the close reaches it (clean prices are adjusted)
    min_dollar_volume: float = Field(1e6, ge=0)  # ... and the median dollar volume over liquidity_window
    liquidity_window: int = Field(20, ge=1)     # sessions ending at the signal's date
    max_participation: float = Field(0.1, gt=0, le=1)  # of the median dollar volume per trade, at the book's capital
    neutralize: Literal["none", "sector"] = "none"  # long_short: as much long as short in each sector
    capacity_capitals: list[float] = [1e5, 1e6, 1e7, 1e8, 1e9]  # starting capitals of the capacity table
    regimes: list[RegimeParams] = Field(default_factory=lambda: [RegimeParams.model_validate(r) for r in REGIMES])
    calibration: Literal["isotonic", "none"] = "isotonic"  # kelly, mean_variance: edge of P(up), fitted on val
    vol_window: int = Field(60, ge=2)           # sessions of close-to-close returns behind volatilities, covariances
    target_vol: float = Field(0.1, gt=0, le=2)  # vol_target: annualised ex-ante volatility of long_short's book
    kelly_fraction: float = Field(0.25, gt=0, le=1)  # kelly: share of the full Kelly bet
    risk_aversion: float = Field(4.0, gt=0)     # mean_variance and ppo's reward: lambda of mu'w - lambda/2 w'Sw
    turnover_penalty: float = Field(1.0, ge=0)  # mean_variance: times the cost per side, on |w - drifted w|
    rebalance_days: int = Field(1, ge=1)        # mean_variance: solves every n sessions, drifts between
    max_names: int = Field(50, ge=1)            # mean_variance: the names with the largest calibrated |edge|
    max_weight: float = Field(0.25, gt=0, le=1)  # sizing policies: |weight| of one name at most
    max_gross: float = Field(1.5, gt=0, le=10)  # sizing policies: sum of |weights| at most
    ppo: PPOParams = Field(default_factory=PPOParams)

    @model_validator(mode="after")
    def _distinct_regimes(self) -> BacktestParams:
        names = [r.name for r in self.regimes]
        if len(set(names)) != len(names):
            raise ValueError(f"regime names must be distinct (got {names})")
        if len(self.capacity_capitals) < 4 or any(c <= 0 for c in self.capacity_capitals) \
                or sorted(self.capacity_capitals) != self.capacity_capitals:
            raise ValueError("capacity_capitals must be at least 4 rising positive capitals "
                             f"(got {self.capacity_capitals})")
        if self.strategy == "ppo" and not self.ppo.seeds:
            raise ValueError("strategy ppo needs at least one of ppo.seeds")
        return self


class WalkForwardParams(Section):
    """Retrain per fold of split.folds; the model's settings are the train section's, but `model`."""

    model: Literal["logreg", "lightgbm"] = "logreg"  # tabular: one fit per fold; dvc.yaml tracks train.<model>
    max_folds: int = Field(6, ge=1)             # the most recent folds only (each is a full training run)


class ReportParams(Section):
    title: str = "stockcast report"


class RetrainParams(Section):
    """When `stockcast monitor --check` says retrain (exit 1): either rule firing is enough."""

    max_drifted_share: float = Field(0.5, gt=0, le=1)  # share of features drifted above it (Evidently's dataset rule)
    accuracy_below_test: bool = True            # live accuracy's upper bound below the test's lower bound (95%)
    min_live_rows: int = Field(200, ge=1)       # fewer labelled recent predictions: the accuracy rule waits


class MonitorParams(Section):
    """Drift of features and predictions, live accuracy: the train segment is the reference (monitor.py)."""

    window: int = Field(60, ge=5)               # current: the universe's most recent sessions
    method: Literal["calibrated", "auto", "ks", "wasserstein", "psi"] = "calibrated"  # calibrated: normed
                                                # Wasserstein above both its threshold and the reference's own
                                                # window-length blocks; auto: Evidently's rule (KS up to 1,000
                                                # reference rows, else normed Wasserstein)
    ks_p_value: float = Field(0.05, gt=0, lt=1)  # ks: drifted below this p-value
    wasserstein_threshold: float = Field(0.1, gt=0)  # wasserstein: drifted above this distance / reference std
    psi_threshold: float = Field(0.1, gt=0)     # psi: drifted above (0.1 moderate, 0.25 major shift)
    psi_bins: int = Field(10, ge=2, le=100)     # reference quantile bins
    reference_rows: int = Field(100_000, ge=1000)  # about this many reference rows: 1 in k, by ticker and session
    importance_windows: int = Field(2000, ge=50)  # permutation importance: windows scored, at most, per side
    seed: int = 0
    retrain: RetrainParams = Field(default_factory=RetrainParams)


SECTIONS: dict[str, type[Section]] = {
    "ingest": IngestParams,
    "quality": QualityParams,
    "features": FeaturesParams,
    "split": SplitParams,
    "train": TrainParams,
    "universe": UniverseParams,
    "evaluate": EvaluateParams,
    "backtest": BacktestParams,
    "walkforward": WalkForwardParams,
    "report": ReportParams,
    "monitor": MonitorParams,
}


def parse_section(name: str, raw: Any, source: str = "params.yaml") -> Section:
    """Validate one section's mapping into its typed model."""
    if name not in SECTIONS:
        raise StockcastError(f"{source}: unknown section {name!r}{_suggest(name, SECTIONS)}")
    model = SECTIONS[name]
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise StockcastError(f"{source}: {name}: expected a mapping, got {type(raw).__name__}")
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        raise StockcastError(_describe(err, name, model, source)) from None


def load_section(name: str, path: str | Path = "params.yaml") -> Any:
    """The typed params of one stage, read from `path` (traced, see the module doc)."""
    start_tracing()
    return label(parse_section(name, read_yaml(path).get(name), str(path)), name)


def load_all(path: str | Path = "params.yaml") -> dict[str, Section]:
    """Every section, validated; unknown top-level sections are errors too."""
    start_tracing()
    data = read_yaml(path)
    return {name: label(parse_section(name, raw, str(path)), name) for name, raw in data.items()}


def _describe(err: ValidationError, section: str, model: type[Section], source: str) -> str:
    first = err.errors()[0]
    key = ".".join(str(part) for part in (section, *first["loc"]))
    if first["type"] == "extra_forbidden":
        field = str(first["loc"][-1])
        return f"{source}: {key}: unknown key{_suggest(field, _fields_at(model, first['loc'][:-1]))}"
    return f"{source}: {key}: {first['msg']} (got {first['input']!r})"


def _fields_at(model: type[BaseModel], loc: tuple) -> dict[str, Any]:
    """The keys accepted where an unknown key was found, following nested sections (train.lightgbm)."""
    for part in loc:
        inner = model.model_fields[part].annotation if part in model.model_fields else None
        if not (isinstance(inner, type) and issubclass(inner, BaseModel)):
            break
        model = inner
    return model.model_fields


def _suggest(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    known = ", ".join(choices)
    return f" (did you mean {close[0]!r}?)" if close else f" (known: {known})"
