"""One error type for everything a user can get wrong, reported as one line, never a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable

SHOWN_CHARS = 80
"""The most characters of one value a message quotes: a 10,000-character cell must not become the message."""


class StockcastError(Exception):
    """A problem with the user's input (params, files, data) that the message explains."""


def shown(value: object, limit: int = SHOWN_CHARS) -> str:
    """`value` as a message quotes it (repr for text), cut to `limit` characters with an ellipsis and the
    full length, so one bad cell or file name never floods the one line an error is."""
    text = repr(value) if isinstance(value, str) else str(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit - 1]}… ({len(text):,} chars)"


def exit_on_error(main: Callable[[], None]) -> None:
    """Run `main`; a StockcastError becomes `error: ...` on stderr and exit status 2."""
    try:
        main()
    except StockcastError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
