"""`aiwf chaos run [SCENARIO...]`: controlled faults under a steady load, each judged by its outputs.

Against a running system (embedded or REDIS_URL, workers on this host): a steady load of
`documents.document.uploaded` goes in, and every output of the documents service is matched
to its input by causation id. Per scenario: offered, handled, lost (no output by the end),
doubled (more than one), time to detect (first input waiting > DETECT_LAG_S for its output),
time to recover (from the fault until every input offered so far has its output), and
pass/fail against 0 lost, 0 doubled, recovery < 30 s.

    kill    SIGKILL one live worker of the service (`aiwf up` restarts it)
    stop    SIGSTOP one worker for the fault time, then SIGCONT (`aiwf up` may replace it first)
    pause   CLIENT PAUSE Redis for the fault time
    slow    every handler of the service sleeps 200 ms for the fault time (needs AIWF_CHAOS=1 in the
            workers' environment: the fault hook of bus/chaos.py)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, cast

import orjson
import typer

from aiwf.bus import keys
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import Redis, connect
from aiwf.bus.errors import AiwfError
from aiwf.bus.health import STALE_AFTER_S, heartbeats
from aiwf.bus.publish import Publisher
from aiwf.cli.support import fail, load_config, redis_url, run
from aiwf.schemas.events.documents import DocumentUploaded

__all__ = ["register"]

SCENARIOS = ("kill", "stop", "pause", "slow")
TARGET_RECOVERY_S = 30.0
DETECT_LAG_S = 1.0
SETTLE_LIMIT_S = 90.0
app = typer.Typer(no_args_is_help=True, help="Chaos experiments against a running system.")


def register(root: typer.Typer) -> None:
    """Add `chaos` to `root`."""
    root.add_typer(app, name="chaos")


class ChaosRefused(AiwfError):
    """Raised when a scenario cannot run (no live worker to hit, an unknown scenario)."""


@dataclass
class Result:
    """One scenario's figures."""

    scenario: str
    offered: int = 0
    handled: int = 0
    lost: int = 0
    doubled: int = 0
    detect_s: float | None = None
    recover_s: float | None = None
    note: str = ""
    backlog: list[int] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """0 lost, 0 doubled, recovered within TARGET_RECOVERY_S."""
        recovered = self.recover_s is not None and self.recover_s < TARGET_RECOVERY_S
        return self.lost == 0 and self.doubled == 0 and recovered


class Trial:
    """Load, watch and fault for one scenario."""

    def __init__(self, client: Redis, config: BusConfig, service: str, rate: float) -> None:
        self.client, self.config, self.service, self.rate = client, config, service, rate
        self.offered: dict[str, float] = {}  # event id -> when offered
        self.outputs: dict[str, int] = {}
        self._cursor = "+"

    async def load(self, stop: asyncio.Event) -> None:
        publisher = Publisher(self.client, self.config)
        start, n = time.monotonic(), 0
        while not stop.is_set():
            n += 1
            with contextlib.suppress(Exception):  # Redis paused or away: this one is not offered
                event_id = await publisher.publish(DocumentUploaded(document_id=f"chaos-{n}", text="chaos load"))
                self.offered[event_id] = time.monotonic()
            await asyncio.sleep(max(0.0, start + n / self.rate - time.monotonic()))

    async def start_cursor(self) -> None:
        last = cast("list[tuple[bytes, Any]]", await self.client.xrevrange(keys.stream("documents"), count=1))
        self._cursor = last[0][0].decode() if last else "0-0"

    async def poll_outputs(self) -> None:
        rows = cast(
            "list[tuple[bytes, dict[bytes, bytes]]]",
            await self.client.xrange(keys.stream("documents"), min=f"({self._cursor}", count=5000),
        )
        for entry_id, fields in rows:
            self._cursor = entry_id.decode()
            env = orjson.loads(fields.get(b"body", b"{}"))
            if env.get("producer") == self.service and env.get("causation_id") in self.offered:
                self.outputs[env["causation_id"]] = self.outputs.get(env["causation_id"], 0) + 1

    def waiting(self, now: float, older_than_s: float = 0.0) -> int:
        return sum(1 for eid, at in self.offered.items() if eid not in self.outputs and now - at > older_than_s)


async def _victim(client: Redis, service: str) -> int:
    now = time.time()
    for beat in await heartbeats(client):
        fresh = now - float(beat.get("beat_at") or 0) <= STALE_AFTER_S
        if beat.get("service") == service and beat.get("state") == "running" and fresh:
            return int(beat["pid"])
    raise ChaosRefused(f"no running {service} worker to hit; start `aiwf up` first")


async def _inject(client: Redis, scenario: str, service: str, fault_s: float) -> tuple[Any, str]:
    """Start the fault; returns what lifts it (or None) and a note."""
    if scenario == "kill":
        pid = await _victim(client, service)
        os.kill(pid, signal.SIGKILL)
        return None, f"SIGKILL pid {pid}"
    if scenario == "stop":
        pid = await _victim(client, service)
        os.kill(pid, signal.SIGSTOP)

        async def resume() -> None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

        return resume, f"SIGSTOP pid {pid} for {fault_s:.0f}s"
    if scenario == "pause":
        await client.client_pause(int(fault_s * 1000), all=True)
        return None, f"CLIENT PAUSE {fault_s:.0f}s"
    await client.hset(keys.chaos(service), mapping={"slow_ms": "200"})

    async def unslow() -> None:
        await client.delete(keys.chaos(service))

    return unslow, f"handlers +200 ms for {fault_s:.0f}s (honoured under AIWF_CHAOS=1)"


