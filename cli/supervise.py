"""`aiwf up`: every worker as its own process, restarted with backoff when it dies or hangs.

The supervisor starts, watches and stops processes; what it knows of their health comes from
the workers' heartbeats in Redis, the same source as `aiwf health`. A worker that is alive but
has not beaten (frozen, SIGSTOPped) or reports every handler stuck for `unhealthy_after_s` is
killed and restarted. A worker that keeps dying right after it starts is given up on and
reported, never restarted in a tight loop; `aiwf ctl start` tries it again.
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

#: Restart delays: 0.5 s doubling to 30 s, from the start failures in a row (no jitter: one supervisor).
RESTART_BACKOFF = Backoff(0.5, 30.0, "none")
#: Up this long, a worker counts as started: its next failure starts the backoff afresh.
STABLE_AFTER_S = 60.0
#: Dying within this of starting is a failure to start; this many in a row and the supervisor gives up.
START_FAILURE_S = 10.0
MAX_START_FAILURES = 5
#: Alive without a fresh heartbeat, or stuck, this long: killed and restarted (AIWF_RESTART_UNHEALTHY_AFTER).
UNHEALTHY_AFTER_S = 15.0
#: The child name that runs `aiwf gateway` instead of `aiwf worker NAME` (no heartbeat: never judged hung).
GATEWAY = "gateway"


@dataclass
class Child:
    """One supervised worker process."""

    name: str
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0
    next_start: float = 0.0
    #: Deaths within START_FAILURE_S of starting, in a row.
    start_failures: int = 0
    exit_codes: list[int] = field(default_factory=list)
    #: False after `aiwf ctl stop`: not restarted.
    wanted: bool = True
    #: Why the supervisor stopped restarting it ("" while it does).
    given_up: str = ""
    #: Since when (monotonic) it has looked unhealthy, and why.
    unhealthy_since: float | None = None
    unhealthy_why: str = ""
    last_kill: str = ""

    @property
    def state(self) -> str:
        """running | restarting | stopped | failed (given up)."""
        if self.given_up:
            return "failed"
        if not self.wanted:
            return "stopped" if self.process is None else "stopping"
        return "running" if self.process is not None else "restarting"


Restarted = Callable[[Child, int, float], None]
"""Told of each death: the child, its exit code and the delay before it starts again (-1: given up)."""


@dataclass
class Supervisor:
    """Starts `aiwf worker NAME` for each name, with REDIS_URL set for the children."""

    names: list[str]
    env: dict[str, str]
    unhealthy_after_s: float = UNHEALTHY_AFTER_S
    children: dict[str, Child] = field(default_factory=dict)
    #: (service, pid) of workers that died since the caller last looked: their entries to hand back.
    died: list[tuple[str, int]] = field(default_factory=list)
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
        child.unhealthy_since, child.last_kill = None, ""

    def tick(self, on_restart: Restarted | None = None, beats: list[dict[str, str]] | None = None) -> None:
        """Start what is due, restart the dead, kill the hung (when `beats` are given); call often."""
        now = time.monotonic()
        for child in self.children.values():
            if child.process is None:
                if child.wanted and not child.given_up and now >= child.next_start:
                    self._spawn(child)
                continue
            code = child.process.poll()
            if code is None:
                if now - child.started_at > STABLE_AFTER_S:
                    child.start_failures = 0
                if beats is not None and child.wanted and child.name != GATEWAY:
                    self._check_health(child, beats, now)
                continue
            self._exited(child, code, now, on_restart)

    def _exited(self, child: Child, code: int, now: float, on_restart: Restarted | None) -> None:
        child.exit_codes.append(code)
        assert child.process is not None  # noqa: S101 - type narrowing: called for a live child only
        if code != 0:
            self.died.append((child.name, child.process.pid))
        child.process = None
        if not child.wanted:
            return
        child.restarts += 1
        quick = now - child.started_at < START_FAILURE_S and not child.last_kill
        child.start_failures = child.start_failures + 1 if quick else 0
        if child.start_failures >= MAX_START_FAILURES:
            child.given_up = (
                f"exited {child.start_failures} times within {START_FAILURE_S:.0f}s of starting (last code {code}); "
                f"not restarting: see its log, then `aiwf ctl start {child.name}`"
            )
            delay = -1.0
        else:
            delay = RESTART_BACKOFF.delay(child.start_failures) if child.start_failures else 0.5
            child.next_start = now + delay
        if on_restart:
            on_restart(child, code, delay)

    def _check_health(self, child: Child, beats: list[dict[str, str]], now: float) -> None:
        assert child.process is not None  # noqa: S101 - type narrowing: called for a live child only
        pid = str(child.process.pid)
        mine = [b for b in beats if b.get("pid") == pid and b.get("service") == child.name]
        wall = time.time()
        why = ""
        if not mine:
            why = "no heartbeat since it started"
        elif wall - max(float(b.get("beat_at") or 0) for b in mine) > self.unhealthy_after_s / 2:
            why = "its heartbeat stopped"
        elif any(b.get("state") == "stuck" for b in mine):
            why = "every handler slot stuck past its timeout"
        if not why:
            child.unhealthy_since, child.unhealthy_why = None, ""
            return
        since = child.started_at if not mine else (child.unhealthy_since or now)
        child.unhealthy_since, child.unhealthy_why = since, why
        if now - since >= self.unhealthy_after_s:
            child.last_kill = f"killed: {why} for {now - since:.0f}s"
            child.process.kill()  # SIGKILL: a frozen process cannot answer SIGTERM

    def stop_child(self, name: str) -> str:
        """`aiwf ctl stop NAME`: drain it (SIGTERM) and do not restart it."""
        child = self.children[name]
        child.wanted = False
        if child.process is None or child.process.poll() is not None:
            return f"{name}: stopped"
        child.process.send_signal(signal.SIGTERM)
        return f"{name}: stopping (pid {child.process.pid}); it finishes what it holds"

    def start_child(self, name: str) -> str:
        """`aiwf ctl start NAME`: start it now, forgetting a given-up state."""
        child = self.children[name]
        child.wanted, child.given_up, child.start_failures = True, "", 0
        if child.process is not None and child.process.poll() is None:
            return f"{name}: already running (pid {child.process.pid})"
        if child.process is not None:
            child.exit_codes.append(child.process.returncode)
            child.process = None
        self._spawn(child)
        assert child.process is not None  # noqa: S101 - type narrowing: called for a live child only
        return f"{name}: started (pid {child.process.pid})"

    def restart_child(self, name: str) -> str:
        """`aiwf ctl restart NAME`: drain it, then start it again at once."""
        child = self.children[name]
        if child.process is None or child.process.poll() is not None:
            return self.start_child(name)
        child.wanted, child.given_up, child.start_failures = True, "", 0
        child.last_kill = "restarted by aiwf ctl"
        child.next_start = 0.0
        old = child.process.pid
        child.process.send_signal(signal.SIGTERM)
        return f"{name}: restarting (pid {old} drains first)"

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
