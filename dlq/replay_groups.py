"""Which processed-markers a replay sets or clears, from where each consumer group stands.

Default replay: every group may run the copy, so any suppression marker an earlier targeted
replay left for this event is cleared. `group="G"`: G's own suppression marker is cleared, and
every other group already *past* the original entry (delivered to it, not pending there) gets
one, so it acks the copy unread. A group not yet past it gets none: it runs the event once
either way (see dlq/replay.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiwf.bus import codec, keys
from aiwf.bus.connection import Redis
from aiwf.bus.markers import Marker, marker
from aiwf.dlq.errors import NotReplayable
from aiwf.dlq.letters import Letter


@dataclass(frozen=True)
class Markers:
    """Processed-markers of one replay: to set (suppress) and to delete if they suppress (clear)."""

    suppress: list[Marker]
    clear: list[Marker]


async def touched_markers(client: Redis, letter: Letter, event_id: str, group: str | None) -> Markers:
    """The markers replaying `letter` (aimed at `group`, or every group) touches; NotReplayable if it cannot."""
    if group is not None and letter.group != group:
        raise NotReplayable(f"dead-lettered by group {letter.group!r}, not {group!r}")
    stream = keys.stream(letter.domain)
    groups = await group_positions(client, stream)
    if group is None:
        return Markers([], [marker(letter.domain, g, event_id) for g in groups])
    if group not in groups:
        raise NotReplayable(f"group {group!r} does not exist on {stream}")
    others = {g: at for g, at in groups.items() if g != group}
    done = await past(client, stream, letter.source_id, others)
    suppress = [marker(letter.domain, g, event_id) for g in others if g in done]
    return Markers(suppress, [marker(letter.domain, group, event_id)])


async def group_positions(client: Redis, stream: str) -> dict[str, str]:
    """Group name -> last-delivered-id on `stream` ({} when the stream does not exist)."""
    if not await client.exists(stream):
        return {}
    info: list[dict[str, Any]] = await client.xinfo_groups(stream)
    return {codec.text(g["name"]): codec.text(g["last-delivered-id"]) for g in info}


async def past(client: Redis, stream: str, entry_id: str, positions: dict[str, str]) -> set[str]:
    """The groups that are done with `entry_id`: delivered to them, and not pending there."""
    entry = _order(entry_id)
    if entry is None or not positions:
        return set()  # an unreadable source id: suppress nobody rather than risk losing the event
    delivered = [g for g, last in positions.items() if (_order(last) or (0, 0)) >= entry]
    pipe = client.pipeline(transaction=False)
    for group in delivered:
        pipe.xpending_range(stream, group, min=entry_id, max=entry_id, count=1)
    pending = await pipe.execute()
    return {g for g, rows in zip(delivered, pending, strict=True) if not rows}


def _order(entry_id: str) -> tuple[int, int] | None:
    ms, _, seq = entry_id.partition("-")
    if not (ms.isdigit() and seq.isdigit()):
        return None
    return int(ms), int(seq)
