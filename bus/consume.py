"""The consumer of one subscription: read -> dispatch slots -> commit pipeline, until stopped.

    read      bus/read.py: due retries, orphans, new entries — only as many as there is room for
    dedupe    bus/dedupe.py: entries that may repeat (redeliveries, flagged retries and replays):
              one round trip for their processed-markers per read; already done -> ack only
    dispatch  bus/dispatch.py in `concurrency` slots, each taking the next entry when it is free
    commit    bus/pipeline.py: what finished, in micro-batches, one Lua call each
    relay     Redis Cluster only: cross-slot outputs from this stream's outbox (bus/relay.py)
    leases    every entry we hold (running, queued, waiting for retry) is renewed so nobody steals it

Why plain redis-py and not faststream's subscriber here: faststream acks each message with
its own round trip (about 4,200 events/s on this machine kind) and has no retry counter or
dead-letter stream; this loop commits many events per round trip and owns those rules.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

from redis.exceptions import ResponseError

from aiwf.bus import keys
from aiwf.bus.backoff import Backoff
from aiwf.bus.commit import Committer
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import Redis
from aiwf.bus.dedupe import Dedupe
from aiwf.bus.dispatch import Dispatcher
from aiwf.bus.groups import ensure_group, is_missing_group, join_group, leave_group, prune_consumers
from aiwf.bus.handler import Subscription
from aiwf.bus.metrics import hooks as metrics
from aiwf.bus.middleware import DEFAULT_MIDDLEWARE, Middleware
from aiwf.bus.middleware.timeout import watch
from aiwf.bus.outage import OutageDetector
from aiwf.bus.outcome import Retry
from aiwf.bus.pipeline import CommitPipeline
from aiwf.bus.read import Reader
from aiwf.bus.reclaim import Delivery, hand_back, renew
from aiwf.bus.relay import Relay
from aiwf.bus.replies import is_misconfigured_reply, reply_text
from aiwf.bus.settle import Settler
from aiwf.bus.stats import Stats

log = logging.getLogger("aiwf.consume")
#: After a failed read: 0.1 s, doubling to 5 s (equal jitter, so consumers do not retry in step).
READ_BACKOFF = Backoff(0.1, 5.0, "equal")
BackendCheck = Callable[[], Awaitable[str | None]]
"""The service's own backend check: None when the backend answers, else why not."""


