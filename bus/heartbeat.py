"""A worker's heartbeat and retention: what keeps a process honest about itself (bus/health_port.py serves it).

Every background loop here survives any Redis error (it logs and tries again); a loop that
died anyway makes the worker unhealthy instead of leaving a half-alive process.

The heartbeat goes over its own connection, named by CLIENT SETNAME (keys.heartbeat_client):
the kernel closes it the moment the process dies (SIGKILL included), so `aiwf health` tells
a dead worker (offline: its connection is gone) from a frozen one (unresponsive: connected,
not beating). Each beat also adds what the counters grew by since the last one to the
service's totals (keys.service_stats), so a restart does not reset them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import time
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from aiwf.bus import alarms, keys, retention
from aiwf.bus.codec import to_json
from aiwf.bus.config import DEFAULT_HEARTBEAT_S
from aiwf.bus.connection import is_cluster
from aiwf.bus.metrics.registry import WorkerMetrics
from aiwf.bus.metrics.window import Window

if TYPE_CHECKING:
    from aiwf.bus.worker import Worker

log = logging.getLogger("aiwf.worker")
HEARTBEAT_EVERY_S = DEFAULT_HEARTBEAT_S
#: A heartbeat key outlives this many beats (at least HEARTBEAT_TTL_S): health reads it meanwhile.
HEARTBEAT_TTL_S = 10
TTL_BEATS = 5
#: The counters summed per service across restarts.
TOTALS = ("processed", "failed", "dead_lettered")
RETENTION_EVERY_S = 30.0
#: A subscription paused for an outage longer than this makes /health answer 503.
PAUSED_UNHEALTHY_AFTER_S = 300.0


class Heartbeat:
    """Beats, serves /health and /metrics, and trims for one Worker."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.deps: Any = None
        self.degraded: str | None = None
        self.started = time.time()
        self.metrics = WorkerMetrics(worker)
        self.window = Window(self.metrics.registry, worker.config.alerts.window_s)
        self.retention_every_s = RETENTION_EVERY_S
        self.retention_keep = retention.DEFAULT_KEEP
        self.backlog_alarm_at = retention.DEFAULT_BACKLOG_ALARM
        #: The last retention pass of each stream.
        self.trims: dict[str, retention.TrimReport] = {}
        self._recreations_recorded: dict[int, int] = {}  # id(consumer) -> recreations written
        self._tasks: list[asyncio.Task[None]] = []
        #: Why the watchdog stopped the worker (AIWF_EXIT_WHEN_UNHEALTHY_S), or None.
        self.gave_up: str | None = None
        self.every_s = worker.config.worker.heartbeat_s
        self._ttl_s = max(HEARTBEAT_TTL_S, math.ceil(TTL_BEATS * self.every_s))
        self._reported = dict.fromkeys(TOTALS, 0)  # counters already added to the service's totals
        self._client = _own_connection(worker.client, keys.heartbeat_client(worker.service.name, worker.name))

    def start(self) -> list[asyncio.Task[None]]:
        """Start the heartbeat and retention loops (and the watchdog when AIWF_EXIT_WHEN_UNHEALTHY_S is set)."""
        self._tasks = [
            asyncio.create_task(self._beating(), name="heartbeat"),
            asyncio.create_task(self._retention(), name="retention"),
        ]
        bound = self.worker.config.worker.exit_when_unhealthy_s
        if bound is not None:
            self._tasks.append(asyncio.create_task(self._watchdog(bound), name="watchdog"))
        for task in self._tasks:
            task.add_done_callback(_log_death)
        return self._tasks

    @property
    def tasks(self) -> list[asyncio.Task[None]]:
        """The background loops `start()` began (heartbeat, retention)."""
        return list(self._tasks)

    def state(self) -> str:
        """stopping | stuck | misconfigured | degraded | paused | warm (another release reads) | running,
        worst first."""
        states = {c.state for c in self.worker.consumers}
        for worst in ("stopping", "stuck", "misconfigured"):
            if worst in states:
                return worst
        if self.degraded:
            return "degraded"
        if "paused" in states:
            return "paused"
        return "running" if self.worker.gate.reading else "warm"

    def unhealthy(self) -> str | None:
        """Why /health should answer 503, or None."""
        dead = [t for t in self._tasks if t.done()]
        if dead:
            return f"background task {dead[0].get_name()} ended: {_why_ended(dead[0])}"
        state = self.state()
        if state in {"stuck", "misconfigured", "degraded"}:
            return self.reason() or state
        paused = max((c.outage.paused_for() for c in self.worker.consumers), default=0.0)
        if paused > PAUSED_UNHEALTHY_AFTER_S:
            return f"paused for {paused:.0f}s: {self.reason()}"
        return None

    async def problem(self) -> str | None:
        """What GET /health answers 503 for: Redis unreachable, or `unhealthy()`; None when healthy."""
        try:
            await asyncio.wait_for(self.worker.client.ping(), 1)
        except Exception:  # noqa: BLE001 - any failure is "Redis not reachable"
            return "redis unreachable"
        return self.unhealthy()

    async def _watchdog(self, bound_s: float) -> None:
        """Stop the worker once it has been unhealthy for `bound_s` without a break.

        Docker's restart policy acts on an exit, not on an `unhealthy` health status: exiting
        is how a container that stays unhealthy gets replaced (Worker.run then raises StayedUnhealthy)."""
        since: float | None = None
        while True:
            try:
                why = await self.problem()
            except Exception as exc:  # noqa: BLE001 - the watchdog itself must not die of a bad check
                why = f"health check failed: {exc}"
            now = time.monotonic()
            since = (since or now) if why else None
            if why and since is not None and now - since >= bound_s:
                self.gave_up = f"unhealthy for {now - since:.0f}s (limit {bound_s:g}s): {why}"
                log.error("worker %s exits: %s", self.worker.service.name, self.gave_up)
                self.worker.stop()
                return
            await asyncio.sleep(min(1.0, bound_s / 4))

    def reason(self) -> str:
        """What the state is about."""
        if self.degraded:
            return self.degraded
        if any(c.state == "stuck" for c in self.worker.consumers):
            return "every handler slot has run past its timeout"
        wrong = next((c.misconfigured for c in self.worker.consumers if c.misconfigured), "")
        if wrong:
            return f"misconfigured: {wrong}"
        return next((c.outage.reason for c in self.worker.consumers if c.outage.paused), "")

    def alarms(self) -> list[str]:
        """Retention backlogs past their bound and groups recreated under this worker, in words."""
        out = [alarms.backlog_line(r.stream, r.backlog, r.alarm_at) for r in self.trims.values() if r.alarm]
        return out + [
            alarms.recreated_line(c.stream, c.sub.group, c.stats.groups_recreated)
            for c in self.worker.consumers
            if c.stats.groups_recreated
        ]

    def snapshot(self) -> dict[str, str | int | float | list[str]]:
        """The heartbeat fields: what `aiwf health` and `aiwf up` show."""
        consumers = self.worker.consumers
        stats = [c.stats for c in consumers]
        return {
            "service": self.worker.service.name,
            "consumer": self.worker.name,
            "release": self.worker.gate.release,
            "role": self.worker.gate.role,
            "state": self.state(),
            "reason": self.reason(),
            "processed": sum(s.processed for s in stats),
            "failed": sum(s.failed for s in stats),
            "dead_lettered": sum(s.dead_lettered for s in stats),
            "pending": sum(c.pending for c in consumers),
            "last_error": next((s.last_error for s in stats if s.last_error), ""),
            "groups_recreated": sum(s.groups_recreated for s in stats),
            "alarms": self.alarms(),
            "pid": os.getpid(),
            "started_at": int(self.started),
            "beat_at": int(time.time()),
            "beat_ms": int(time.time() * 1000),
            "every_s": self.every_s,
            "client": keys.heartbeat_client(self.worker.service.name, self.worker.name),
            **self.window.fields(),
        }

    async def _beating(self) -> None:
        probe = self.worker.service.probe
        while True:
            if probe:
                try:
                    self.degraded = await probe(self.deps)
                except Exception as exc:  # noqa: BLE001 - a failing probe means degraded, not dead
                    self.degraded = f"probe failed: {exc}"
            if self.degraded:  # its backend is missing here: take no work, give back what waits
                for consumer in self.worker.consumers:
                    consumer.backend_down(self.degraded)
            await self._record_recreations()
            self.window.sample()
            await self.beat()
            await self.metrics.sample_groups()
            await asyncio.sleep(self.every_s)

    async def beat(self, state: str | None = None) -> None:
        """Write the heartbeat once; any Redis error is logged, never raised."""
        snap = self.snapshot()
        fields = {k: to_json(v).decode() if isinstance(v, list) else v for k, v in snap.items()}
        if state:
            fields["state"] = state
        key = keys.heartbeat(self.worker.service.name, str(fields["consumer"]))
        grown = {k: int(str(snap[k])) - self._reported[k] for k in TOTALS}
        stats = keys.service_stats(self.worker.service.name)
        try:
            # One MULTI on a single node; a Cluster's pipeline goes slot by slot (the totals are another slot).
            async with self._client.pipeline(transaction=not is_cluster(self._client)) as pipe:
                pipe.hset(key, mapping=fields)  # type: ignore[arg-type]  # Mapping keys are invariant in redis-py stubs
                pipe.expire(key, self._ttl_s)
                for name, by in grown.items():
                    if by:
                        pipe.hincrby(stats, name, by)
                await pipe.execute()
            # Apart from the transaction: another key, so another slot on Redis Cluster.
            if state == "stopped":  # a planned stop is not an outage (bus/alerts.py)
                await self.worker.client.hdel(keys.SERVICES_SEEN, self.worker.service.name)
            else:
                await self.worker.client.hset(keys.SERVICES_SEEN, self.worker.service.name, str(fields["beat_at"]))
        except Exception as exc:  # noqa: BLE001 - an error reply (OOM, say) must not end the heartbeat
            log.warning("heartbeat failed: %s", exc)
            return
        for name, by in grown.items():
            self._reported[name] += by

    async def close(self) -> None:
        """Close the heartbeat's connection (after the last beat); a shared one is the worker's to close."""
        if self._client is self.worker.client:
            return
        with contextlib.suppress(Exception):
            await self._client.aclose()

    async def _record_recreations(self) -> None:
        """Count in the stream's alarms each group recreation not written yet."""
        for consumer in self.worker.consumers:
            done = self._recreations_recorded.get(id(consumer), 0)
            new = consumer.stats.groups_recreated - done
            if new <= 0:
                continue
            try:
                await alarms.record_recreated(self.worker.client, consumer.stream, consumer.sub.group, new)
            except Exception as exc:  # noqa: BLE001 - written on the next beat instead
                log.warning("recording a recreated group failed: %s", exc)
                continue
            self._recreations_recorded[id(consumer)] = done + new

    async def _retention(self) -> None:
        while True:
            await asyncio.sleep(self.retention_every_s)
            for stream in dict.fromkeys(keys.stream(sub.stream) for sub in self.worker.service.subscriptions):
                try:
                    report = await retention.trim(
                        self.worker.client, stream, self.retention_keep, self.backlog_alarm_at
                    )
                    self.trims[stream] = report
                    await alarms.record_trim(self.worker.client, report)
                except Exception as exc:  # noqa: BLE001 - retention must never stop a worker
                    log.warning("retention on %s failed: %s", stream, exc)


def _own_connection(client: aioredis.Redis, name: str) -> aioredis.Redis:
    """A client like `client` whose connections carry CLIENT SETNAME `name`, retrying once on a
    dropped connection, so a Redis restart costs no beat (only a drop between EXEC and its reply
    could add one beat's growth twice to the totals)."""
    if is_cluster(client):  # no one pool to copy: beats share the client (health then goes by beat age)
        return client
    pool = client.connection_pool
    kwargs = {**pool.connection_kwargs, "client_name": name, "retry": Retry(NoBackoff(), 1)}
    return aioredis.Redis(connection_pool=type(pool)(connection_class=pool.connection_class, **kwargs))


def _why_ended(task: asyncio.Task[None]) -> str:
    if task.cancelled():
        return "cancelled"
    exc = task.exception()
    return f"{type(exc).__name__}: {exc}" if exc else "returned"


def _log_death(task: asyncio.Task[None]) -> None:
    """A background loop never ends on its own: say so loudly when one does (a stop cancels it)."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("background task %s of the worker died: %r", task.get_name(), exc)
