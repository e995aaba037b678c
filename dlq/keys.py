"""Keys the DLQ tools own, next to bus/keys.py's (candidates to move there).

They stay outside `aiwf:dlq:*` and `aiwf:ev:*` so pattern scans for dead-letter and event
streams never see them, and per-domain ones carry the `{domain}` hash tag so the replay
script touches one Redis Cluster slot.
"""

from __future__ import annotations

from bus.keys import PREFIX

#: One entry per replay or purge run: who, when, how many, which letters.
AUDIT = f"{PREFIX}:audit"
#: The audit stream keeps about this many entries (XADD MAXLEN ~).
AUDIT_MAXLEN = 100_000


def replay_count(domain: str, event_id: str) -> str:
    """How many times one event id was replayed from `domain`'s dead letters."""
    return f"{PREFIX}:replay:count:{{{domain}}}:{event_id}"


def replayed_as(domain: str) -> str:
    """Hash: dead-letter entry id -> stream entry id it was replayed as."""
    return f"{PREFIX}:replay:done:{{{domain}}}"
