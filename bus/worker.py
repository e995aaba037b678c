"""A service's process: its lifespan, consumers, a heartbeat, GET /health, retention, and clean signals.

A Service declares its dependencies once, in an async lifespan (FastStream's lifespan, arq's
on_startup) that yields what its handlers need — the event store, LLM backends, a TTS engine —
and closes them after the last commit. Handlers reach them as `ctx.deps` (or `ctx.dep(Type)`).

SIGTERM or SIGINT stops reading, lets in-flight handlers finish and commit (up to the drain
timeout), hands back what had not started, and exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

from aiwf.bus import health_port
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import Redis, check_access, connect, is_cluster
from aiwf.bus.consume import Consumer, consumer_name
from aiwf.bus.errors import AiwfError
from aiwf.bus.fallback import ReleaseGate
from aiwf.bus.handler import Subscription
from aiwf.bus.heartbeat import Heartbeat
from aiwf.bus.logs import configure_logging
from aiwf.bus.middleware import DEFAULT_MIDDLEWARE, Middleware
from aiwf.bus.otlp import configure_tracing
from aiwf.bus.relay import Relay
from aiwf.bus.store import EventStore

log = logging.getLogger("aiwf.worker")
#: The exit status of a worker that stopped itself for staying unhealthy (AIWF_EXIT_WHEN_UNHEALTHY_S).
EXIT_UNHEALTHY = 3


class StayedUnhealthy(AiwfError):
    """Raised by Worker.run when the watchdog stopped the worker: unhealthy for AIWF_EXIT_WHEN_UNHEALTHY_S."""


@dataclass(frozen=True)
class Startup:
    """What a lifespan builds on. The client is for service-level resources (the event store,
    signing keys); handlers never see it: they return what to write."""

    service: str
    config: BusConfig
    client: Redis

    def event_store(self) -> EventStore:
        """The event store on this worker's connection (reads; writes go through a Decision)."""
        return EventStore(self.client, self.config)


Lifespan = Callable[[Startup], AbstractAsyncContextManager[Any]]
"""`@asynccontextmanager async def lifespan(startup) -> AsyncIterator[Deps]`: yields the handlers' deps."""
Probe = Callable[[Any], Awaitable[str | None]]
"""`async def probe(deps) -> None | reason`: None when the backend answers, else why the service is degraded.
While a subscription is paused for an outage, this is also its probe."""


@dataclass
class Service:
    """What a worker package declares: its name, subscriptions, lifespan, backend probe and middleware."""

    name: str
    subscriptions: list[Subscription]
    lifespan: Lifespan | None = None
    probe: Probe | None = None
    middleware: Sequence[Middleware] = DEFAULT_MIDDLEWARE

    @contextlib.asynccontextmanager
    async def started(self, client: Redis, config: BusConfig) -> AsyncIterator[Any]:
        """Run the lifespan around the body; yields the deps (None without a lifespan)."""
        if self.lifespan is None:
            yield None
            return
        async with self.lifespan(Startup(self.name, config, client)) as deps:
            yield deps


@dataclass
class Worker:
    """Runs one Service against one Redis until stopped."""

    service: Service
    client: Redis
    config: BusConfig
    health_port: int | None = None
    drain_timeout_s: float = 30.0
    consumers: list[Consumer] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.name = consumer_name()
        self._stop = asyncio.Event()
        self.gate = ReleaseGate(self.client, self.config, self.service.name, self.stop)
        self.heartbeat = Heartbeat(self)
        #: Redis Cluster only: the sweep over every outbox (bus/relay.py).
        self.relay: Relay | None = None

    def stop(self) -> None:
        """Begin a graceful stop (what SIGTERM and SIGINT do)."""
        self._stop.set()

    async def run(self) -> None:
        """Run until stopped; returns after draining."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stop)
        async with self.service.started(self.client, self.config) as deps:
            self.heartbeat.deps = deps
            check = (lambda: self.service.probe(deps)) if self.service.probe else None  # type: ignore[misc]
            self.consumers = [
                Consumer(
                    self.client,
                    self.config,
                    sub,
                    self.service.name,
                    name=self.name,
                    deps=deps,
                    middleware=self.service.middleware,
                    backend_check=check,
                    may_read=lambda: self.gate.reading,
                )
                for sub in self.service.subscriptions
            ]
            await self._run_consumers()

    async def _run_consumers(self) -> None:
        tasks = [asyncio.create_task(c.run(), name=f"consume {c.sub.stream}/{c.sub.group}") for c in self.consumers]
        await self.gate.prepare()
        side = [*self.heartbeat.start(), asyncio.create_task(self.gate.run(), name="release gate")]
        if is_cluster(self.client):  # every outbox on every node: the store's, and those of streams nobody reads
            self.relay = Relay(self.client, self.config, sweep=True)
            side.append(asyncio.create_task(self.relay.run(), name="relay sweep"))
        server = await health_port.serve(self.heartbeat, self.health_port) if self.health_port is not None else None
        stopper = asyncio.create_task(self._stop.wait())
        try:
            await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for consumer in self.consumers:
                consumer.stop()
            _, unfinished = await asyncio.wait(tasks, timeout=self.drain_timeout_s)
            for task in [*unfinished, *side, stopper]:
                task.cancel()
            await asyncio.gather(*unfinished, *side, stopper, return_exceptions=True)
            if server:
                server.close()
            await self.heartbeat.beat("stopped")
            await self.heartbeat.close()
        crashed = [t.exception() for t in tasks if t.done() and not t.cancelled() and t.exception() is not None]
        if crashed:
            raise crashed[0]  # type: ignore[misc]
        if self.heartbeat.gave_up:
            raise StayedUnhealthy(f"worker {self.service.name} {self.heartbeat.gave_up}; exiting for a restart")


def run_service(service: Service, config: BusConfig, url: str, health_port: int | None) -> None:
    """Blocking entry point used by `aiwf worker NAME`."""
    configure_logging(service.name)
    tracing = configure_tracing(service.name)  # None unless OTEL_EXPORTER_OTLP_ENDPOINT is set

    async def main() -> None:
        client = connect(url, config)
        try:
            await check_access(client, url, config)  # wrong credentials: one line now, not at the first event
            await Worker(service, client, config, health_port, config.worker.drain_timeout_s).run()
        finally:
            await client.aclose()

    try:
        asyncio.run(main())
    finally:
        if tracing is not None:
            tracing.shutdown()  # flushes the spans still batched
