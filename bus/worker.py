"""A service's process: its consumers, a heartbeat, GET /health, retention, and clean signals.

SIGTERM or SIGINT stops reading, lets in-flight handlers finish and commit (up to
AIWF_DRAIN_TIMEOUT seconds), and exits 0; anything unfinished stays pending, unacked, for
another consumer to reclaim.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiwf.bus import keys, retention
from aiwf.bus.codec import to_json
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import CONNECTION_ERRORS, Redis, connect
from aiwf.bus.consume import Consumer, consumer_name
from aiwf.bus.handler import Subscription
from aiwf.bus.logs import configure_logging

log = logging.getLogger("aiwf.worker")
HEARTBEAT_EVERY_S = 2.0
HEARTBEAT_TTL_S = 10
RETENTION_EVERY_S = 30.0

Probe = Callable[[], Awaitable[str | None]]
"""Returns None when the service's backend is fine, else why it is degraded."""


@dataclass
class Service:
    """What a worker package declares: its name, subscriptions and an optional backend probe."""

    name: str
    subscriptions: list[Subscription]
    probe: Probe | None = None
    startup: Callable[[], Awaitable[None]] | None = None
    shutdown: Callable[[], Awaitable[None]] | None = None


@dataclass
class Worker:
    """Runs one Service against one Redis until stopped."""

    service: Service
    client: Redis
    config: BusConfig
    health_port: int | None = None
    drain_timeout_s: float = 30.0
    consumers: list[Consumer] = field(default_factory=list)
    degraded: str | None = None

    def __post_init__(self) -> None:
        name = consumer_name()
        self.consumers = [
            Consumer(self.client, self.config, sub, self.service.name, name=name)
            for sub in self.service.subscriptions
        ]
        self._stop = asyncio.Event()
        self._started = time.time()

    def stop(self) -> None:
        """Begin a graceful stop (what SIGTERM and SIGINT do)."""
        self._stop.set()

    async def run(self) -> None:
        """Run until stopped; returns after draining."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stop)
        if self.service.startup:
            await self.service.startup()
        tasks = [asyncio.create_task(c.run(), name=f"consume {c.sub.stream}/{c.sub.group}") for c in self.consumers]
        side = [asyncio.create_task(self._heartbeat()), asyncio.create_task(self._retention())]
        server = await self._serve_health() if self.health_port is not None else None
        stopper = asyncio.create_task(self._stop.wait())
        done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
        crashed = [t for t in done if t is not stopper and t.exception() is not None]
        for consumer in self.consumers:
            consumer.stop()
        _, unfinished = await asyncio.wait(tasks, timeout=self.drain_timeout_s)
        for task in [*unfinished, *side, stopper]:
            task.cancel()
        if server:
            server.close()
        await self._beat("stopped")
        if self.service.shutdown:
            await self.service.shutdown()
        if crashed:
            raise crashed[0].exception()  # type: ignore[misc]

    # -- heartbeat ----------------------------------------------------------------------------

    def state(self) -> str:
        """running | degraded | paused | stopping, worst first."""
        states = {c.state for c in self.consumers}
        if "stopping" in states:
            return "stopping"
        if self.degraded:
            return "degraded"
        return "paused" if "paused" in states else "running"

    def snapshot(self) -> dict[str, str | int]:
        """The heartbeat fields: what `aiwf health` and `aiwf up` show."""
        stats = [c.stats for c in self.consumers]
        return {
            "service": self.service.name,
            "consumer": self.consumers[0].name if self.consumers else "",
            "state": self.state(),
            "reason": self.degraded or next((c.outage.reason for c in self.consumers if c.outage.paused), ""),
            "processed": sum(s.processed for s in stats),
            "failed": sum(s.failed for s in stats),
            "dead_lettered": sum(s.dead_lettered for s in stats),
            "pending": sum(c.pending for c in self.consumers),
            "last_error": next((s.last_error for s in stats if s.last_error), ""),
            "pid": os.getpid(),
            "started_at": int(self._started),
            "beat_at": int(time.time()),
        }

    async def _heartbeat(self) -> None:
        while True:
            if self.service.probe:
                try:
                    self.degraded = await self.service.probe()
                except Exception as exc:  # noqa: BLE001 - a failing probe means degraded, not dead
                    self.degraded = f"probe failed: {exc}"
            await self._beat()
            await asyncio.sleep(HEARTBEAT_EVERY_S)

    async def _beat(self, state: str | None = None) -> None:
        fields = self.snapshot()
        if state:
            fields["state"] = state
        key = keys.heartbeat(self.service.name, str(fields["consumer"]))
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.hset(key, mapping=fields)  # type: ignore[arg-type]  # Mapping keys are invariant in redis-py stubs
                pipe.expire(key, HEARTBEAT_TTL_S)
                await pipe.execute()
        except CONNECTION_ERRORS as exc:
            log.warning("heartbeat failed: %s", exc)

    async def _retention(self) -> None:
        while True:
            await asyncio.sleep(RETENTION_EVERY_S)
            for sub in self.service.subscriptions:
                try:
                    await retention.trim(self.client, keys.stream(sub.stream))
                except Exception as exc:  # noqa: BLE001 - retention must never stop a worker
                    log.warning("retention on %s failed: %s", sub.stream, exc)

    # -- GET /health --------------------------------------------------------------------------

    async def _serve_health(self) -> asyncio.Server:
        # A dozen lines of asyncio instead of an HTTP framework: one read-only endpoint for
        # container health checks does not justify a web server dependency.
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                request = await asyncio.wait_for(reader.readline(), 2)
                healthy, body = await self._health()
                if not request.startswith(b"GET /health"):
                    healthy, body = False, b'{"error":"not found"}'
                status = b"200 OK" if healthy else b"503 Service Unavailable"
                writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\nContent-Length: "
                             + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
                await writer.drain()
            writer.close()

        return await asyncio.start_server(answer, "0.0.0.0", self.health_port)  # noqa: S104 - containers probe it

    async def _health(self) -> tuple[bool, bytes]:
        snap = self.snapshot()
        try:
            await asyncio.wait_for(self.client.ping(), 1)
            redis_ok = True
        except Exception:  # noqa: BLE001 - any failure is "Redis not reachable"
            redis_ok = False
        healthy = redis_ok and snap["state"] in {"running", "paused"}
        return healthy, to_json({**snap, "redis": redis_ok})


def run_service(service: Service, config: BusConfig, url: str, health_port: int | None) -> None:
    """Blocking entry point used by `aiwf worker NAME`."""
    configure_logging(service.name)

    async def main() -> None:
        client = connect(url, config)
        try:
            drain = float(os.environ.get("AIWF_DRAIN_TIMEOUT", "30"))
            await Worker(service, client, config, health_port, drain).run()
        finally:
            await client.aclose()

    asyncio.run(main())
