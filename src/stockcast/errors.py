"""One error type for everything a user can get wrong, reported as one line, never a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

INTERRUPTED = 130
"""The exit status of a run stopped by Ctrl-C (128 + SIGINT), as shells report it."""

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
    """Run `main`, the one runner of every stage: a StockcastError becomes `error: ...` on stderr and
    exit status 2; Ctrl-C (KeyboardInterrupt) one line and status 130, never a traceback."""
    try:
        main()
    except StockcastError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print(f"interrupted: {Path(sys.argv[0]).name} stopped by Ctrl-C; its outputs are incomplete, run it again",
              file=sys.stderr)
        raise SystemExit(INTERRUPTED) from None
