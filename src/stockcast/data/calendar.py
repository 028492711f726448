"""Exchange sessions from exchange_calendars, so gaps and stray dates are judged against the real market.

A weekday is not a session (Good Friday, 9/11, national days of mourning), so a plain business-day
calendar would report false gaps and miss stray holiday rows. exchange_calendars knows them.
"""

from __future__ import annotations

import difflib
import warnings
from datetime import UTC, date, datetime
from functools import lru_cache

import numpy as np

from stockcast.errors import StockcastError


def check_calendar(name: str, origin: str = "") -> None:
    """A one-line error when `name` is not an exchange_calendars name (without building the calendar)."""
    import exchange_calendars as xcals  # slow import (pandas, holidays): only when a calendar is needed

    names = sorted(xcals.get_calendar_names())
    if name not in names:
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"did you mean {close[0]!r}?" if close else "e.g. XNYS, XNAS, XLON, XTKS"
        where = f"{origin}: " if origin else ""
        raise StockcastError(f"{where}calendar {name!r} is not an exchange_calendars name ({hint})")


# exchange_calendars' cost is its holiday rules (~0.2 s a build, XKRX's lunar ones ~2.8 s), not the span:
# 1980..2040 builds as fast as two years. So the sessions of any years inside WINDOW come from one build per
# exchange and process, sliced; only years outside it, or an exchange whose records start later (XTKS: 1997),
# build their own span.
WINDOW = (1980, 2040)


def _calendar(name: str, first_year: int, last_year: int) -> tuple[np.ndarray, np.ndarray]:
    """(sessions as datetime64[D], their closes as UTC datetime64[s]) of `name` over at least those years."""
    if WINDOW[0] <= first_year and last_year <= WINDOW[1] and (whole := _window(name)) is not None:
        return whole
    return _span(name, first_year, last_year)


@lru_cache(maxsize=None)
def _window(name: str) -> tuple[np.ndarray, np.ndarray] | None:
    """`name` over WINDOW, or None when the exchange's records do not span it."""
    check_calendar(name)
    try:
        return _build(name, *WINDOW)
    except StockcastError:
        return None


@lru_cache(maxsize=8)
def _span(name: str, first_year: int, last_year: int) -> tuple[np.ndarray, np.ndarray]:
    """`name` over years outside WINDOW, or over an exchange's own records inside it."""
    check_calendar(name)
    return _build(name, first_year, last_year)


def _build(name: str, first_year: int, last_year: int) -> tuple[np.ndarray, np.ndarray]:
    """(sessions as datetime64[D], their closes as UTC datetime64[s]) of a known `name` over whole years."""
    import exchange_calendars as xcals

    try:
        with warnings.catch_warnings():  # exchange_calendars 4.x trips a pandas 3 deprecation warning on build
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            calendar = xcals.get_calendar(name, start=f"{first_year}-01-01", end=f"{last_year}-12-31")
    except ValueError as err:  # e.g. a date in year 9999: pandas cannot build the year after it
        raise StockcastError(f"calendar {name}: no sessions for {first_year}..{last_year} ({err})") from None
    sessions = calendar.sessions.values.astype("datetime64[D]")
    closes = calendar.closes.dt.tz_convert(None).to_numpy().astype("datetime64[s]")
    sessions.flags.writeable = closes.flags.writeable = False
    return sessions, closes


def sessions(name: str, first: date, last: date) -> np.ndarray:
    """Sorted datetime64[D] sessions of exchange `name` (e.g. XNYS) between `first` and `last`, inclusive."""
    every = _calendar(name, first.year, last.year)[0]
    lo, hi = np.searchsorted(every, [np.datetime64(first, "D"), np.datetime64(last, "D")], side="left")
    hi += int(hi < len(every) and every[hi] == np.datetime64(last, "D"))
    return every[lo:hi]


def last_completed_session(name: str | None, now: datetime) -> date:
    """The latest date a complete daily bar can carry at `now` (timezone-aware): the last session of `name`
    whose close has passed. Without a calendar, `now`'s UTC date: no exchange closes its session D before
    D has begun in UTC, so a later date is in the future everywhere (today's bar may still be partial)."""
    utc = now.astimezone(UTC)
    if name is None:
        return utc.date()
    every, closes = _calendar(name, utc.year - 1, utc.year)
    done = np.searchsorted(closes, np.datetime64(utc.replace(tzinfo=None), "s"), side="right")
    return every[done - 1].item()


def first_sessions(name: str, start: date, count: int) -> np.ndarray:
    """The first `count` sessions of `name` on or after `start` (synthetic markets trade on real sessions)."""
    years = int(count / 240) + 2
    found = sessions(name, start, date(start.year + years, 12, 31))
    if len(found) < count:
        raise StockcastError(f"calendar {name}: only {len(found)} sessions from {start}, {count} needed")
    return found[:count]