async def _scenario(
    client: Redis, config: BusConfig, scenario: str, service: str, duration_s: float, rate: float
) -> Result:
    if scenario in {"kill", "stop"}:
        await _victim(client, service)  # refuse before any load is offered
    trial = Trial(client, config, service, rate)
    await trial.start_cursor()
    stop = asyncio.Event()
    loader = asyncio.create_task(trial.load(stop))
    result = Result(scenario)
    fault_s = max(1.0, duration_s / 3)
    await asyncio.sleep(duration_s / 3)
    lift, result.note = await _inject(client, scenario, service, fault_s)
    injected = time.monotonic()
    lift_at = injected + fault_s
    deadline = injected + SETTLE_LIMIT_S
    next_sample = injected
    while time.monotonic() < deadline:
        now = time.monotonic()
        if lift is not None and now >= lift_at:
            await lift()
            lift = None
        if now >= injected + duration_s * 2 / 3:
            stop.set()
        with contextlib.suppress(Exception):  # a paused Redis answers late
            await trial.poll_outputs()
        now = time.monotonic()
        if result.detect_s is None and trial.waiting(now, DETECT_LAG_S):
            result.detect_s = now - injected
        if now >= next_sample:
            result.backlog.append(trial.waiting(now))
            next_sample += 1.0
        if result.recover_s is None and now > lift_at and trial.waiting(now) == 0:
            result.recover_s = now - injected
        if stop.is_set() and loader.done() and trial.waiting(now) == 0:
            break
        await asyncio.sleep(0.2)
    stop.set()
    await loader
    if lift is not None:
        await lift()
    await asyncio.sleep(1.0)  # a late duplicate still counts
    with contextlib.suppress(Exception):
        await trial.poll_outputs()
    result.offered = len(trial.offered)
    result.handled = sum(1 for e in trial.offered if e in trial.outputs)
    result.lost = result.offered - result.handled
    result.doubled = sum(1 for n in trial.outputs.values() if n > 1)
    return result


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def report(results: list[Result], service: str, rate: float, duration_s: float) -> str:
    """The Markdown report: one row per scenario, then its backlog over time."""
    lines = [
        f"# aiwf chaos report — {time.strftime('%Y-%m-%d %H:%M:%S')}",
        "",
        f"Service `{service}`, load {rate:g} events/s, {duration_s:g} s per scenario. "
        f"Targets: 0 lost, 0 doubled, recovery < {TARGET_RECOVERY_S:.0f} s.",
        "",
        "| scenario | fault | offered | handled | lost | doubled | detect | recover | result |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        verdict = "pass" if r.passed else "FAIL"
        lines.append(
            f"| {r.scenario} | {r.note} | {r.offered} | {r.handled} | {r.lost} | {r.doubled} "
            f"| {_seconds(r.detect_s)} | {_seconds(r.recover_s)} | {verdict} |"
        )
    lines += ["", "Backlog (inputs without an output yet), one sample a second from the fault on:", ""]
    lines += [f"- {r.scenario}: {' '.join(str(n) for n in r.backlog)}" for r in results]
    return "\n".join(lines) + "\n"


@app.command("run")
def run_chaos(
    scenarios: Annotated[list[str] | None, typer.Argument(help="kill, stop, pause, slow (default: all).")] = None,
    duration: Annotated[float, typer.Option("--duration", min=3, help="Seconds of load per scenario.")] = 15.0,
    rate: Annotated[float, typer.Option("--rate", min=1, help="Events per second offered.")] = 20.0,
    service: Annotated[str, typer.Option("--service", help="The service to hit.")] = "documents",
    report_file: Annotated[Path | None, typer.Option("--report", help="Write the Markdown report here.")] = None,
) -> None:
    """Run each scenario under a steady load and judge it (exit 1 if any fails its targets)."""
    chosen = scenarios or list(SCENARIOS)
    unknown = [s for s in chosen if s not in SCENARIOS]
    if unknown:
        fail(f"unknown scenario(s): {', '.join(unknown)}; known: {', '.join(SCENARIOS)}", 2)
    if service != "documents":
        fail("only --service documents is built: its outputs are matched to the load by causation id", 2)
    config = load_config(producer="chaos")

    async def body(_client: Redis, _config: BusConfig) -> list[Result]:
        results = []
        for scenario in chosen:
            client = connect(redis_url(config), config)  # one per scenario: a paused Redis leaves none stuck
            try:
                results.append(await _scenario(client, config, scenario, service, duration, rate))
            finally:
                await client.aclose()
        return results

    results = run(body)
    text = report(results, service, rate, duration)
    if report_file is not None:
        report_file.write_text(text)
    print(text, end="")
    if not all(r.passed for r in results):
        raise typer.Exit(1)
