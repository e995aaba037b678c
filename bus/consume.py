"""The consumer: read a batch, run its handlers, commit the batch. One loop per subscription.

    read     due retries (XCLAIM) -> orphans (XAUTOCLAIM, now and then) -> new (XREADGROUP >)
    dedupe   entries that may repeat (redeliveries, flagged retries and replays): one MGET of
             their processed-markers; already done -> ack only
    handle   decode + upcast + validate, then the handlers, `concurrency` at a time
    commit   one Lua call for the whole batch (bus/commit.py), sent while the next batch is
             handled; failures wait for their retry

Why plain redis-py and not faststream's subscriber here: faststream acks each message with
its own round trip (about 4,200 events/s on this machine kind) and has no retry counter or
dead-letter stream; this loop commits a whole batch in one round trip and owns those rules.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import cast

from redis.exceptions import ResponseError

from aiwf.bus import codec, deadletter, keys
from aiwf.bus.commit import DUPLICATE, CommitBatch, Committer
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import CONNECTION_ERRORS, Redis
from aiwf.bus.errors import PermanentError, RedisUnavailable
from aiwf.bus.groups import ensure_group, is_missing_group
from aiwf.bus.handler import Context, Subscription
from aiwf.bus.outage import OutageDetector
from aiwf.bus.outcome import DeadLetter, Done, Outcome, Retry, Skip, classify, format_traceback
from aiwf.bus.reclaim import Delivery, autoclaim, claim_due, renew
from aiwf.bus.telemetry import current_traceparent, handle_span
from aiwf.schemas import REGISTRY, Envelope, Event, SchemaError

log = logging.getLogger("aiwf.consume")
ReadReply = list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]]
"""XREADGROUP's RESP2 reply: [(stream, [(entry id, fields)])]."""
#: How long one XREADGROUP blocks: also the longest a stop or a deleted group goes unnoticed.
READ_BLOCK_MS = 500


@dataclass
class Stats:
    """Counters a worker reports in its heartbeat."""

    processed: int = 0
    failed: int = 0
    dead_lettered: int = 0
    duplicates: int = 0
    skipped: int = 0
    reclaimed: int = 0
    groups_recreated: int = 0
    last_error: str = ""


