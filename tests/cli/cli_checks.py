"""Checks the CLI tests share: the one-line error contract, waiting on a condition, GET /health."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from typing import Any

import redis

from tests.worker_support import fetch_health

Aiwf = Callable[..., subprocess.CompletedProcess[str]]
"""Runs `aiwf ARGS` to completion (the `aiwf` fixture)."""
Spawn = Callable[..., subprocess.Popen[bytes]]
"""Starts a long-running `aiwf ARGS` (the `spawn` fixture)."""
Env = dict[str, str]
get_health = fetch_health
"""(status, JSON body) of GET /health on loopback, or None while nothing listens."""


def assert_one_error(result: subprocess.CompletedProcess[str], code: int = 1) -> str:
    """The command failed with `code` and exactly one `aiwf: ...` line on stderr, no traceback; returns it."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == code, (result.returncode, result.stderr)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("aiwf: "), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    return lines[0]


def wait_for(condition: Callable[[], Any], timeout_s: float, what: str) -> Any:
    """Poll `condition` until it returns something truthy (returned); AssertionError naming `what` on timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def beats(r: redis.Redis, service: str) -> list[dict[str, str]]:
    """Every heartbeat hash of `service` now in Redis."""
    return [r.hgetall(key) for key in r.scan_iter(match=f"aiwf:hb:{service}:*")]  # type: ignore[misc]
