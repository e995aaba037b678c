"""How a publish flush reaches Redis: one XADD, or one script call for many events.

Connection errors are retried within the config's budget (tenacity, jittered). The first
write may have landed with its reply lost, so retries carry the `redelivery` flag: consumers
check the processed-marker of whichever copy comes second.

On a Redis Cluster a flush is cut per hash slot: one script call per slot, sent concurrently
(a script may touch one slot only). A stream's events stay in order: they share a slot.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiwf.bus import codec
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import CONNECTION_ERRORS, Redis, is_cluster, retrying, slot
from aiwf.bus.scripts import Call, Script

_PUBLISHED = (codec.FIELD_ID, codec.FIELD_TYPE, codec.FIELD_BODY, codec.FIELD_REDELIVERY)
Fields = dict[str, str | bytes]
"""One entry's fields, as `codec.encode` builds them."""


class StreamWriter:
    """Writes batches of (stream key, fields) entries, retrying connection errors."""

    def __init__(self, client: Redis, config: BusConfig) -> None:
        self._client = client
        self._config = config
        self._xadd_many = Script(client, "xadd_many")
        self._cluster = is_cluster(client)

    async def write(self, batch: Sequence[tuple[str, Fields]]) -> None:
        """XADD every entry, in order; a retry flags each entry as a possible repeat (in place)."""
        try:
            await self._write(batch)
        except CONNECTION_ERRORS:
            for _, fields in batch:
                fields.setdefault(codec.FIELD_REDELIVERY, "publish-retry")
            await retrying(lambda: self._write(batch), self._config, "publish")

    async def _write(self, batch: Sequence[tuple[str, Fields]]) -> None:
        if self._cluster and len({slot(stream) for stream, _ in batch}) > 1:
            await asyncio.gather(*(self._write(part) for part in per_slot(batch)))
            return
        if len(batch) == 1:
            stream, fields = batch[0]
            await self._client.xadd(stream, fields)  # type: ignore[arg-type]
            return
        # One script call for the whole flush: one reply to parse instead of one per XADD,
        # and five arguments per event instead of seven.
        await self._xadd_many(xadd_many_call(batch))


def xadd_many_call(batch: Sequence[tuple[str, Fields]]) -> Call:
    """bus/lua/xadd_many.lua's KEYS (each stream once) and ARGV (five per event) for one flush."""
    streams: dict[str, int] = {}
    args: list[str | bytes] = []
    for stream, fields in batch:
        index = streams.setdefault(stream, len(streams) + 1)
        args += [str(index), *(fields.get(name, "") for name in _PUBLISHED)]
    return Call(list(streams), args)


def per_slot(batch: Sequence[tuple[str, Fields]]) -> list[list[tuple[str, Fields]]]:
    """The flush cut by Redis Cluster hash slot, each part in the batch's order."""
    parts: dict[int, list[tuple[str, Fields]]] = {}
    for stream, fields in batch:
        parts.setdefault(slot(stream), []).append((stream, fields))
    return list(parts.values())
