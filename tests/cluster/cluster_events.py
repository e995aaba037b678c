"""An output event of another domain: `elsewhere`'s stream hashes to another slot (and node) than `testing`'s."""

from __future__ import annotations

from aiwf.schemas import Event, event


@event("elsewhere.item.counted", version=1)
class CountedElsewhere(Event):
    """One per ItemCreated, written by a handler on `testing` to the `elsewhere` stream."""

    source_title: str
    n: int
