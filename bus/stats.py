"""Counters of one consumer, reported in its worker's heartbeat."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Stats:
    """What a consumer did since it started."""

    processed: int = 0
    failed: int = 0
    dead_lettered: int = 0
    duplicates: int = 0
    skipped: int = 0
    reclaimed: int = 0
    conflicts: int = 0
    timeouts: int = 0
    groups_recreated: int = 0
    consumers_pruned: int = 0
    #: Entries handed back for a healthy instance while this one's backend was missing.
    released: int = 0
    last_error: str = ""
