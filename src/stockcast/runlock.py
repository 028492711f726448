"""One trainer per checkpoint folder: a lock file holding the pid of the process that uses it.

The lock is an flock(2) on that file, so the kernel drops it when its process dies, however it dies
(SIGKILL included): a lock file left by a dead trainer is simply taken over, and a reused pid is
never mistaken for a live trainer. The pid written inside is for the messages.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from stockcast.errors import StockcastError


def _holder(fd: int) -> str:
    """The pid recorded in an open lock file, or "unknown" (its holder has not written it yet)."""
    text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return text if text.isdigit() else "unknown"


@contextmanager
def exclusive(path: Path, role: str) -> Iterator[None]:
    """Hold `path` for the block; a live holder (another `role`) is a one-line error that names its pid."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise StockcastError(f"{path}: another {role} (pid {holder}) is using {path.parent}; wait for it "
                                 f"to finish or stop it (kill {holder})") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # its holder removed the file between our open and our lock: lock the new one
    stale = _holder(fd)
    if stale != "unknown" and stale != str(os.getpid()):
        print(f"{path}: took over the lock of pid {stale}, which no longer runs")
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    try:
        yield
    finally:
        os.unlink(path)  # while still locked: a process that opened it meanwhile sees it gone and retries
        os.close(fd)
