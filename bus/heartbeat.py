"""A worker's heartbeat, GET /health and retention: what keeps a process honest about itself.

Every background loop here survives any Redis error (it logs and tries again); a loop that
died anyway makes the worker unhealthy instead of leaving a half-alive process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from typing import TYPE_CHECKING, Any

from aiwf.bus import keys, retention
from aiwf.bus.codec import to_json

if TYPE_CHECKING:
    from aiwf.bus.worker import Worker

log = logging.getLogger("aiwf.worker")
HEARTBEAT_EVERY_S = 2.0
HEARTBEAT_TTL_S = 10
RETENTION_EVERY_S = 30.0
#: A subscription paused for an outage longer than this makes /health answer 503.
PAUSED_UNHEALTHY_AFTER_S = 300.0


class Heartbeat:
    """Beats, serves /health and trims for one Worker."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.deps: Any = None
        self.degraded: str | None = None
        self.started = time.time()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> list[asyncio.Task[None]]:
        """Start the heartbeat and retention loops."""
        self._tasks = [asyncio.create_task(self._beating()), asyncio.create_task(self._retention())]
        return self._tasks

    def state(self) -> str:
        """stopping | stuck | degraded | paused | running, worst first."""
        states = {c.state for c in self.worker.consumers}
        for worst in ("stopping", "stuck"):
            if worst in states:
                return worst
        if self.degraded:
            return "degraded"
        return "paused" if "paused" in states else "running"

    def unhealthy(self) -> str | None:
        """Why /health should answer 503, or None."""
        dead = [t for t in self._tasks if t.done()]
        if dead:
            return "a background task of the worker ended"
        state = self.state()
        if state in {"stuck", "degraded"}:
            return self.reason() or state
        paused = max((c.outage.paused_for() for c in self.worker.consumers), default=0.0)
        if paused > PAUSED_UNHEALTHY_AFTER_S:
            return f"paused for {paused:.0f}s: {self.reason()}"
        return None

    def reason(self) -> str:
        """What the state is about."""
        if self.degraded:
            return self.degraded
        if any(c.state == "stuck" for c in self.worker.consumers):
            return "every handler slot has run past its timeout"
        return next((c.outage.reason for c in self.worker.consumers if c.outage.paused), "")

    def snapshot(self) -> dict[str, str | int]:
        """The heartbeat fields: what `aiwf health` and `aiwf up` show."""
        consumers = self.worker.consumers
        stats = [c.stats for c in consumers]
        return {
            "service": self.worker.service.name,
            "consumer": self.worker.name,
            "state": self.state(),
            "reason": self.reason(),
            "processed": sum(s.processed for s in stats),
            "failed": sum(s.failed for s in stats),
            "dead_lettered": sum(s.dead_lettered for s in stats),
            "pending": sum(c.pending for c in consumers),
            "last_error": next((s.last_error for s in stats if s.last_error), ""),
            "pid": os.getpid(),
            "started_at": int(self.started),
            "beat_at": int(time.time()),
        }

    async def _beating(self) -> None:
        probe = self.worker.service.probe
        while True:
            if probe:
                try:
                    self.degraded = await probe(self.deps)
                except Exception as exc:  # noqa: BLE001 - a failing probe means degraded, not dead
                    self.degraded = f"probe failed: {exc}"
            await self.beat()
            await asyncio.sleep(HEARTBEAT_EVERY_S)

    async def beat(self, state: str | None = None) -> None:
        """Write the heartbeat once; any Redis error is logged, never raised."""
        fields = self.snapshot()
        if state:
            fields["state"] = state
        key = keys.heartbeat(self.worker.service.name, str(fields["consumer"]))
        try:
            async with self.worker.client.pipeline(transaction=True) as pipe:
                pipe.hset(key, mapping=fields)  # type: ignore[arg-type]  # Mapping keys are invariant in redis-py stubs
                pipe.expire(key, HEARTBEAT_TTL_S)
                await pipe.execute()
        except Exception as exc:  # noqa: BLE001 - an error reply (OOM, say) must not end the heartbeat
            log.warning("heartbeat failed: %s", exc)

    async def _retention(self) -> None:
        while True:
            await asyncio.sleep(RETENTION_EVERY_S)
            for sub in self.worker.service.subscriptions:
                try:
                    await retention.trim(self.worker.client, keys.stream(sub.stream))
                except Exception as exc:  # noqa: BLE001 - retention must never stop a worker
                    log.warning("retention on %s failed: %s", sub.stream, exc)

    async def serve(self, port: int) -> asyncio.Server:
        """GET /health (alive and well: 200, else 503 with the reason), GET /ready; other paths 404."""

        # A dozen lines of asyncio instead of an HTTP framework: two read-only endpoints for
        # container health checks do not justify a web server dependency.
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                request = await asyncio.wait_for(reader.readline(), 2)
                status, body = await self._answer(request)
                writer.write(
                    b"HTTP/1.1 "
                    + status
                    + b"\r\nContent-Type: application/json\r\nContent-Length: "
                    + str(len(body)).encode()
                    + b"\r\nConnection: close\r\n\r\n"
                    + body
                )
                await writer.drain()
            writer.close()

        return await asyncio.start_server(answer, "0.0.0.0", port)  # noqa: S104 - containers probe it

    async def _answer(self, request: bytes) -> tuple[bytes, bytes]:
        parts = request.split()
        path = parts[1] if len(parts) > 1 else b""
        if path not in (b"/health", b"/ready"):
            return b"404 Not Found", b'{"error":"not found"}'
        snap = self.snapshot()
        try:
            await asyncio.wait_for(self.worker.client.ping(), 1)
            redis_ok = True
        except Exception:  # noqa: BLE001 - any failure is "Redis not reachable"
            redis_ok = False
        why = None if redis_ok else "redis unreachable"
        why = why or self.unhealthy()
        if path == b"/ready" and not why and snap["state"] != "running":
            why = f"not taking work: {snap['state']}"
        status = b"503 Service Unavailable" if why else b"200 OK"
        return status, to_json({**snap, "redis": redis_ok, "unhealthy": why or ""})
