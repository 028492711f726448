"""The quality check's ledger: where each row of the sorted input stands (still usable, or quarantined under
the first rule that took it), every rule each row breaks, and the findings of the rules whose action is warn.
The rules (quality.py, session_rules.py) only say which rows break them; the ledger applies their actions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from stockcast.params import QualityRules

SPLIT_RULE = "unadjusted_split"  # splits: quarantine sends a ticker with split-sized jumps here
RULES: tuple[str, ...] = (*QualityRules.model_fields, SPLIT_RULE)


@dataclass(frozen=True)
class Usable:
    """The usable rows in order: `at` selects them (a slice when all rows are usable, so no copy) and
    `same[k]` says whether usable row k-1 belongs to the same ticker, i.e. is row k's previous row."""

    at: slice | np.ndarray
    same: np.ndarray

    def positions(self, k: np.ndarray) -> np.ndarray:
        """Row positions of usable rows number `k`."""
        return k if isinstance(self.at, slice) else self.at[k]


class Ledger:
    """Where each row of the sorted input stands: still usable (code -1) or quarantined under RULES[code]."""

    def __init__(self, bars: pl.DataFrame, rules: QualityRules) -> None:
        self.bars = bars
        self.rules = rules
        self.code = np.full(bars.height, -1, dtype=np.int8)
        self.tid = bars["ticker"].rle_id().to_numpy()  # bars are sorted: one run, one id per ticker
        self.names = bars["ticker"].gather(np.flatnonzero(np.diff(self.tid, prepend=-1)))
        self.close, self.open = bars["close"].to_numpy(), bars["open"].to_numpy()
        self.days = bars["date"].to_physical().to_numpy()
        self.details: list[pl.DataFrame] = []
        self.broken: list[tuple[int, np.ndarray]] = []  # (rule code, positions of the rows breaking it)
        self.findings: list[pl.DataFrame] = []
        self.warned = dict.fromkeys(RULES, 0)
        self._view: Usable | None = None

    @property
    def usable(self) -> np.ndarray:
        return self.code < 0

    def view(self) -> Usable:
        """The usable rows and their previous-row links, recomputed only after a quarantine."""
        if self._view is None:
            usable = self.usable
            at = slice(None) if usable.all() else np.flatnonzero(usable)
            tid = self.tid[at]
            same = np.zeros(len(tid), dtype=bool)
            same[1:] = tid[1:] == tid[:-1]
            self._view = Usable(at, same)
        return self._view

    def rows(self, name: str, positions: np.ndarray, detail: pl.Expr, **extra: np.ndarray) -> None:
        """Apply rule `name` to the rows at `positions`; `detail` is evaluated on them (plus `extra` columns)."""
        settings = getattr(self.rules, name)
        if settings.enabled and len(positions):
            self.broken.append((RULES.index(name), positions))  # rows an earlier rule took break this one too
        keep = self.usable[positions]
        positions = positions[keep]
        if not settings.enabled or not len(positions):
            return
        found = self.bars[positions].with_columns(**{k: v[keep] for k, v in extra.items()}).select(
            "ticker", "date", rule=pl.lit(name), detail=detail.cast(pl.String).fill_null(name))
        if settings.action == "warn":
            self.warned[name] += len(positions)
            self.findings.append(found)
        elif settings.action == "quarantine_row":
            self._quarantine(name, positions, pl.DataFrame({"pos": positions, "detail": found["detail"]}))
        else:
            self.tickers(name, found.group_by("ticker", maintain_order=True).agg(detail=pl.format(
                "ticker quarantined: {} rows break {}, first {}: {}",
                pl.len(), pl.lit(name), pl.col("date").first(), pl.col("detail").first())), "quarantine_ticker",
                rows_break=False)

    def tickers(self, name: str, flagged: pl.DataFrame, action: str | None = None, rows_break: bool = True) -> None:
        """Apply rule `name` to whole tickers: `flagged` has one row per ticker with a `detail`.

        `rows_break`: every usable row of a quarantined ticker breaks the rule (short_history, missing_session);
        False when the rows that break it were recorded already (a row rule's quarantine_ticker, splits).
        """
        settings = getattr(self.rules, name, None)
        if settings is not None and not settings.enabled or flagged.is_empty():
            return
        action = action or settings.action
        flagged = flagged.join(self.names.to_frame().with_row_index("tid"), on="ticker", maintain_order="left")
        ids = flagged["tid"].to_numpy()
        if action == "warn":
            first = self.bars["date"].gather(np.searchsorted(self.tid, ids))
            self.warned[name] += flagged.height
            self.findings.append(flagged.select("ticker", date=first, rule=pl.lit(name), detail="detail"))
            return
        positions = np.flatnonzero(np.isin(self.tid, ids) & self.usable)
        if rows_break and len(positions):
            self.broken.append((RULES.index(name), positions))
        self._quarantine(name, positions, pl.DataFrame({"pos": positions, "tid": self.tid[positions]})
                         .join(flagged.select("tid", "detail"), on="tid", how="left").select("pos", "detail"))

    def _quarantine(self, name: str, positions: np.ndarray, details: pl.DataFrame) -> None:
        self.code[positions] = RULES.index(name)
        self.details.append(details)
        self._view = None

    def breaks(self) -> pl.DataFrame:
        """(pos, code): each row with each rule it breaks, once, in row and then RULES order."""
        if not self.broken:
            return pl.DataFrame(schema={"pos": pl.Int64, "code": pl.Int8})
        pos = np.concatenate([p for _, p in self.broken]).astype(np.int64)
        code = np.concatenate([np.full(len(p), c, dtype=np.int8) for c, p in self.broken])
        return pl.DataFrame({"pos": pos, "code": code}).unique().sort("pos", "code")

    def quarantine(self, breaks: pl.DataFrame) -> pl.DataFrame:
        """The quarantined input rows as they came, with the rule that decided, every rule each breaks
        (`broken`; empty for a row taken only because its ticker was) and detail, in ticker and date order."""
        positions = np.flatnonzero(~self.usable)
        details = pl.concat(self.details).sort("pos") if self.details else pl.DataFrame({"detail": []})
        at = pl.Series("pos", positions.astype(np.int64))
        names = pl.col("code").sort().replace_strict(dict(enumerate(RULES)), return_dtype=pl.String)
        lists = at.to_frame().join(breaks.filter(pl.col("pos").is_in(at.implode())).group_by("pos").agg(broken=names),
                                   on="pos", how="left", maintain_order="left")
        return self.bars[positions].with_columns(
            rule=pl.Series(np.asarray(RULES, dtype=object)[self.code[positions]], dtype=pl.String),
            broken=lists["broken"].fill_null(pl.Series([[]], dtype=pl.List(pl.String))),
            detail=details["detail"].cast(pl.String),
        )
