"""Aggregates and the repository: state rebuilt from events, saved with an expected version.

load  snapshot (if its state_version is the class's) + the events after it, applied in order
save  the pending events, appended with expected version = the version loaded, in appends of
      at most `batch` events; a snapshot every `snapshot_every` events (a cache: losing one
      only slows a load)
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Final, Generic, TypeVar

from aiwf.bus import codec
from aiwf.bus.decision import Append
from aiwf.bus.errors import ConfigError
from aiwf.bus.store.append import MAX_BATCH, build
from aiwf.bus.store.errors import StoreError
from aiwf.bus.store.store import EventStore
from aiwf.bus.store.stream_id import parse
from aiwf.schemas import Envelope, Event, SchemaError

log = logging.getLogger("aiwf.store")
#: Namespace of event ids derived from a cause (uuid5), so a redelivered handler's save repeats its ids.
CAUSED_IDS: Final = uuid.UUID("6f1b3c2e-5a4d-4f7e-9b8a-0c1d2e3f4a5b")


def caused_id(cause_id: str, stream_id: str, position: int) -> str:
    """The id of the event at `position` among those a cause stores in one stream (the same on every run)."""
    return str(uuid.uuid5(CAUSED_IDS, f"{cause_id}/{stream_id}/{position}"))


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
    """Loads and saves aggregates of one class; snapshots every `snapshot_every` events when set.

    `batch` (1..MAX_BATCH) caps the events of one append; a larger save is split (see `save`).
    """

    def __init__(
        self, store: EventStore, cls: type[A], *, snapshot_every: int | None = None, batch: int = MAX_BATCH
    ) -> None:
        if snapshot_every is not None and not 1 <= snapshot_every <= 1_000_000:
            raise ConfigError(f"snapshot_every must be 1..1000000 or None, got {snapshot_every}")
        if not 1 <= batch <= MAX_BATCH:
            raise ConfigError(f"batch must be 1..{MAX_BATCH} events per append, got {batch}")
        self.store = store
        self.cls = cls
        self.snapshot_every = snapshot_every
        #: Events per append of one save.
        self.batch = batch

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

    async def save(self, agg: A, *, cause: Envelope | None = None, resume_at: int = 0) -> int:
        """Append the pending events with expected version = `agg.version`; returns the new version.

        Any number of events: they go in appends of at most `batch` events, each expecting the
        version the previous one left. Each append is atomic, the save as a whole is not: an
        error between two appends (a crash, Redis gone, a ConcurrencyError from a writer that
        slipped in between) leaves the earlier appends stored and this instance unchanged.

        With `cause` (the envelope a handler is reacting to) every event carries its correlation
        and causation ids, and event ids are derived from (cause id, stream, position among this
        cause's events): a redelivered handler that decides the same events saves the same ids,
        which the store absorbs as retries, append by append, and only the missing appends are
        written (this instance's state is then stale: load again to read on). A handler that
        instead reloads, sees the part already stored and records only the rest passes
        `resume_at` = how many of this cause's events are stored, so the rest take the
        positions after them. Without `cause`, ids are fresh and a repeated save stores twice.
        On ConcurrencyError from the first append nothing is stored and the pending events stay:
        load again and redo the command.
        """
        if not agg.pending:
            return agg.version
        if resume_at < 0:
            raise StoreError(f"resume_at must be >= 0, got {resume_at}")
        envelopes = [self._envelope(agg, event, cause, resume_at + i) for i, event in enumerate(agg.pending)]
        before = version = agg.version
        fresh = True  # every append wrote its events just after the version this instance holds
        for chunk in self._chunks(envelopes, resume_at):
            stored = await self.store.append(agg.stream_id, chunk, expected_version=version)
            fresh = fresh and stored == version + len(chunk)
            version = stored
        agg.version, agg.pending = version, []
        every = self.snapshot_every
        # Not fresh: some ids were stored by an earlier save, so this instance's state is not the
        # stored one at that version and must not be snapshotted.
        if every and fresh and agg.version // every > before // every:
            await self._write_snapshot(agg)
        return agg.version

    def stage(self, agg: A, *, cause: Envelope) -> list[Append]:
        """The pending events as appends for a handler's Decision, expecting the version loaded.

        Nothing is written here: the consumer's commit appends them atomically with the cause's
        processed-marker and ack, or refuses the whole decision when another writer came first
        (then the handler runs again on fresh state). Event ids derive from the cause, as in
        `save`. When the appends cross a multiple of `snapshot_every`, the last one carries the
        aggregate's snapshot, written by the same commit.
        """
        if not agg.pending:
            return []
        sid = parse(agg.stream_id)
        envelopes = [self._envelope(agg, event, cause, i) for i, event in enumerate(agg.pending)]
        staged, version = [], agg.version
        for chunk in self._chunks(envelopes, 0):
            build(sid, chunk, version, self.store.config.max_event_bytes)  # the same checks as an append
            staged.append(Append(str(sid), sid.category, sid.id, chunk, version))
            version += len(chunk)
        every = self.snapshot_every
        if every and version // every > agg.version // every:
            staged[-1] = replace(staged[-1], snapshot=self._snapshot_json(agg, version))
        agg.pending = []
        return staged

    async def stored_by(self, agg: A, cause: Envelope) -> bool:
        """True when `cause` already stored events in `agg`'s stream (its first staged id is there).

        A handler re-run after its decision was committed (its processed-marker expired, or a
        replay) would decide anew with the same ids; this lets it answer from the stored state.
        """
        first = caused_id(cause.id, agg.stream_id, 0)
        return bool(await self.store.client.hexists(parse(agg.stream_id).event_ids, first))

    def _envelope(self, agg: A, event: Event, cause: Envelope | None, position: int) -> Envelope:
        if cause is None:
            return Envelope.wrap(event, producer=self.store.config.producer)
        return Envelope.wrap(
            event,
            producer=self.store.config.producer,
            correlation_id=cause.correlation_id,
            causation_id=cause.id,
            traceparent=cause.traceparent,
            event_id=caused_id(cause.id, agg.stream_id, position),
        )

    def _chunks(self, envelopes: list[Envelope], first: int) -> list[list[Envelope]]:
        """Appends cut at positions that are multiples of `batch`: every save of a cause cuts alike."""
        out, i = [], 0
        while i < len(envelopes):
            end = min(len(envelopes), (first + i) // self.batch * self.batch + self.batch - first)
            out.append(envelopes[i:end])
            i = end
        return out

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
        await self.store.client.set(parse(agg.stream_id).snapshot, self._snapshot_json(agg, agg.version))

    def _snapshot_json(self, agg: A, version: int) -> bytes:
        """The snapshot of `agg`'s state (pending events applied) as the store keeps it, at `version`."""
        return codec.to_json({"version": version, "state_version": agg.state_version, "state": agg.snapshot_state()})
