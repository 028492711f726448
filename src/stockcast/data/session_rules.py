"""The quality rules judged by an exchange calendar: future_date (after the last completed session of the
ticker's calendar) and non_session (not one of its sessions), and the session index missing_session counts by.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from stockcast.data import calendar, exchanges
from stockcast.data.calendar import last_completed_session
from stockcast.data.ledger import Ledger


@dataclass(frozen=True)
class Calendars:
    """Which calendar judges each ticker (its exchange, else quality.calendar) and each calendar's last
    completed session."""

    default: str | None
    of_tid: list[str | None]        # per ticker id; None: no session rules for it
    until: dict[str | None, date]   # per calendar; None: today in UTC

    @classmethod
    def of(cls, ledger: Ledger, exchange_of: Mapping[str, str], default: str | None, now: datetime) -> Calendars:
        names = exchanges.calendars(ledger.names.to_list(), exchange_of, default)
        return cls(default, names, {name: last_completed_session(name, now) for name in {*names, default}})

    @property
    def default_until(self) -> date:
        return self.until[self.default]

    def per_row(self, ledger: Ledger, positions: np.ndarray, values: dict[str | None, Any]) -> np.ndarray:
        """values[calendar of the row's ticker] for the rows at `positions` (few: only flagged rows)."""
        per_tid = np.asarray([values[name] for name in self.of_tid] or [None], dtype=object)
        return per_tid[ledger.tid[positions]]

    def summary(self) -> dict[str, dict[str, Any]]:
        """{calendar: tickers it judges, its last completed session} for the report ("none": no calendar)."""
        return {str(name).replace("None", "none"): {"tickers": self.of_tid.count(name),
                                                    "last_completed_session": str(self.until[name])}
                for name in sorted(set(self.of_tid), key=str)}


def _label(name: str | None) -> str:
    return f"{name} session" if name else "day in UTC"


@dataclass(frozen=True)
class Sessions:
    calendar: list[str | None]  # per ticker id, as Calendars.of_tid
    dates: np.ndarray  # datetime64[D]: each calendar's sessions from its tickers' first input date to the last
    index: np.ndarray  # per input row: its date's position in `dates`, -1 not a session, -2 not judged (no
    # calendar, or dated after the last completed session the calendar was built to: a future_date row)


def future_dates(ledger: Ledger, judges: Calendars) -> None:
    # future_date: dated after the last completed session of the ticker's calendar (without one, after today
    # in UTC): no such bar can be complete, whatever the file says
    epoch = date(1970, 1, 1)
    limit = np.asarray([(judges.until[name] - epoch).days for name in judges.of_tid] or [0], dtype=np.int64)
    late = np.flatnonzero(ledger.days > limit[ledger.tid]) if ledger.bars.height else np.zeros(0, dtype=np.int64)
    ledger.rows("future_date", late, pl.format("{} is after the last completed {} ({})", pl.col("date"),
                                               pl.col("judge"), pl.col("until")),
                judge=judges.per_row(ledger, late, {n: _label(n) for n in judges.until}),
                until=judges.per_row(ledger, late, {n: str(d) for n, d in judges.until.items()}))


def session_index(ledger: Ledger, judges: Calendars, capped: bool) -> Sessions | None:
    """Each calendar's sessions over its tickers' dates, up to its last completed session when `capped` (the
    rows after it are quarantined as future_date): a stray date in 2099 or 9999 then never makes the calendar
    build that far. None when no ticker has a calendar."""
    groups: dict[str, list[int]] = {}
    for tid, name in enumerate(judges.of_tid):
        if name is not None:
            groups.setdefault(name, []).append(tid)
    if not groups or ledger.bars.is_empty():
        return None
    index = np.full(ledger.bars.height, -2, dtype=np.int32)
    parts: list[np.ndarray] = []
    base = 0
    for name, tids in groups.items():
        rows = slice(None) if len(tids) == len(judges.of_tid) else np.flatnonzero(np.isin(ledger.tid, tids))
        days = ledger.days[rows]
        first, last = _day(days.min()), _day(days.max())
        last = min(last, judges.until[name]) if capped else last
        dates = calendar.sessions(name, first, last) if last >= first else np.empty(0, dtype="datetime64[D]")
        span = max((last - first).days + 1, 0)
        lookup = np.full(span, -1, dtype=np.int32)  # day offset -> session index
        lookup[(dates - np.datetime64(first, "D")).astype(np.int64)] = base + np.arange(len(dates))
        offset = days - days.min()
        local = np.full(len(offset), -2, dtype=np.int32)  # after `last`: no session was built to judge it by
        inside = offset < span
        local[inside] = lookup[offset[inside]]
        index[rows] = local
        parts.append(dates)
        base += len(dates)
    return Sessions(judges.of_tid, np.concatenate(parts), index)


def _day(days: np.integer) -> date:
    return date(1970, 1, 1) + timedelta(days=int(days))


def non_sessions(ledger: Ledger, sessions: Sessions) -> None:
    # non_session: the date is not a session of the ticker's exchange calendar (a weekend, a holiday)
    rows = np.flatnonzero(sessions.index == -1)
    ledger.rows("non_session", rows, pl.format(
        "{} ({}) is not a {} session", pl.col("date"), pl.col("date").dt.strftime("%A"), pl.col("judge")),
        judge=np.asarray(sessions.calendar, dtype=object)[ledger.tid[rows]])
