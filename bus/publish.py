"""Publish: validate -> envelope -> XADD, with concurrent publishes coalesced into pipelines.

A lone publish is one XADD round trip. While one is in flight, later publishes queue and the
next flush sends them all in one pipeline (group commit), so many producers in one process
cost one round trip per flush, not per event. Connection errors are retried within the
config's budget (tenacity, jittered); a retry may land twice, which consumers absorb by
deduplicating on the event id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiwf.bus import codec, keys
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import CONNECTION_ERRORS, Redis, retrying
from aiwf.bus.errors import PublishRefused
from aiwf.bus.telemetry import current_traceparent, publish_span
from aiwf.schemas import REGISTRY, Envelope, Event, SchemaError
from aiwf.schemas.secrets import SecretError

XADD_MANY_LUA = """
for i = 1, #ARGV, 5 do
  local fields = {'id', ARGV[i + 1], 'type', ARGV[i + 2], 'body', ARGV[i + 3]}
  if ARGV[i + 4] ~= '' then
    fields[7], fields[8] = 'redelivery', ARGV[i + 4]
  end
  redis.call('XADD', KEYS[tonumber(ARGV[i])], '*', unpack(fields))
end
return #ARGV / 5
"""
#: Flushes in flight at once: one packs the next batch while Redis runs the other. Order
#: across flushes is free: a caller awaits its publish, so its own events never overlap.
MAX_FLUSHES = 2
_PUBLISHED = (codec.FIELD_ID, codec.FIELD_TYPE, codec.FIELD_BODY, codec.FIELD_REDELIVERY)
Pending = tuple[str, dict[str, str | bytes], "asyncio.Future[None]"]


def build(
    type_: str,
    data: dict[str, Any],
    *,
    version: int | None = None,
    producer: str,
    correlation_id: str | None = None,
) -> Envelope:
    """Validate raw data as `type_` (upcast from `version` if older) and wrap it: the CLI's edge."""
    try:
        event = REGISTRY.parse(type_, version or REGISTRY.latest(type_).event_version, data)
        return Envelope.wrap(event, producer=producer, correlation_id=correlation_id)
    except (SchemaError, SecretError) as exc:
        raise PublishRefused(str(exc)) from None


class Publisher:
    """Publishes envelopes to their domain streams; safe to share between tasks of one loop."""

    def __init__(self, client: Redis, config: BusConfig) -> None:
        self._client = client
        self._xadd_many = client.register_script(XADD_MANY_LUA)
        self._config = config
        self._queue: list[Pending] = []
        self._flushes = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def publish(
        self,
        event: Event,
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
    ) -> str:
        """Publish one event; returns its event id once Redis has it."""
        with publish_span(event.event_type):
            try:
                env = Envelope.wrap(
                    event,
                    producer=self._config.producer,
                    correlation_id=correlation_id,
                    causation_id=causation_id,
                    traceparent=current_traceparent(),
                )
            except SecretError as exc:
                raise PublishRefused(f"{event.event_type}: cannot seal its secrets: {exc}") from None
            await self.publish_envelope(env)
        return env.id

    async def publish_many(self, events: Sequence[Event], *, correlation_id: str | None = None) -> list[str]:
        """Publish several events in one flush, in order; returns their ids in order."""
        envs = [Envelope.wrap(e, producer=self._config.producer, correlation_id=correlation_id) for e in events]
        futures = [self._enqueue(env) for env in envs]  # all queued before any flush: one batch, in order
        await self._kick()
        await asyncio.gather(*futures)
        return [env.id for env in envs]

    async def publish_envelope(self, env: Envelope) -> None:
        """XADD an already-built envelope (DLQ replay keeps its id this way)."""
        future = self._enqueue(env)
        await self._kick()
        await future

    def _enqueue(self, env: Envelope) -> asyncio.Future[None]:
        fields = codec.encode(env)
        size = len(fields[codec.FIELD_BODY])
        if size > self._config.max_event_bytes:
            raise PublishRefused(
                f"{env.type}: event is {size} bytes, over AIWF_MAX_EVENT_BYTES={self._config.max_event_bytes}; "
                "put large data in the blob store and send its reference"
            )
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((keys.stream(keys.domain_of(env.type)), fields, future))
        return future

    async def _kick(self) -> None:
        if self._flushes < MAX_FLUSHES and self._queue:
            await self._flush()

    async def _flush(self) -> None:
        """Send what is queued; while it travels, newcomers queue for the next flush."""
        self._flushes += 1
        try:
            await self._send(self._take())
        finally:
            self._flushes -= 1
            if self._queue and self._flushes < MAX_FLUSHES:
                # A task takes the rest, so this caller returns as soon as its own event is written.
                task = asyncio.get_running_loop().create_task(self._flush())
                self._tasks.add(task)  # the loop keeps only a weak reference to tasks
                task.add_done_callback(self._tasks.discard)

    def _take(self) -> list[Pending]:
        batch, self._queue = self._queue, []
        return batch

    async def _send(self, batch: list[Pending]) -> None:
        try:
            try:
                await self._write(batch)
            except CONNECTION_ERRORS:
                # The first write may have landed with its reply lost: flag the retries so
                # consumers check the processed-marker of whichever copy comes second.
                for _, fields, _ in batch:
                    fields[codec.FIELD_REDELIVERY] = "publish-retry"
                await retrying(lambda: self._write(batch), self._config, "publish")
        except Exception as exc:  # noqa: BLE001 - every waiter learns the failure of its own flush
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for _, _, future in batch:
            if not future.done():
                future.set_result(None)

    async def _write(self, batch: list[Pending]) -> None:
        if len(batch) == 1:
            stream, fields, _ = batch[0]
            await self._client.xadd(stream, fields)  # type: ignore[arg-type]
        else:
            await self._pipeline(batch)

    async def _pipeline(self, batch: list[Pending]) -> None:
        # One script call for the whole flush: one reply to parse instead of one per XADD,
        # and five arguments per event instead of seven.
        streams: dict[str, int] = {}
        argv: list[str | bytes] = []
        for stream, fields, _ in batch:
            index = streams.setdefault(stream, len(streams) + 1)
            argv += [str(index), *(fields.get(name, "") for name in _PUBLISHED)]
        await self._xadd_many(keys=list(streams), args=argv)
