"""Run a Worker in-process against the test Redis, and look at it the way a supervisor would."""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

from aiwf.bus import Context, Service, Subscription, Worker
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import connect
from aiwf.bus.testing import wait_until
from aiwf.schemas import Event
from tests.events import ItemCreated


def item_service(name: str, group: str, seen: list[str] | None = None) -> Service:
    """A service with one subscription to the `testing` stream that records each title it handles."""
    sub = Subscription(stream="testing", group=group, concurrency=2, batch=10)

    @sub.handler
    async def take(event: ItemCreated, ctx: Context) -> list[Event]:
        if seen is not None:
            seen.append(event.title)
        return []

    return Service(name, [sub])


def new_worker(service: Service, config: BusConfig, health_port: int | None = None) -> Worker:
    """A Worker on its own connection (closed by `running_worker`)."""
    return Worker(service, connect(config.redis_url or "", config), config, health_port, drain_timeout_s=5)


@contextlib.asynccontextmanager
async def running_worker(worker: Worker) -> AsyncIterator[asyncio.Task[None]]:
    """`worker.run()` in a task; stopped gracefully (and its client closed) on exit."""
    task = asyncio.create_task(worker.run())
    try:
        yield task
    finally:
        worker.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 15)
        await worker.client.aclose()


def fetch_health(port: int) -> tuple[int, dict[str, Any]] | None:
    """(status, JSON body) of GET /health on loopback, or None while nothing listens."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=3) as reply:
            return int(reply.status), json.loads(reply.read())
    except urllib.error.HTTPError as err:
        return int(err.code), json.loads(err.read())
    except OSError:
        return None


async def get_health(port: int) -> tuple[int, dict[str, Any]] | None:
    """(status, JSON body) of GET /health, or None while nothing listens; without blocking the loop."""
    return await asyncio.to_thread(fetch_health, port)


@contextlib.asynccontextmanager
async def serving(service: Service, config: BusConfig) -> AsyncIterator[Worker]:
    """`service` in a Worker task on its own client (as `config`'s user), its lifespan entered; drained on exit."""
    client = connect(config.redis_url or "", config)
    worker = Worker(service, client, config, drain_timeout_s=10.0)
    task = asyncio.create_task(worker.run())

    async def started() -> bool:
        if task.done():
            task.result()  # the lifespan or a consumer failed: raise it here
        return len(worker.consumers) == len(service.subscriptions)

    try:
        await wait_until(started, 15, f"{service.name} to start")
        yield worker
    finally:
        worker.stop()
        await asyncio.wait_for(task, 20)
        await client.aclose()
