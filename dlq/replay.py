"""Replay: put dead letters back on their source stream, once, with their original event id.

Each letter goes through one Lua script (bus/lua/replay.lua, laid out by replay_call.py), so
"re-published" and "removed from the DLQ" are a single atomic step: the script checks the
letter still exists and its replay count is under the limit, XADDs the upcast envelope to the
source stream, counts the replay, records "replayed as <stream id>", XDELs the letter and
appends the letter's audit entry to `aiwf:audit:{domain}` (who, when, which run, which letter,
event id, new stream id). A replay interrupted at any point (Ctrl-C, kill -9, Redis gone) has
either fully replayed a letter, audit entry included, or not touched it, so running the same
command again replays exactly the rest; a reply lost after the script ran finds the letter
gone and reports where it went. All keys carry the letter's `{domain}` hash tag.

Which consumer groups see a replayed event. The envelope keeps its original event id, so
every group that already committed it finds its processed-marker and acks the copy without
running (within the marker TTL, 7 days by default); groups with no handler for the type skip
it. So:

* default: the event goes back on the stream for every group that has not processed it:
  the group that failed, any other group that failed on it too, and laggards.
* `group="G"`: only G's letters are selected, and only G runs them. Every other group H that
  is already *past* the original entry (its last-delivered-id is at or beyond it and the entry
  is not in H's pending list) gets a marker for this event id, so H acks the copy unread even
  if its own marker expired. A group not yet past the original gets no marker: it will run
  the original (or the copy, whichever comes first) exactly once either way, so suppressing
  it would lose the event for it. These suppression markers hold the value SUPPRESSED, not
  the consumer's "1"; a later replay aimed at H (default mode, or `group="H"`) deletes H's
  suppression marker first, so an event H dead-lettered too can still be replayed to H.

A dedicated replay stream per group (`aiwf:replay:{domain}:G`) would avoid touching other
groups' markers, but the consumer reads only its domain stream; this design needs no
consumer change.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from aiwf.bus import codec, keys, markers
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import Redis
from aiwf.bus.scripts import Script
from aiwf.dlq import audit
from aiwf.dlq.errors import NotReplayable
from aiwf.dlq.letters import Letter
from aiwf.dlq.replay_call import SUPPRESSED, Limits, letter_trail, replay_call, verdict
from aiwf.dlq.replay_groups import touched_markers
from aiwf.schemas import REGISTRY, Envelope, MalformedEvent, SchemaError, new_id

#: Replays of one event id refused after this many (a bad fix must not loop forever).
DEFAULT_MAX_REPLAYS = 3


class Status(StrEnum):
    """What happened to one selected letter."""

    REPLAYED = "replayed"
    """Re-published and removed from the DLQ."""
    WOULD_REPLAY = "would-replay"
    """Dry run: would be re-published."""
    ALREADY_REPLAYED = "already-replayed"
    """Gone from the DLQ because an earlier (perhaps interrupted) run replayed it."""
    GONE = "gone"
    """Removed meanwhile by someone else (purged, or replayed by another run)."""
    REFUSED = "refused"
    """Its event id was replayed max-replays times already."""
    UNREPLAYABLE = "unreplayable"
    """Malformed body, unknown type or version, invalid payload, or wrong group."""


OK_STATUSES = frozenset({Status.REPLAYED, Status.WOULD_REPLAY, Status.ALREADY_REPLAYED, Status.GONE})


@dataclass(frozen=True)
class Result:
    """The outcome for one letter."""

    ref: str
    event_id: str
    event_type: str
    status: Status
    detail: str = ""
    stream_id: str | None = None

    @property
    def ok(self) -> bool:
        """True unless the letter was refused or cannot be replayed."""
        return self.status in OK_STATUSES

    def as_json(self) -> dict[str, Any]:
        """The row `aiwf dlq replay --json` prints."""
        return {
            "id": self.ref,
            "event_id": self.event_id,
            "type": self.event_type,
            "status": self.status.value,
            "detail": self.detail,
            "stream_id": self.stream_id,
        }


def prepare(letter: Letter, max_bytes: int) -> tuple[Envelope, int]:
    """The letter's envelope upcast to the newest version, and the version it had; NotReplayable if impossible."""
    body = letter.body
    if body is None:
        raise NotReplayable("the letter keeps no original body")
    try:
        env = codec.loads(body, max_bytes)
    except MalformedEvent as exc:
        raise NotReplayable(f"malformed event, cannot be replayed ({exc}); purge it") from None
    try:
        version, payload = REGISTRY.upcast(env.type, env.version, env.payload)
        REGISTRY.parse(env.type, version, payload)
    except SchemaError as exc:
        raise NotReplayable(f"{exc}; fix the schema or upcaster (or purge it) before replaying") from None
    upcast = env.model_copy(update={"version": version, "payload": payload})
    size = len(codec.dumps(upcast))
    if size > max_bytes:
        raise NotReplayable(f"upcast event is {size} bytes, over AIWF_MAX_EVENT_BYTES={max_bytes}")
    return upcast, env.version


