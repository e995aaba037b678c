"""Publish: validate -> envelope -> XADD, with concurrent publishes coalesced into pipelines.

A lone publish is one XADD round trip. While one is in flight, later publishes queue and the
next flush sends them all in one pipeline (group commit), so many producers in one process
cost one round trip per flush, not per event. Connection errors are retried within the
config's budget (bus/publish_wire.py); a retry may land twice, which consumers absorb by
deduplicating on the event id.

The budget (`budget_s`) is per call, whatever the queue: a caller waits for its own event at
most that long, and a flush is cut off at it too. A caller that gave up before its event was
sent has its event taken out of the queue (nothing written); one whose event was in flight
is told it may have landed. Either way the error carries the event id (`exc.event_id`), and
publishing again with `event_id=` that id is the same event: consumers dedupe it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiwf.bus import codec, keys
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import Redis
from aiwf.bus.errors import AiwfError, PublishRefused, RedisUnavailable
from aiwf.bus.publish_wire import StreamWriter
from aiwf.bus.telemetry import current_traceparent, publish_span
from aiwf.schemas import REGISTRY, Envelope, Event, SchemaError
from aiwf.schemas.secrets import SecretError

#: Flushes in flight at once: one packs the next batch while Redis runs the other. Order
#: across flushes is free: a caller awaits its publish, so its own events never overlap.
MAX_FLUSHES = 2
#: The `redelivery` flag of an event whose id the caller fixed: it may be a retry of one
#: that landed, so consumers check its processed-marker.
CALLER_ID = "caller-id"
#: A stream (topic) name: the `{...}` part of `aiwf:ev:{name}`.
STREAM_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
#: The most a retry's jittered wait adds per attempt (connection.retrying: max=0.5).
_RETRY_WAIT_S = 0.5


@dataclass(eq=False)
class _Item:
    """One queued event: where it goes, its fields, its caller's future, and whether a flush took it."""

    stream: str
    fields: dict[str, str | bytes]
    future: asyncio.Future[None] = field(repr=False)
    sent: bool = False


def budget_s(config: BusConfig) -> float:
    """The most one publish call waits: attempts x (the longer timeout + the longest retry wait)."""
    return config.attempts * (max(config.socket_timeout_s, config.connect_timeout_s) + _RETRY_WAIT_S)


