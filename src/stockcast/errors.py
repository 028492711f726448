"""One error type for everything a user can get wrong, reported as one line, never a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

INTERRUPTED = 130
"""The exit status of a run stopped by Ctrl-C (128 + SIGINT), as shells report it."""


class StockcastError(Exception):
    """A problem with the user's input (params, files, data) that the message explains."""


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