@dataclass
class Consumer:
    """One consumer of one subscription; `run()` until `stop()`."""

    client: Redis
    config: BusConfig
    sub: Subscription
    service: str
    name: str = field(default_factory=lambda: consumer_name())  # noqa: PLW0108 - defined below
    stats: Stats = field(default_factory=Stats)

    def __post_init__(self) -> None:
        self.sub = replace(self.sub, retry=self.sub.retry.resolved(self.config))
        self.stream = keys.stream(self.sub.stream)
        self.committer = Committer(self.client, self.config)
        self.outage = OutageDetector(self.sub.retry)
        self._stopping = asyncio.Event()
        self._owned: set[str] = set()  # entries delivered to us and not yet committed
        self._retry_at: dict[str, tuple[float, int]] = {}  # entry id -> (due, deliveries so far)
        self._cursor = "0-0"
        self._next_reclaim = 0.0
        self._recreated_upto: tuple[int, int] | None = None  # check markers up to here after a recreate
        self._inflight: asyncio.Task[None] | None = None  # the previous batch's commit
        self._committing: set[str] = set()  # event ids in that commit

    def stop(self) -> None:
        """Finish the current batch, commit it, and return from run()."""
        self._stopping.set()

    @property
    def state(self) -> str:
        """running | paused (backend outage) | stopping."""
        if self._stopping.is_set():
            return "stopping"
        return "paused" if self.outage.paused else "running"

    @property
    def pending(self) -> int:
        """Entries this consumer owns and has not committed yet."""
        return len(self._owned)

    async def run(self) -> None:
        """The loop. Redis errors pause it with backoff; a bad event never ends it."""
        if await ensure_group(self.client, self.stream, self.sub.group):
            await self._mark_recreated()
        leases = asyncio.create_task(self._renew_leases())
        backoff = 0.1
        try:
            while not self._stopping.is_set():
                try:
                    batch = await self._read()
                    if batch:
                        await self._process_or_release(batch)
                    else:
                        await self._settle()
                    backoff = 0.1
                except ResponseError as exc:
                    if not is_missing_group(exc):
                        raise
                    await self._recreate_group()
                except (*CONNECTION_ERRORS, RedisUnavailable) as exc:
                    self.stats.last_error = f"redis: {exc}"
                    log.warning("%s: Redis unavailable (%s); retrying in %.1fs", self.sub.group, exc, backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
        finally:
            with contextlib.suppress(Exception):
                await self._settle()  # an unfinished commit left nothing acked: it is redelivered
            leases.cancel()

    # -- read -------------------------------------------------------------------------------

    async def _read(self) -> list[Delivery]:
        now = time.monotonic()
        if self.outage.paused:
            return await self._probe(now)
        due = {eid: n for eid, (at, n) in self._retry_at.items() if at <= now}
        if due:
            return await self._claim_retries(due)
        if now >= self._next_reclaim:
            self._next_reclaim = now + self.sub.retry.lease_renew_s
            orphans = await self._reclaim()
            if orphans:
                return orphans
        block = READ_BLOCK_MS
        if self._retry_at:
            soonest = min(at for at, _ in self._retry_at.values())
            block = max(1, min(block, int((soonest - now) * 1000)))
        reply = cast(
            "ReadReply",
            await self.client.xreadgroup(
                self.sub.group, self.name, {self.stream: ">"}, count=self.sub.batch, block=block
            ),
        )
        if not reply:
            return []
        return [Delivery(codec.text(eid), fields, 1) for eid, fields in reply[0][1]]

    async def _probe(self, now: float) -> list[Delivery]:
        """While paused, one retry at a time, when the detector says so."""
        if not self._retry_at or not self.outage.probe_due():
            await asyncio.sleep(0.05)
            return []
        eid = min(self._retry_at, key=lambda e: self._retry_at[e][0])
        return await self._claim_retries({eid: self._retry_at[eid][1]})

    async def _claim_retries(self, due: dict[str, int]) -> list[Delivery]:
        claimed = await claim_due(self.client, self.stream, self.sub.group, self.name, 0, due)
        for eid in due:  # only now: if the claim failed they stay scheduled, never stranded
            del self._retry_at[eid]
        gone = set(due) - {d.entry_id for d in claimed}  # trimmed or taken meanwhile: no longer ours
        self._owned.difference_update(gone)
        return claimed

    async def _reclaim(self) -> list[Delivery]:
        min_idle_ms = int(self.sub.retry.reclaim_idle * 1000)
        cursor, claimed, deleted = await autoclaim(
            self.client, self.stream, self.sub.group, self.name, min_idle_ms, self._cursor, self.sub.batch
        )
        self._cursor = cursor
        for eid in deleted:
            log.warning("%s: pending entry %s was trimmed before it was processed", self.sub.group, eid)
        claimed = [d for d in claimed if d.entry_id not in self._owned]
        self.stats.reclaimed += len(claimed)
        return claimed

    async def _recreate_group(self) -> None:
        self.stats.groups_recreated += 1
        self._owned.clear()
        self._retry_at.clear()
        self.stats.last_error = f"group {self.sub.group!r} on {self.stream!r} vanished; recreated"
        log.error("%s", self.stats.last_error)
        await ensure_group(self.client, self.stream, self.sub.group)
        await self._mark_recreated()

    async def _mark_recreated(self) -> None:
        """A group (re)created at 0 reads old entries again: check their markers."""
        last = cast("list[tuple[bytes, object]]", await self.client.xrevrange(self.stream, count=1))
        if last:
            self._recreated_upto = codec.entry_order(codec.text(last[0][0]))

    # -- handle -----------------------------------------------------------------------------

    async def _process_or_release(self, batch: list[Delivery]) -> None:
        """Process a batch; if Redis fails mid-way, what was not committed is retried, never stranded."""
        try:
            await self._process(batch)
        except BaseException:
            self._release(batch)
            raise

    async def _process(self, batch: list[Delivery]) -> None:
        self._owned.update(d.entry_id for d in batch)
        maybe_seen = [d for d in batch if self._maybe_seen(d)]
        markers = None
        if maybe_seen:  # ask Redis for their markers first, and decode while it answers
            markers = asyncio.create_task(self._already_done(maybe_seen))
            await asyncio.sleep(0)
        envelopes = {d.entry_id: self._decode(d) for d in batch}
        done = await markers if markers else set()
        seen: set[str] = set()
        outcomes: dict[str, Outcome] = {}
        queue = iter(batch)

        async def worker() -> None:
            # `concurrency` workers share one iterator: no task per event, and never more at once.
            for d in queue:
                env = envelopes[d.entry_id]
                if isinstance(env, DeadLetter | Skip):
                    outcomes[d.entry_id] = env
                elif env.id in done:
                    self.stats.duplicates += 1
                    outcomes[d.entry_id] = Skip("already processed")
                elif env.id in seen or env.id in self._committing:  # a second copy waits for the first's commit
                    outcomes[d.entry_id] = Retry(self.sub.retry.backoff_base_s, PermanentError("duplicate in batch"))
                else:
                    seen.add(env.id)
                    outcomes[d.entry_id] = await self._handle(env, d)

        await asyncio.gather(*(worker() for _ in range(min(self.sub.concurrency, len(batch)))))
        await self._commit(batch, envelopes, [outcomes[d.entry_id] for d in batch])

    def _decode(self, d: Delivery) -> Envelope | DeadLetter | Skip:
        if d.fields is None:
            return Skip("entry trimmed")
        try:
            env = codec.decode(d.fields, self.config.max_event_bytes)
            if env.type not in self.sub.handlers:
                REGISTRY.latest(env.type)  # an unknown type is a producer bug: dead-letter it
                return Skip("no handler")
        except SchemaError as exc:
            return DeadLetter(exc, format_traceback(exc))
        return env

    async def _already_done(self, batch: list[Delivery]) -> set[str]:
        """Event ids whose processed-marker exists, asked only for entries that may be repeats.

        A repeat is a redelivery, an entry flagged `redelivery` (publish retry, DLQ replay), or
        any entry up to where the stream was when the group had to be recreated from 0.
        """
        ids = [d.fields[b"id"].decode() for d in batch if d.fields and b"id" in d.fields]
        if not ids:
            return set()
        markers = await self.client.mget([keys.processed(self.sub.stream, self.sub.group, i) for i in ids])
        return {i for i, m in zip(ids, markers, strict=True) if m is not None}

    def _maybe_seen(self, d: Delivery) -> bool:
        if d.deliveries > 1 or (d.fields is not None and _REDELIVERY in d.fields):
            return True
        return self._recreated_upto is not None and codec.entry_order(d.entry_id) <= self._recreated_upto

    async def _handle(self, env: Envelope, d: Delivery) -> Outcome:
        handler = self.sub.handlers[env.type]
        with handle_span(env, self.sub.group) as span:
            try:
                event = REGISTRY.parse(env.type, env.version, env.payload, reader=self.service)
                ctx = Context(env, d.deliveries, self.name, self.sub.group, log, self.client, self.config)
                outputs = _checked(env.type, await handler(event, ctx))
                traceparent = current_traceparent()
                caused = [env.caused(o, producer=self.service, traceparent=traceparent) for o in outputs]
            except Exception as exc:  # noqa: BLE001 - a handler's failure is data, never a crash
                span.record_exception(exc)
                self.stats.failed += 1
                self.stats.last_error = f"{type(exc).__name__}: {exc}"[:300]
                self.outage.failed(env.id, exc)
                return classify(exc, d.deliveries, self.sub.retry, outage=self.outage.paused)
        self.outage.succeeded()
        return Done(caused)

    # -- commit -----------------------------------------------------------------------------

    async def _commit(
        self, batch: list[Delivery], envelopes: dict[str, Envelope | DeadLetter | Skip], outcomes: list[Outcome]
    ) -> None:
        """Start this batch's commit once the previous one has landed, and return without waiting for it.

        The handlers of the next batch then run while Redis executes this commit; commits stay
        in order, and an event id still being committed is not run again meanwhile.
        """
        ops = CommitBatch(self.sub.stream, self.sub.group, self.config.marker_ttl_s)
        committing: set[str] = set()
        for d, outcome in zip(batch, outcomes, strict=True):
            env = envelopes[d.entry_id]
            if isinstance(outcome, Done) and isinstance(env, Envelope):
                ops.ok(d.entry_id, env.id, outcome.outputs)
                committing.add(env.id)
            elif isinstance(outcome, Skip):
                ops.ack(d.entry_id)
                self.stats.skipped += 1
            elif isinstance(outcome, DeadLetter):
                fields = deadletter.entry(
                    outcome, source=self.stream, source_id=d.entry_id, group=self.sub.group,
                    consumer=self.name, deliveries=d.deliveries, original=d.fields or {},
                )
                ops.dead(d.entry_id, fields)
                self.stats.dead_lettered += 1
                log.warning("%s: dead-lettered %s: %s", self.sub.group, d.entry_id, outcome.error)
            elif isinstance(outcome, Retry):
                self._retry_at[d.entry_id] = (time.monotonic() + outcome.delay_s, d.deliveries)
        finished = [d for d, o in zip(batch, outcomes, strict=True) if not isinstance(o, Retry)]
        done = sum(1 for o in outcomes if isinstance(o, Done))
        await self._settle()
        self._committing = committing
        self._inflight = asyncio.create_task(self._land(ops, finished, done))

    async def _land(self, ops: CommitBatch, finished: list[Delivery], done: int) -> None:
        try:
            results = await self.committer.commit(ops)
        except BaseException:
            self._release(finished)
            raise
        self.stats.processed += done
        self.stats.duplicates += results.count(DUPLICATE)
        self._owned.difference_update(d.entry_id for d in finished)

    async def _settle(self) -> None:
        """Wait for the in-flight commit; its failure surfaces here."""
        task, self._inflight = self._inflight, None
        if task is not None:
            try:
                await task
            finally:
                self._committing = set()

    def _release(self, batch: list[Delivery]) -> None:
        """Entries we hold but did not commit: schedule them for retry so they are never stranded."""
        retry_at = time.monotonic() + self.sub.retry.backoff_base_s
        for d in batch:
            if d.entry_id in self._owned and d.entry_id not in self._retry_at:
                self._retry_at[d.entry_id] = (retry_at, d.deliveries)

    # -- leases -----------------------------------------------------------------------------

    async def _renew_leases(self) -> None:
        while True:
            await asyncio.sleep(self.sub.retry.lease_renew_s)
            try:
                await renew(self.client, self.stream, self.sub.group, self.name, self._owned | set(self._retry_at))
            except (*CONNECTION_ERRORS, ResponseError) as exc:
                log.warning("%s: lease renewal failed: %s", self.sub.group, exc)


def _checked(event_type: str, outputs: Sequence[Event]) -> Sequence[Event]:
    bad = [o for o in outputs if not isinstance(o, Event)]
    if bad:
        raise PermanentError(f"handler for {event_type} returned {type(bad[0]).__name__}, not an Event")
    return outputs


def consumer_name() -> str:
    """Unique per process: `<host>-<pid>-<4 hex>`, so a restarted worker never reuses a dead one's PEL."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"


_REDELIVERY = codec.FIELD_REDELIVERY.encode()
