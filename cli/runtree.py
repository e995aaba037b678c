"""One run's events as a causal tree, read from the streams themselves (no tracing backend needed).

A run is every event with one correlation id; an event's parent is the event its causation id
names. Events are found on every event stream (`aiwf:ev:*`) and, as failed steps, on every
dead-letter stream. A correlation id that is a UUIDv7 (what `aiwf publish` makes) carries its
creation time, so streams are read from a minute before it; any other id reads them whole.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from aiwf.bus import codec, deadletter, keys
from aiwf.bus.connection import Redis
from aiwf.schemas import Envelope, SchemaError

#: Entries read per XRANGE page.
PAGE = 1000
#: Streams are read from this long before a UUIDv7 correlation id's time (clocks differ).
SLACK_MS = 60_000
Entry = tuple[bytes, dict[bytes, bytes]]


@dataclass
class Step:
    """One event of the run, where it was found, and the events it caused."""

    envelope: Envelope
    stream: str
    entry: str
    dead_letter: str | None = None  # the letter's error when the event was dead-lettered by a group
    children: list[Step] = field(default_factory=list)

    def after_ms(self, parent: Step | None) -> float | None:
        """Milliseconds from the cause's time to this event's: queueing plus the handler that made it."""
        if parent is None:
            return None
        return (self.envelope.occurred_at - parent.envelope.occurred_at).total_seconds() * 1000

    def as_json(self, parent: Step | None = None) -> dict[str, Any]:
        """The node `aiwf trace --json` prints, its children nested."""
        env = self.envelope
        return {
            "id": env.id,
            "type": env.type,
            "producer": env.producer,
            "occurred_at": env.occurred_at.isoformat(),
            "after_ms": _round(self.after_ms(parent)),
            "stream": self.stream,
            "entry": self.entry,
            "dead_lettered": self.dead_letter,
            "children": [c.as_json(self) for c in self.children],
        }


def start_ms(correlation_id: str) -> int | None:
    """Where to start reading: a minute before a UUIDv7 id's time; None for any other id."""
    try:
        parsed = uuid.UUID(correlation_id)
    except ValueError:
        return None
    if parsed.version != 7:
        return None
    return max(0, (parsed.int >> 80) - SLACK_MS)


async def find(client: Redis, correlation_id: str, max_bytes: int) -> list[Step]:
    """Every event of the run (once each: a replayed event's copies are one step), oldest first."""
    since = start_ms(correlation_id)
    low = str(since) if since is not None else "-"
    found: dict[str, Step] = {}
    needle = codec.to_json(correlation_id)[1:-1]  # as the id appears inside the envelope JSON
    async for raw in client.scan_iter(match=keys.STREAM_PATTERN, count=1000, _type="stream"):
        key = raw.decode()
        async for entry_id, fields in _entries(client, key, low):
            body = fields.get(codec.FIELD_BODY.encode(), b"")
            if needle not in body:  # cheap test before parsing: most entries belong to other runs
                continue
            env = _decode(fields, max_bytes)
            if env is not None and env.correlation_id == correlation_id:
                found.setdefault(env.id, Step(env, key, entry_id))
    async for raw in client.scan_iter(match=keys.DEAD_LETTER_PATTERN, count=1000, _type="stream"):
        key = raw.decode()
        async for entry_id, fields in _entries(client, key, low):
            original = {
                k[len(deadletter.ORIGINAL_PREFIX) :]: v
                for k, v in fields.items()
                if k.startswith(deadletter.ORIGINAL_PREFIX.encode())
            }
            if needle not in original.get(codec.FIELD_BODY.encode(), b""):
                continue
            env = _decode(original, max_bytes)
            if env is None or env.correlation_id != correlation_id:
                continue
            group = fields.get(deadletter.FIELD_GROUP.encode(), b"?").decode(errors="replace")
            error = fields.get(deadletter.FIELD_ERROR_TYPE.encode(), b"").decode(errors="replace")
            step = found.setdefault(env.id, Step(env, key, entry_id))
            step.dead_letter = (
                f"{group}: {error}" if step.dead_letter is None else f"{step.dead_letter}; {group}: {error}"
            )
    return sorted(found.values(), key=lambda s: (s.envelope.occurred_at, s.envelope.id))


def tree(steps: list[Step]) -> list[Step]:
    """Link each step under its cause; the roots (no cause in the run) are returned, oldest first."""
    by_id = {s.envelope.id: s for s in steps}
    roots = []
    for step in steps:
        cause = by_id.get(step.envelope.causation_id or "")
        if cause is None or cause is step:
            roots.append(step)
        else:
            cause.children.append(step)
    return roots


def span(steps: list[Step]) -> tuple[datetime, datetime] | None:
    """The first and last event time of the run."""
    if not steps:
        return None
    times = [s.envelope.occurred_at for s in steps]
    return min(times), max(times)


async def _entries(client: Redis, key: str, low: str) -> Any:
    while True:
        page = cast("list[Entry]", await client.xrange(key, min=low, max="+", count=PAGE))
        for entry_id, fields in page:
            yield entry_id.decode(), fields
        if len(page) < PAGE:
            return
        low = f"({page[-1][0].decode()}"


def _decode(fields: dict[bytes, bytes], max_bytes: int) -> Envelope | None:
    try:
        return codec.decode(fields, max_bytes)
    except SchemaError:
        return None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
