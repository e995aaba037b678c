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

from bus import codec, keys
from bus.config import BusConfig
from bus.connection import CONNECTION_ERRORS, Redis, retrying
from bus.errors import PublishRefused
from bus.telemetry import current_traceparent, publish_span
from schemas import REGISTRY, Envelope, Event, SchemaError
from schemas.secrets import SecretError

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
        self._config = config
        self._queue: list[Pending] = []
        self._flushing = False

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
        """Publish several events in one pipeline; returns their ids in order."""
        envs = [Envelope.wrap(e, producer=self._config.producer, correlation_id=correlation_id) for e in events]
        await asyncio.gather(*(self.publish_envelope(env) for env in envs))
        return [env.id for env in envs]

    async def publish_envelope(self, env: Envelope) -> None:
        """XADD an already-built envelope (DLQ replay keeps its id this way)."""
        fields = codec.encode(env)
        size = len(fields[codec.FIELD_BODY])
        if size > self._config.max_event_bytes:
            raise PublishRefused(
                f"{env.type}: event is {size} bytes, over AIWF_MAX_EVENT_BYTES={self._config.max_event_bytes}; "
                "put large data in the blob store and send its reference"
            )
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((keys.stream(keys.domain_of(env.type)), fields, future))
        if not self._flushing:
            await self._flush_once()
            if self._queue:
                # Hand the rest to a task so this caller returns as soon as its own event is written.
                self._flushing = True
                asyncio.get_running_loop().create_task(self._drain())
        await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                await self._send(self._take())
        finally:
            self._flushing = False

    async def _flush_once(self) -> None:
        self._flushing = True
        try:
            await self._send(self._take())
        finally:
            self._flushing = False

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
        pipe = self._client.pipeline(transaction=False)
        for stream, fields, _ in batch:
            pipe.xadd(stream, fields)  # type: ignore[arg-type]
        await pipe.execute()
