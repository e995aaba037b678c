"""Aggregates and the repository: state rebuilt from events, saved with an expected version.

    load  snapshot (if its state_version is the class's) + the events after it, applied in order
    save  the pending events, appended with expected version = the version loaded;
          a snapshot every `snapshot_every` events (a cache: losing one only slows a load)
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Generic, TypeVar

from bus import codec
from bus.errors import ConfigError
from bus.store.keys import parse
from bus.store.store import EventStore
from schemas import Envelope, Event, SchemaError

log = logging.getLogger("aiwf.store")
#: Namespace of event ids derived from a cause (uuid5), so a redelivered handler's save repeats its ids.
CAUSED_IDS: Final = uuid.UUID("6f1b3c2e-5a4d-4f7e-9b8a-0c1d2e3f4a5b")


class Aggregate:
    """State rebuilt by applying events in version order.

    Subclasses set `category`, implement `apply` (pure: no I/O, no clock), and, to be
    snapshotted, `snapshot_state` / `restore_state`. A command checks the state and calls
    `record(event)`, which applies the event and queues it for `Repository.save`.
    """

    category: ClassVar[str]
    #: The shape of `snapshot_state()`: bump it when that shape changes, and older snapshots are ignored.
    state_version: ClassVar[int] = 1

    def __init__(self, aggregate_id: str) -> None:
        self.id = aggregate_id
        #: Events stored so far (0: the aggregate does not exist yet); pending events are not counted.
        self.version = 0
        self.pending: list[Event] = []

    @property
    def stream_id(self) -> str:
        """`<category>-<id>`."""
        return f"{self.category}-{self.id}"

    def apply(self, event: Event) -> None:
        """Evolve the state by one event (stored or newly recorded)."""
        raise NotImplementedError(f"{type(self).__name__} must implement apply(event)")

    def record(self, event: Event) -> None:
        """Apply a new event and queue it for saving."""
        self.apply(event)
        self.pending.append(event)

    def snapshot_state(self) -> dict[str, Any]:
        """The state as JSON-able data, for a snapshot."""
        raise NotImplementedError(f"{type(self).__name__} must implement snapshot_state() to be snapshotted")

    def restore_state(self, state: dict[str, Any]) -> None:
        """Set the state from `snapshot_state()`'s output of the same `state_version`."""
        raise NotImplementedError(f"{type(self).__name__} must implement restore_state() to be snapshotted")


A = TypeVar("A", bound=Aggregate)


@dataclass(frozen=True)
class Snapshot:
    """An aggregate's state at `version`, in the shape of `state_version`."""

    version: int
    state_version: int
    state: dict[str, Any]


class Repository(Generic[A]):
    """Loads and saves aggregates of one class; snapshots every `snapshot_every` events when set."""

    def __init__(self, store: EventStore, cls: type[A], *, snapshot_every: int | None = None) -> None:
        if snapshot_every is not None and not 1 <= snapshot_every <= 1_000_000:
            raise ConfigError(f"snapshot_every must be 1..1000000 or None, got {snapshot_every}")
        self.store = store
        self.cls = cls
        self.snapshot_every = snapshot_every

    async def load(self, aggregate_id: str) -> A:
        """The aggregate at its latest version; version 0 (fresh state) when it has no events yet."""
        agg = self.cls(aggregate_id)
        snap = await self._read_snapshot(agg.stream_id) if self.snapshot_every else None
        if snap is not None:
            agg.restore_state(snap.state)
            agg.version = snap.version
        for rec in await self.store.read(agg.stream_id, from_version=agg.version + 1):
            agg.apply(rec.event)
            agg.version = rec.version
        return agg

    async def save(self, agg: A, *, cause: Envelope | None = None) -> int:
        """Append the pending events with expected version = `agg.version`; returns the new version.

        With `cause` (the envelope a handler is reacting to) the events carry its correlation and
        causation ids, and their ids are derived from it: a redelivered handler that decides the
        same events saves the same ids, which the store absorbs as a retry (this instance's state
        is then stale: load again to read on). On ConcurrencyError nothing is stored and the
        pending events stay: load again and redo the command.
        """
        if not agg.pending:
            return agg.version
        producer = self.store.config.producer
        envelopes = [
            Envelope.wrap(
                event,
                producer=producer,
                correlation_id=cause.correlation_id if cause else None,
                causation_id=cause.id if cause else None,
                traceparent=cause.traceparent if cause else None,
                event_id=str(uuid.uuid5(CAUSED_IDS, f"{cause.id}/{agg.stream_id}/{i}")) if cause else None,
            )
            for i, event in enumerate(agg.pending)
        ]
        before = agg.version
        agg.version = await self.store.append(agg.stream_id, envelopes, expected_version=before)
        agg.pending = []
        every = self.snapshot_every
        # A version other than before + n means these ids were stored by an earlier save: this
        # instance's state is not the stored one at that version, so it must not be snapshotted.
        landed_here = agg.version == before + len(envelopes)
        if every and landed_here and agg.version // every > before // every:
            await self._write_snapshot(agg)
        return agg.version

    async def _read_snapshot(self, stream_id: str) -> Snapshot | None:
        raw = await self.store.client.get(parse(stream_id).snapshot)
        if raw is None:
            return None
        try:
            data = codec.parse_json_arg(raw, "snapshot")
            snap = Snapshot(int(data["version"]), int(data["state_version"]), dict(data["state"]))
        except (SchemaError, KeyError, TypeError, ValueError) as exc:
            log.warning("%s: unreadable snapshot ignored, replaying every event (%s)", stream_id, exc)
            return None
        if snap.state_version != self.cls.state_version:
            return None  # another shape of state: replay every event instead
        return snap

    async def _write_snapshot(self, agg: A) -> None:
        data = {"version": agg.version, "state_version": agg.state_version, "state": agg.snapshot_state()}
        await self.store.client.set(parse(agg.stream_id).snapshot, codec.to_json(data))
