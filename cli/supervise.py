"""`aiwf up`: every worker as its own process, restarted with backoff when it dies.

The supervisor only starts, watches and stops processes; everything it shows comes from
the workers' heartbeats in Redis, the same source as `aiwf health`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiwf.bus.backoff import Backoff
from aiwf.bus.process import die_with_parent

if TYPE_CHECKING:
    from aiwf.cli.logsink import LogCollector

#: Restart delays after consecutive crashes: 0.5 s, 1 s, 2 s ... up to 30 s (no jitter: one supervisor).
RESTART_BACKOFF = Backoff(base_s=0.5, max_s=30.0, jitter="none")
#: A child up this long has recovered: its next crash counts as the first again.
STABLE_AFTER_S = 60.0
#: The child name that runs `aiwf gateway` instead of `aiwf worker NAME`.
GATEWAY = "gateway"


@dataclass
class Child:
    """One supervised worker process."""

    name: str
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0
    next_start: float = 0.0
    #: Crashes since it last ran for STABLE_AFTER_S; the restart delay grows with them.
    failures: int = 0
    #: Seconds the pending restart waits (set when it exits).
    restart_in_s: float = 0.0
    exit_codes: list[int] = field(default_factory=list)


@dataclass
class Supervisor:
    """Starts `aiwf worker NAME` for each name, with REDIS_URL set for the children."""

    names: list[str]
    env: dict[str, str]
    children: dict[str, Child] = field(default_factory=dict)
    #: Where the children's stdout and stderr go (cli/logsink.py); None: inherited, as without `aiwf up`.
    logs: LogCollector | None = None

    def start(self) -> None:
        """Spawn every worker."""
        for name in self.names:
            self.children[name] = child = Child(name)
            self._spawn(child)

    def _spawn(self, child: Child) -> None:
        # The gateway is a service like the workers, but an HTTP server: `aiwf gateway`.
        verb = ["gateway"] if child.name == GATEWAY else ["worker", child.name]
        command = [sys.executable, "-m", "aiwf.cli", *verb]
        # Own session: Ctrl-C goes to the supervisor alone, which then drains workers in order.
        piped = self.logs is not None
        child.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            command,
            env=self.env,
            stdout=subprocess.PIPE if piped else None,
            stderr=subprocess.STDOUT if piped else None,
            start_new_session=True,
            preexec_fn=die_with_parent,  # noqa: PLW1509 - one prctl call, resolved before the fork
        )
        if self.logs is not None and child.process.stdout is not None:
            self.logs.collect(child.name, child.process.stdout)
        child.started_at = time.monotonic()

    def tick(self, on_restart: Callable[[Child, int], None] | None = None) -> None:
        """Restart dead children whose backoff has passed; call often."""
        now = time.monotonic()
        for child in self.children.values():
            if child.process is None:
                if now >= child.next_start:
                    self._spawn(child)
                continue
            code = child.process.poll()
            if code is None:
                if now - child.started_at > STABLE_AFTER_S:
                    child.failures = 0
                continue
            child.exit_codes.append(code)
            child.restarts += 1
            child.process = None
            child.failures += 1
            child.restart_in_s = RESTART_BACKOFF.delay(child.failures)
            child.next_start = now + child.restart_in_s
            if on_restart:
                on_restart(child, code)

    def stop(self, timeout_s: float = 35.0) -> None:
        """SIGTERM every child (each drains in-flight work), then wait; SIGKILL stragglers."""
        running = [c.process for c in self.children.values() if c.process and c.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for process in running:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def pids(self) -> dict[str, int | None]:
        """Current pid per worker (None while waiting to restart)."""
        return {n: (c.process.pid if c.process else None) for n, c in self.children.items()}


def child_env(redis_url: str) -> dict[str, str]:
    """The environment of a worker: ours, plus the Redis it must use."""
    return {**os.environ, "REDIS_URL": redis_url, "PYTHONUNBUFFERED": "1"}