class Consumer:
    """One consumer of one subscription; `run()` until `stop()`."""

    def __init__(
        self,
        client: Redis,
        config: BusConfig,
        sub: Subscription,
        service: str,
        name: str | None = None,
        *,
        deps: Any = None,
        middleware: Sequence[Middleware] = DEFAULT_MIDDLEWARE,
        backend_check: BackendCheck | None = None,
        may_read: Callable[[], bool] | None = None,
    ) -> None:
        sub = replace(sub, retry=sub.retry.resolved(config))
        self.client, self.config, self.sub, self.service = client, config, sub, service
        self.name = name or consumer_name()
        self.stream = keys.stream(sub.stream)
        self.stats = Stats()
        self.metrics = metrics.for_consumer(service, sub, middleware)
        self.outage = OutageDetector(sub.retry)
        self.reader = Reader(client, self.stream, sub, self.name)
        self.dispatcher = Dispatcher(
            sub,
            service=service,
            consumer=self.name,
            config=config,
            outage=self.outage,
            stats=self.stats,
            middleware=middleware,
            deps=deps,
        )
        self.backend_check = backend_check
        #: False while this worker's release is not the active one (bus/fallback.py): read nothing new.
        self.may_read = may_read or (lambda: True)
        self._queue: asyncio.Queue[tuple[Delivery, bool]] = asyncio.Queue()
        self._owned: set[str] = set()  # delivered to us and not committed yet
        self._room = asyncio.Event()
        self.settler = Settler(
            sub,
            self.stats,
            self.reader,
            self.outage,
            self._owned,
            self.dispatcher.active,
            rerun=lambda d: self._queue.put_nowait((d, False)),
            recommit=lambda item: self.pipeline.add(item),  # noqa: PLW0108 - the pipeline is built next
            room=self._room,
        )
        committer = Committer(client, config)
        #: Redis Cluster only: moves this stream's outbox (cross-slot outputs) on (bus/relay.py).
        self.relay = Relay(client, config, {keys.outbox(sub.stream)}) if committer.cluster else None
        self.pipeline = CommitPipeline(
            committer,
            sub,
            config,
            self.name,
            self.settler.landed,
            self.settler.lost,
            self.relay.poke if self.relay else None,
        )
        self._stopping = asyncio.Event()
        self._group_ready = False
        #: Why Redis refuses this consumer's reads for a reason waiting will not fix ("" when it does not).
        self.misconfigured = ""
        self.dedupe = Dedupe(client, self.stream, sub.stream, sub.group)

    def stop(self) -> None:
        """Stop reading, finish and commit what runs, hand the rest back, and return from run()."""
        self._stopping.set()

    @property
    def state(self) -> str:
        """running | paused (backend outage) | stuck (every handler past its timeout) | misconfigured
        (a key of the wrong type or a missing permission, see `misconfigured`) | stopping."""
        if self._stopping.is_set():
            return "stopping"
        if self.misconfigured:
            return "misconfigured"
        if self.dispatcher.stuck():
            return "stuck"
        return "paused" if self.outage.paused else "running"

    @property
    def pending(self) -> int:
        """Entries this consumer owns and has not committed yet."""
        return len(self._owned)

    @property
    def capacity(self) -> int:
        """Entries held at most at once: every slot busy, one batch committing and one read ahead."""
        return self.sub.concurrency + 2 * self.sub.batch

    async def run(self) -> None:
        """The loop. Redis errors pause it with backoff; a bad event never ends it."""
        metrics.bind(self.metrics)  # for this task and the slot and commit tasks it starts
        # Redis unreachable at start ends run() at once (a one-line start-up error); an error reply
        # (a key of the wrong type) is the read loop's to report and retry.
        with contextlib.suppress(ResponseError):
            await self._ensure_group()
        helpers = [asyncio.create_task(self.pipeline.run()), asyncio.create_task(self._leases())]
        helpers.append(asyncio.create_task(watch(self.dispatcher.deadlines), name=f"{self.sub.group}-timeouts"))
        helpers += [asyncio.create_task(self._slot(n)) for n in range(self.sub.concurrency)]
        if self.relay is not None:
            helpers.append(asyncio.create_task(self.relay.run(), name=f"{self.sub.stream}-relay"))
        try:
            await self._read_loop()
        finally:
            await self._shutdown(helpers)

    async def _read_loop(self) -> None:
        failures = 0
        while not self._stopping.is_set() and not _cancelling():
            try:
                await self._read_once()
                failures, self.misconfigured = 0, ""
            except ResponseError as exc:
                if is_missing_group(exc):
                    await self._recreate_group()
                    continue
                if is_misconfigured_reply(exc):
                    self.misconfigured = f"{self.stream} (group {self.sub.group}): {reply_text(exc)}"[:300]
                failures += 1
                await self._wait_after(failures, f"Redis refused a read ({reply_text(exc)})")
            except Exception as exc:  # noqa: BLE001 - Redis gone (any form): wait and read again
                self.reader.reply_lost()
                failures += 1
                await self._wait_after(failures, f"Redis unavailable ({exc})")

    async def _ensure_group(self) -> None:
        if await ensure_group(self.client, self.stream, self.sub.group, self.sub.start):
            await self.dedupe.mark_recreated()
        await join_group(self.client, self.stream, self.sub.group, self.name)
        self._group_ready = True

    async def _wait_after(self, failures: int, why: str) -> None:
        delay = READ_BACKOFF.delay(failures)
        self.stats.last_error = f"redis: {why}"[:300]
        log.warning("%s: %s; reading again in %.1fs", self.sub.group, why, delay)
        await asyncio.sleep(delay)

    async def _read_once(self) -> None:
        if not self._group_ready:
            await self._ensure_group()
        if not self.may_read():
            await self._stand_by()
            return
        if self.outage.paused:
            await self._probe()
            return
        if self.reader.retry_due():  # ours already: they need no room, so a full consumer never waits on itself
            await self._enqueue(await self.reader.retries(self.sub.batch, self._owned))
            return
        room = self.capacity - len(self._owned)
        # Whole batches while the slots have work: topping up a few entries costs a round trip each.
        if room <= 0 or (room < self.sub.batch and not self._queue.empty()):
            self._room.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._room.wait(), 0.5)
            return
        await self._enqueue(await self.reader.read(min(room, self.sub.batch), self._owned))

    async def _stand_by(self) -> None:
        """Another release reads now: what runs finishes and commits; scheduled retries go back to the group."""
        if self.reader.retry_at:
            back = list(self.reader.retry_at)
            await hand_back(self.client, self.stream, self.sub.group, self.name, back)
            self.reader.forget()
            self._owned.difference_update(back)
        for _ in range(10):  # read again as soon as the gate opens (a worker's first moments, a promote)
            await asyncio.sleep(0.02)
            if self.may_read() or self._stopping.is_set():
                return

    async def _probe(self) -> None:
        if not self.outage.probe_due():
            await asyncio.sleep(0.05)
            return
        if self.backend_check is not None and not self.outage.commits_refused:
            reason = await self._checked_backend()
            if reason is None:
                self.outage.backend_ok()
            else:
                self.outage.probe_failed()
                await self._release(reason)
            return
        probe = await self.reader.probe(self._owned)
        if not probe:
            self.outage.probe_failed()  # nothing to probe with yet: look again later
        await self._enqueue(probe)

    def backend_down(self, reason: str) -> None:
        """This instance's backend is missing (the service's probe said so): read nothing new."""
        self.outage.backend_down(reason)

    async def _release(self, reason: str) -> None:
        """Hand back the entries waiting here for a retry: a healthy instance of the service
        reclaims them at once, instead of this one holding them while its backend is missing."""
        waiting = list(self.reader.retry_at)
        if not waiting:
            return
        await hand_back(self.client, self.stream, self.sub.group, self.name, waiting)
        self.reader.drop(waiting)
        self._owned.difference_update(waiting)
        self.stats.released += len(waiting)
        log.warning("%s: handed back %d entries for a healthy instance (%s)", self.sub.group, len(waiting), reason)
        self._room.set()

    async def _checked_backend(self) -> str | None:
        assert self.backend_check is not None  # noqa: S101 - type narrowing: only called when a check is set
        try:
            return await self.backend_check()
        except Exception as exc:  # noqa: BLE001 - a failing check is a failed probe
            return f"backend check failed: {exc}"

    async def _enqueue(self, batch: list[Delivery]) -> None:
        if not batch:
            return
        self._owned.update(d.entry_id for d in batch)
        done = await self.dedupe.done(batch)
        for d in batch:  # every copy of a done event id, flagged or not, is skipped
            self._queue.put_nowait((d, bool(done) and d.fields is not None and d.fields.get(b"id") in done))

    # -- dispatch slots --------------------------------------------------------------------------------

    async def _slot(self, n: int) -> None:
        while True:
            d, known_done = await self._queue.get()
            try:
                item = await self.dispatcher.dispatch(d, known_done, n)
                if isinstance(item.outcome, Retry):
                    self.settler.retry_later(d, item.outcome.delay_s)
                else:
                    self.pipeline.add(item)
            finally:
                self._queue.task_done()

    # -- group, leases, stop ------------------------------------------------------------------------

    async def _recreate_group(self) -> None:
        self.stats.groups_recreated += 1
        self._owned.clear()
        self.reader.forget()
        self.stats.last_error = f"group {self.sub.group!r} on {self.stream!r} vanished; recreated"
        log.error("%s", self.stats.last_error)
        await ensure_group(self.client, self.stream, self.sub.group, self.sub.start)
        await self.dedupe.mark_recreated()

    async def _leases(self) -> None:
        """Renew what we hold; now and then remove consumers that are gone and own nothing."""
        while not self._stopping.is_set() and not _cancelling():
            await asyncio.sleep(self.sub.retry.lease_renew_s)
            try:
                held = self._owned | set(self.reader.retry_at)
                await renew(self.client, self.stream, self.sub.group, self.name, held)
                if not self._stopping.is_set():  # pruned while idle: back in the list (a stop leaves it)
                    await join_group(self.client, self.stream, self.sub.group, self.name)
                pruned = await prune_consumers(self.client, self.stream, self.sub.group, self.name)
                self.stats.consumers_pruned += pruned
            except Exception as exc:  # noqa: BLE001 - a lease pass failing must not end the loop
                log.warning("%s: lease renewal failed: %s", self.sub.group, exc)

    async def _shutdown(self, helpers: list[asyncio.Task[None]]) -> None:
        """Hand back what has not started, let running handlers finish and commit, then stop helpers."""
        try:
            unstarted = []
            while not self._queue.empty():
                unstarted.append(self._queue.get_nowait()[0])
                self._queue.task_done()
            await self._queue.join()
            await self.pipeline.drain()
            if self.relay is not None:  # what this consumer's last commits put in the outbox, moved now
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.relay.drain(keys.outbox(self.sub.stream)), 5)
            back = [d.entry_id for d in unstarted] + list(self.reader.retry_at)
            with contextlib.suppress(Exception):
                if back:
                    await hand_back(self.client, self.stream, self.sub.group, self.name, back)
                else:
                    await leave_group(self.client, self.stream, self.sub.group, self.name)
        finally:
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)


def _cancelling() -> bool:
    """True when this task was asked to stop (a cancel redis-py's wait_for may have swallowed, 3.11)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def consumer_name() -> str:
    """Unique per process: `<host>-<pid>-<4 hex>`, so a restarted worker never reuses a dead one's PEL."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"
