"""One `aiwf up` per data dir: a lock on `<data dir>/up.pid`, held for the life of the process.

The kernel releases a flock when its holder dies however it dies (SIGKILL included), so a
crashed `aiwf up` never leaves a stale lock behind; the file keeps the holder's pid to name it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aiwf.cli.support import fail

__all__ = ["LOCK_FILE", "Holder", "claim", "holder"]

LOCK_FILE = "up.pid"


@dataclass(frozen=True)
class Holder:
    """The `aiwf up` running on a data dir: its pid and the workers it supervises."""

    pid: int
    workers: tuple[str, ...]


def claim(data_dir: Path, workers: Sequence[str]) -> int:
    """Lock `data_dir` for this `aiwf up`, writing our pid and `workers`; one line and exit 1 when another holds it.

    Returns the open descriptor: it stays open, and the lock held, until the process ends.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = _read(fd).pid
        os.close(fd)
        who = f"pid {pid}" if pid else "another process"
        stop = f"Ctrl-C in its terminal or `kill -INT {pid}`" if pid else "Ctrl-C in its terminal"
        fail(
            f"`aiwf up` is already running on data dir {data_dir.resolve()}/ ({who}); use it, stop it first "
            f"({stop}), or give this one another AIWF_DATA_DIR"
        )
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n{','.join(workers)}\n".encode(), 0)
    return fd


def holder(data_dir: Path) -> Holder | None:
    """The `aiwf up` running on `data_dir`, or None when none is."""
    try:
        fd = os.open(data_dir / LOCK_FILE, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _read(fd: int) -> Holder:
    """What the holder wrote: `pid` and `workers` lines (pid 0 while it has not written them yet)."""
    with contextlib.suppress(ValueError, OSError):
        pid, _, names = os.pread(fd, 4096, 0).decode().partition("\n")
        return Holder(int(pid.strip() or 0), tuple(n for n in names.strip().split(",") if n))
    return Holder(0, ())
