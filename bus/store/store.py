"""`EventStore`: append with an expected version, read an aggregate, a category or the global log."""

from __future__ import annotations

import re
from collections.abc import Sequence

from aiwf.bus import keys
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import Redis, is_cluster, retrying
from aiwf.bus.relay import Relay
from aiwf.bus.scripts import Script
from aiwf.bus.store import append
from aiwf.bus.store.errors import ConcurrencyError, IdempotencyConflict, StoreError
from aiwf.bus.store.read import START, Recorded, read_aggregate, read_log
from aiwf.bus.store.stream_id import check_category, parse
from aiwf.schemas import Envelope

POSITION_PATTERN = re.compile(r"^\d{1,20}-\d{1,20}$")


class EventStore:
    """The event store on one Redis; safe to share between the tasks of one event loop."""

    def __init__(self, client: Redis, config: BusConfig) -> None:
        self.client = client
        self.config = config
        self._append = Script(client, "append")
        self._cluster = is_cluster(client)
        # Redis Cluster: the global log is another slot; each append's entries for it wait in the
        # category's outbox and are moved at once by this relay (a crash leaves them to a worker's sweep).
        self._relay = Relay(client, config) if self._cluster else None

    async def append(self, stream_id: str, envelopes: Sequence[Envelope], expected_version: int | None = None) -> int:
        """Append a batch atomically; returns the stream's version after it (its last event's version).

        `expected_version`: None or -1 = any, 0 = the stream must not exist, N = exactly N events
        so far, else ConcurrencyError and nothing written. Re-appending a batch whose event ids are
        all stored (a retry) writes nothing and returns the version of its last event. Connection
        errors are retried within the config's budget, which that idempotency makes safe.
        """
        sid = parse(stream_id)
        expected = append.check_expected(expected_version)
        call = append.build(sid, envelopes, expected, self.config.max_event_bytes, cluster=self._cluster)
        if self._relay is not None:  # named for the sweeps before anything waits in it
            await self._relay.register(append.outbox_of(sid))
        reply = await retrying(lambda: self._append(call), self.config, "append")
        status, value = reply[0].decode(), reply[1]
        if status in {"ok", "duplicate"}:
            if self._relay is not None and status == "ok":
                await self._relay.drain(append.outbox_of(sid))
            return int(value)
        if status == "expected":
            raise ConcurrencyError(str(sid), expected, int(value))
        raise IdempotencyConflict(
            f"append to {sid}: event {value.decode()!r} is already stored but the rest of the batch is not "
            "(or not in this order); retry a batch whole, with the same ids in the same order"
        )

    async def version(self, stream_id: str) -> int:
        """The stream's current version: its number of events, 0 when it does not exist."""
        sid = parse(stream_id)
        return int(await retrying(lambda: self.client.xlen(sid.events), self.config, "version"))

    async def read(self, stream_id: str, from_version: int = 0) -> list[Recorded]:
        """Events of one aggregate with version >= from_version (versions start at 1), oldest first."""
        sid = parse(stream_id)
        return await retrying(
            lambda: read_aggregate(self.client, sid.events, str(sid), from_version, self.config.max_event_bytes),
            self.config,
            "read",
        )

    async def read_category(self, category: str, after: str = START, limit: int = 1000) -> list[Recorded]:
        """Up to `limit` events of one category after position `after`, in append order."""
        key = keys.category_stream(check_category(category))
        return await self._read_log(key, after, limit)

    async def read_all(self, after: str = START, limit: int = 1000) -> list[Recorded]:
        """Up to `limit` events of the global log after position `after`, in append order."""
        return await self._read_log(keys.GLOBAL_STREAM, after, limit)

    async def _read_log(self, key: str, after: str, limit: int) -> list[Recorded]:
        if not POSITION_PATTERN.match(after):
            raise StoreError(f"position {after[:80]!r} must be a stream entry id like '1700000000000-0'")
        return await retrying(
            lambda: read_log(self.client, key, after, limit, self.config.max_event_bytes), self.config, "read"
        )
