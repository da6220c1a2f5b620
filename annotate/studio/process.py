"""Background processes recorded in a data dir (the local Label Studio, an `annotate serve`):
is the recorded PID still that process, and end exactly its process group."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def alive(pid: int) -> bool:
    """The process runs (a zombie child counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def is_recorded(state: dict[str, Any], markers: Sequence[Sequence[str]]) -> bool:
    """The recorded PID runs and is still the process we started, not a recycled PID: its
    command line holds every word of one of `markers`."""
    pid = int(state.get("pid") or 0)
    if pid <= 0 or not alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return True
    return any(all(word in cmdline for word in words) for words in markers)


def terminate(state: dict[str, Any], markers: Sequence[Sequence[str]], grace: float) -> bool:
    """SIGTERM, then SIGKILL, the recorded process (its group when it leads one); True once
    it is gone, False when the record names no process of ours."""
    if not is_recorded(state, markers):
        return False
    pid = int(state["pid"])
    pgid = int(state.get("pgid") or pid)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if pgid == pid:  # only a group this process leads (start_new_session)
                os.killpg(pgid, sig)
            else:
                os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            if not alive(pid):
                return True
            time.sleep(0.2)
    return not alive(pid)
