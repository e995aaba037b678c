"""`aiwf load --rate R --duration D`: a steady load of documents.document.uploaded, and what came of it.

Offered at R events/s for D s against the running system; each input is matched to the
documents service's output by causation id. Latency is the output's stream-entry time minus
the publish time (both from Redis' clock, so no sampling error). Then it waits for the backlog
to drain (up to --drain-limit s) and reports the drain time.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from typing import Annotated, Any, cast

import orjson
import typer

from aiwf.bus import keys
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import Redis
from aiwf.bus.publish import Publisher
from aiwf.cli.support import JsonOpt, emit_json, run
from aiwf.schemas.events.documents import DocumentUploaded

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add `load` to `app`."""
    app.command()(load)


async def _offer(client: Redis, config: BusConfig, rate: float, duration: float, offered: dict[str, float]) -> int:
    publisher = Publisher(client, config)
    errors, n, start = 0, 0, time.monotonic()
    tasks: set[asyncio.Task[None]] = set()

    async def one(i: int) -> None:
        nonlocal errors
        try:
            sent = time.time()
            event_id = await publisher.publish(DocumentUploaded(document_id=f"load-{i}", text="load test"))
            offered[event_id] = sent
        except Exception:  # noqa: BLE001 - counted: an error the load met
            errors += 1

    while time.monotonic() - start < duration:
        n += 1
        task = asyncio.create_task(one(n))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        await asyncio.sleep(max(0.0, start + n / rate - time.monotonic()))
    await asyncio.gather(*tasks)
    return errors


async def _outputs(client: Redis, cursor: str, offered: dict[str, float], done: dict[str, float]) -> str:
    rows = cast(
        "list[tuple[bytes, dict[bytes, bytes]]]",
        await client.xrange(keys.stream("documents"), min=f"({cursor}", count=10_000),
    )
    for entry_id, fields in rows:
        cursor = entry_id.decode()
        env = orjson.loads(fields.get(b"body", b"{}"))
        cause = env.get("causation_id")
        if env.get("producer") == "documents" and cause in offered and cause not in done:
            done[cause] = int(cursor.split("-")[0]) / 1000
    return cursor


async def _run(client: Redis, config: BusConfig, rate: float, duration: float, drain_limit: float) -> dict[str, Any]:
    last = cast("list[tuple[bytes, Any]]", await client.xrevrange(keys.stream("documents"), count=1))
    cursor = last[0][0].decode() if last else "0-0"
    offered: dict[str, float] = {}
    done: dict[str, float] = {}
    started = time.monotonic()
    offer = asyncio.create_task(_offer(client, config, rate, duration, offered))
    while not offer.done():
        with contextlib.suppress(Exception):
            cursor = await _outputs(client, cursor, offered, done)
        await asyncio.sleep(0.2)
    errors = await offer
    offered_for = time.monotonic() - started
    backlog_at_end = len(offered) - len(done)
    deadline = time.monotonic() + drain_limit
    while len(done) < len(offered) and time.monotonic() < deadline:
        cursor = await _outputs(client, cursor, offered, done)
        await asyncio.sleep(0.2)
    drain_s = time.monotonic() - started - offered_for
    latencies = sorted(max(0.0, done[e] - offered[e]) for e in done)
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) >= 2 else latencies * 99 or [0.0] * 99
    return {
        "rate": rate,
        "duration_s": duration,
        "offered": len(offered),
        "errors": errors,
        "handled": len(done),
        "lost": len(offered) - len(done),
        "throughput_per_s": round(len(done) / (offered_for + drain_s), 1),
        "p50_ms": round(cuts[49] * 1000, 1),
        "p95_ms": round(cuts[94] * 1000, 1),
        "p99_ms": round(cuts[98] * 1000, 1),
        "backlog_at_end": backlog_at_end,
        "drain_s": round(drain_s, 1),
    }


def load(
    rate: Annotated[float, typer.Option("--rate", min=1, help="Events per second offered.")] = 50.0,
    duration: Annotated[float, typer.Option("--duration", min=1, help="Seconds of load.")] = 10.0,
    drain_limit: Annotated[float, typer.Option("--drain-limit", min=0, help="Seconds to wait for the backlog.")] = 120,
    as_json: JsonOpt = False,
) -> None:
    """Offer documents.document.uploaded at --rate for --duration to the running documents service; report
    throughput, p50/p95/p99 latency, errors, lost, and how long the backlog took to drain. Exit 1 if any was lost."""
    report = run(lambda client, config: _run(client, config, rate, duration, drain_limit))
    if as_json:
        emit_json(report)
    else:
        for key, value in report.items():
            print(f"{key:>16}: {value}")
    if report["lost"]:
        raise typer.Exit(1)