def build(
    type_: str,
    data: dict[str, Any],
    *,
    version: int | None = None,
    producer: str,
    correlation_id: str | None = None,
    event_id: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Envelope:
    """Validate raw data as `type_` (upcast from `version` if older) and wrap it: the CLI's edge."""
    try:
        event = REGISTRY.parse(type_, version or REGISTRY.latest(type_).event_version, data)
        return Envelope.wrap(
            event, producer=producer, correlation_id=correlation_id, event_id=event_id, headers=headers
        )
    except (SchemaError, SecretError) as exc:
        raise PublishRefused(str(exc)) from None


def stream_key(event: Event, stream: str | None) -> str:
    """The stream key an event goes to: `stream` if named (checked), else its type's domain."""
    if stream is None:
        return keys.stream(keys.domain_of(event.event_type))
    if not isinstance(stream, str) or not STREAM_NAME.fullmatch(stream):
        raise PublishRefused(f"stream name {str(stream)[:80]!r} must match {STREAM_NAME.pattern}")
    return keys.stream(stream)


class Publisher:
    """Publishes envelopes to their streams; safe to share between tasks of one loop."""

    def __init__(self, client: Redis, config: BusConfig) -> None:
        self._writer = StreamWriter(client, config)
        self._config = config
        self._budget = budget_s(config)
        self._queue: list[_Item] = []
        self._flushes = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def publish(
        self,
        event: Event,
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        event_id: str | None = None,
        stream: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> str:
        """Publish one event; returns its event id once Redis has it.

        `event_id` fixes the id (an idempotency key: the same id twice is one effect downstream);
        `stream` names the stream (topic) instead of the type's domain; `headers` is metadata
        handlers see on `ctx.envelope.headers`. Any error raised carries `event_id`.
        """
        with publish_span(event.event_type):
            env = self._wrap(event, correlation_id, causation_id, event_id, headers)
            await self._submit([(stream_key(event, stream), env)], env.id if event_id else None)
        return env.id

    async def publish_many(
        self,
        events: Sequence[Event],
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        stream: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> list[str]:
        """Publish several events in one flush, in order; returns their ids in order.

        Same envelope as `publish` (trace context included); an error carries `event_ids`.
        """
        with publish_span(events[0].event_type if events else "none"):
            envs = [self._wrap(e, correlation_id, causation_id, None, headers) for e in events]
            target = stream_key(events[0], stream) if stream and events else None
            await self._submit([(target, env) for env in envs], None)
        return [env.id for env in envs]

    async def publish_envelope(self, env: Envelope, *, redelivery: str | None = None) -> None:
        """XADD an already-built envelope; `redelivery` (e.g. CALLER_ID) flags a possible repeat."""
        await self._submit([(None, env)], None, redelivery)

    def _wrap(
        self,
        event: Event,
        correlation_id: str | None,
        causation_id: str | None,
        event_id: str | None,
        headers: Mapping[str, str] | None,
    ) -> Envelope:
        try:
            return Envelope.wrap(
                event,
                producer=self._config.producer,
                correlation_id=correlation_id,
                causation_id=causation_id,
                traceparent=current_traceparent(),
                event_id=event_id,
                headers=headers,
            )
        except SecretError as exc:
            refused = PublishRefused(f"{event.event_type}: cannot seal its secrets: {exc}")
        except SchemaError as exc:
            refused = PublishRefused(f"{event.event_type}: {exc}")
        refused.event_id = event_id
        raise refused

    async def _submit(
        self, envs: list[tuple[str | None, Envelope]], caller_id: str | None, redelivery: str | None = None
    ) -> None:
        """Queue, flush and wait within the budget; errors name the event id(s)."""
        ids = [env.id for _, env in envs]
        flag = redelivery or (CALLER_ID if caller_id else None)
        try:
            items = [self._item(target, env, flag) for target, env in envs]
            self._queue += items  # all or none: a refused event leaves nothing queued
            try:
                async with asyncio.timeout(self._budget):
                    await self._kick()
                    for item in items:
                        await item.future
            except TimeoutError:
                _retrieved(items)
                raise self._late(items) from None
            except BaseException:
                _retrieved(items)
                raise
        except Exception as exc:  # noqa: BLE001 - re-raised with the ids, never swallowed
            raise _with_ids(exc, ids) from (None if isinstance(exc, AiwfError) else exc)

    def _late(self, items: list[_Item]) -> RedisUnavailable:
        for item in items:
            if not item.future.done():
                item.future.cancel()  # a flush skips it if it has not taken it yet
        outcome = (
            "it may have landed: publish again with the same event_id"
            if any(i.sent for i in items)
            else "nothing was written (it waited behind a stalled flush)"
        )
        return RedisUnavailable(f"publish: no reply from Redis within the {self._budget:.1f}s budget; {outcome}")

    def _item(self, target: str | None, env: Envelope, redelivery: str | None) -> _Item:
        fields = codec.encode(env, redelivery)
        size = len(fields[codec.FIELD_BODY])
        if size > self._config.max_event_bytes:
            raise PublishRefused(
                f"{env.type}: event is {size} bytes, over AIWF_MAX_EVENT_BYTES={self._config.max_event_bytes}; "
                "put large data in the blob store and send its reference"
            )
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        return _Item(target or keys.stream(keys.domain_of(env.type)), fields, future)

    async def _kick(self) -> None:
        if self._flushes < MAX_FLUSHES and self._queue:
            await self._flush()

    async def _flush(self) -> None:
        """Send what is queued; while it travels, newcomers queue for the next flush."""
        self._flushes += 1
        try:
            batch = self._take()
            if batch:
                await self._send(batch)
        finally:
            self._flushes -= 1
            if self._queue and self._flushes < MAX_FLUSHES:
                # A task takes the rest, so this caller returns as soon as its own event is written.
                task = asyncio.get_running_loop().create_task(self._flush())
                self._tasks.add(task)  # the loop keeps only a weak reference to tasks
                task.add_done_callback(self._tasks.discard)

    def _take(self) -> list[_Item]:
        batch, self._queue = [i for i in self._queue if not i.future.done()], []  # done = its caller gave up
        for item in batch:
            item.sent = True
        return batch

    async def _send(self, batch: list[_Item]) -> None:
        try:
            async with asyncio.timeout(self._budget):
                await self._writer.write([(i.stream, i.fields) for i in batch])
        except BaseException as exc:  # every waiter learns the failure of its own flush
            failure = exc
            if isinstance(exc, TimeoutError | asyncio.CancelledError):
                failure = RedisUnavailable(
                    f"publish: flush cut off at the {self._budget:.1f}s budget; it may have landed: "
                    "publish again with the same event_id"
                )
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(failure)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        for item in batch:
            if not item.future.done():
                item.future.set_result(None)


def _retrieved(items: list[_Item]) -> None:
    """Mark the errors of the items a failed caller stopped waiting for as seen, now or when they come,
    so asyncio does not log "Future exception was never retrieved" for each of them."""
    for item in items:
        item.future.add_done_callback(_seen)


def _seen(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()


def _with_ids(exc: Exception, ids: list[str]) -> Exception:
    """A copy of `exc` for this caller (a flush's error is shared) carrying its event id(s)."""
    try:
        mine = type(exc)(*exc.args)
    except Exception:  # noqa: BLE001 - an exception type that cannot be rebuilt is tagged as it is
        mine = exc
    mine.event_id = ids[0] if len(ids) == 1 else None  # type: ignore[attr-defined]
    mine.event_ids = tuple(ids)  # type: ignore[attr-defined]
    return mine
