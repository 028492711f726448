"""One error type for everything a user can get wrong, reported as one line, never a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable


class StockcastError(Exception):
    """A problem with the user's input (params, files, data) that the message explains."""


def exit_on_error(main: Callable[[], None]) -> None:
    """Run `main`; a StockcastError becomes `error: ...` on stderr and exit status 2."""
    try:
        main()
    except StockcastError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