@dataclass
class Replayer:
    """Replays letters one at a time, paced by `rate` (letters per second), and audits the run."""

    client: Redis
    config: BusConfig
    group: str | None = None
    max_replays: int = DEFAULT_MAX_REPLAYS
    rate: float | None = None
    dry_run: bool = False
    _next_at: float = field(default=0.0, init=False)
    #: Names this run in every audit entry it writes, per letter and for the whole run.
    _run: str = field(default_factory=new_id, init=False)

    def __post_init__(self) -> None:
        self._script = Script(self.client, "replay")
        self._limits = Limits(self.max_replays, self.config.marker_ttl_s)

    async def run(self, letters: Sequence[Letter], on_result: Callable[[Result], None] | None = None) -> list[Result]:
        """Replay `letters` in order; `on_result` sees each outcome as it happens."""
        results: list[Result] = []
        try:
            for letter in letters:
                await self._pace()
                result = await self.one(letter)
                results.append(result)
                if on_result is not None:
                    on_result(result)
        except BaseException:
            with contextlib.suppress(Exception):  # the interruption is the error to report
                await self._audit(results, len(letters), interrupted=True)
            raise
        await self._audit(results, len(letters), interrupted=False)
        return results

    async def one(self, letter: Letter) -> Result:
        """Replay (or, dry, check) one letter."""
        try:
            env, old_version = prepare(letter, self.config.max_event_bytes)
            touched = await touched_markers(self.client, letter, env.id, self.group)
        except NotReplayable as exc:
            return self._result(letter, Status.UNREPLAYABLE, str(exc))
        upcast = f", upcast v{old_version}->v{env.version}" if env.version != old_version else ""
        target = f"group {self.group} only" if self.group else "all groups"
        note = await self._already_processed_note(letter, env.id)
        if self.dry_run:
            count = await self.client.get(keys.replay_count(letter.domain, env.id))
            if count is not None and int(count) >= self.max_replays:
                return self._refused(letter, env.id, int(count))
            return self._result(letter, Status.WOULD_REPLAY, f"to {target}{upcast}{note}", event_id=env.id)
        trail = letter_trail(self._run, letter, env.id, self.group)
        outcome, value = verdict(await self._script(replay_call(letter, env, touched, self._limits, trail)))
        if outcome == "gone":
            status = Status.ALREADY_REPLAYED if value else Status.GONE
            detail = f"replayed as {value}" if value else "no longer in the DLQ (purged or taken meanwhile)"
            return self._result(letter, status, detail, event_id=env.id, stream_id=value or None)
        if outcome == "refused":
            return self._refused(letter, env.id, int(value))
        return self._result(letter, Status.REPLAYED, f"to {target}{upcast}{note}", event_id=env.id, stream_id=value)

    async def _already_processed_note(self, letter: Letter, event_id: str) -> str:
        group = self.group or letter.group
        (marker,) = await markers.values(self.client, [markers.marker(letter.domain, group, event_id)])
        if marker is None or marker == SUPPRESSED.encode():
            return ""
        return f"; note: group {group!r} already processed it, so it will only acknowledge the copy"

    def _refused(self, letter: Letter, event_id: str, count: int) -> Result:
        detail = (
            f"event {event_id} was already replayed {count} time(s) (--max-replays {self.max_replays}); "
            "fix its handler and raise --max-replays, or purge it"
        )
        return self._result(letter, Status.REFUSED, detail, event_id=event_id)

    @staticmethod
    def _result(
        letter: Letter, status: Status, detail: str, *, event_id: str | None = None, stream_id: str | None = None
    ) -> Result:
        return Result(letter.ref, event_id or letter.event_id, letter.event_type, status, detail, stream_id)

    async def _pace(self) -> None:
        if self.rate is None:
            return
        now = time.monotonic()
        if self._next_at > now:
            await asyncio.sleep(self._next_at - now)
        self._next_at = max(now, self._next_at) + 1 / self.rate

    async def _audit(self, results: list[Result], selected: int, *, interrupted: bool) -> None:
        done = [r for r in results if r.status is Status.REPLAYED]
        if self.dry_run or not done:
            return
        await audit.record(
            self.client,
            "dlq.replay",
            run=self._run,
            count=len(done),
            selected=selected,
            group=self.group or "",
            max_replays=self.max_replays,
            interrupted=str(interrupted).lower(),
            letters=[{"id": r.ref, "event_id": r.event_id, "stream_id": r.stream_id} for r in done],
        )
