"""Child processes that must not outlive their parent (the embedded Redis, supervised workers)."""

from __future__ import annotations

import ctypes
import signal
import sys

__all__ = ["die_with_parent"]

# Resolved here, in the parent: the child between fork and exec only calls the function.
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In a child before exec: ask Linux to SIGTERM it when the supervisor dies, even by SIGKILL.

    Without it, a killed `aiwf up` would leave workers and Redis running unsupervised. SIGTERM
    lets a worker drain and Redis flush its AOF. Elsewhere this is a no-op.
    """
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)
