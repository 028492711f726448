"""Die with the parent: a long run started by a tool (dvc, torchrun) stops when that tool dies,
instead of living on as an orphan that races the tool's next run over the same files.

On Linux the kernel delivers the signal (prctl PR_SET_PDEATHSIG), however the parent dies; elsewhere
a daemon thread polls the parent pid once a second.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(sig: signal.Signals = signal.SIGTERM) -> None:
    """Have `sig` (by default SIGTERM, which ends the process) sent to this process when its parent dies."""
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    else:
        threading.Thread(target=_watch, args=(parent, sig), daemon=True, name="lifeline").start()
    if os.getppid() != parent:  # it died before the request: nobody will send the signal
        os.kill(os.getpid(), sig)


def _watch(parent: int, sig: signal.Signals) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os.kill(os.getpid(), sig)
