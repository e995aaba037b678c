"""Compare two expansions of a calendar: what was added, updated or removed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aiwf.workers.calendar.expand import Occurrence, OccurrenceKey

__all__ = ["Changes", "diff"]


@dataclass(frozen=True, slots=True)
class Changes:
    """Differences between two snapshots, each list sorted by key."""

    added: list[Occurrence]
    #: The new version of every occurrence whose SEQUENCE or content hash changed.
    updated: list[Occurrence]
    #: The old version of every occurrence that is gone.
    removed: list[Occurrence]

    @property
    def is_empty(self) -> bool:
        """True when the snapshots are equivalent."""
        return not (self.added or self.updated or self.removed)


def diff(old: Mapping[OccurrenceKey, Occurrence], new: Mapping[OccurrenceKey, Occurrence]) -> Changes:
    """Occurrences added, updated (SEQUENCE or content hash changed) and removed between ``old`` and ``new``.

    Expand both snapshots over the same window: an occurrence that merely left
    the window is reported as removed.
    """
    added = [new[k] for k in sorted(new.keys() - old.keys())]
    removed = [old[k] for k in sorted(old.keys() - new.keys())]
    updated = [
        new[k]
        for k in sorted(old.keys() & new.keys())
        if (old[k].sequence, old[k].content_hash) != (new[k].sequence, new[k].content_hash)
    ]
    return Changes(added=added, updated=updated, removed=removed)
