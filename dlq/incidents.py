"""Incidents: dead letters grouped by fingerprint, one per distinct failure.

Incidents are computed from the dead letters themselves each time they are asked for, not
kept as counters beside them. Why: the letters are the only record, so an incident cannot
disagree with them. A replay or a purge (by `aiwf dlq`, by the gateway, by a hand-typed XDEL)
removes letters and thereby resolves their incident, with no bookkeeping to forget; a new
letter with a known fingerprint lands in the same group, so it bumps that incident's count
and never opens a second one. The commit path and its Lua script stay untouched (no cost per
dead letter), and a better fingerprint rule regroups old letters too, with nothing to
migrate. The price is one read of every letter per listing (bounded by
letters.MAX_SELECTION): a scan of 1,000 letters takes milliseconds.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiwf.bus.alerts import Alert
from aiwf.bus.connection import Redis
from aiwf.dlq import letters as letters_
from aiwf.dlq.errors import BadArgument, UnknownLetter
from aiwf.dlq.filters import Filter
from aiwf.dlq.fingerprint import ID_LENGTH, ID_PATTERN, Fingerprint, of_letter
from aiwf.dlq.letters import Letter
from aiwf.schemas.masking import mask_sealed_text as mask_text


@dataclass(frozen=True)
class Incident:
    """One distinct failure: its fingerprint and every dead letter that has it, oldest first."""

    fingerprint: Fingerprint
    letters: tuple[Letter, ...]

    @property
    def id(self) -> str:
        """The fingerprint's id: stable for as long as the failure recurs."""
        return self.fingerprint.id

    @property
    def count(self) -> int:
        """How many dead letters have this fingerprint now."""
        return len(self.letters)

    @property
    def first(self) -> Letter:
        """The oldest letter (first seen)."""
        return self.letters[0]

    @property
    def sample(self) -> Letter:
        """The newest letter: the one a report shows in full."""
        return self.letters[-1]

    @property
    def event_types(self) -> list[str]:
        """Every event type among the letters (one, unless the group's handler is shared), sorted."""
        return sorted({lt.event_type or "?" for lt in self.letters})

    @property
    def domains(self) -> list[str]:
        """The dead-letter streams the letters are on, sorted."""
        return sorted({lt.domain for lt in self.letters})

    def summary(self) -> dict[str, Any]:
        """The row `aiwf incidents --json` prints."""
        return {
            "id": self.id,
            "kind": "dead_letters",
            "service": self.fingerprint.service,
            "error_type": self.fingerprint.error_type,
            "frame": self.fingerprint.frame,
            "count": self.count,
            "first_seen": self.first.failed_at,
            "last_seen": self.sample.failed_at,
            "event_types": self.event_types,
            "streams": self.domains,
            "error": mask_text(self.sample.error),
            "sample": self.sample.ref,
        }


def alert_id(alert: Alert) -> str:
    """The incident id of a firing alert: 12 hex digits over its alert name, service and worker."""
    return hashlib.sha256(f"alert\x1f{alert.id}".encode()).hexdigest()[:ID_LENGTH]


def alert_summary(alert: Alert, now: datetime | None = None) -> dict[str, Any]:
    """The `aiwf incidents --json` row of a firing alert (one incident per alert and service, count 1)."""
    now = now or datetime.now(UTC)
    return {
        "id": alert_id(alert),
        "kind": "alert",
        "service": alert.service,
        "error_type": alert.name,
        "frame": "",
        "count": 1,
        "first_seen": datetime.fromtimestamp(alert.since, UTC).isoformat(),
        "last_seen": now.isoformat(),
        "event_types": [],
        "streams": [],
        "error": alert.why,
        "sample": None,
        "severity": alert.severity,
    }


def group(found: list[Letter]) -> list[Incident]:
    """Letters grouped by fingerprint, the most recently seen incident first."""
    by_print: dict[Fingerprint, list[Letter]] = {}
    for letter in sorted(found, key=Letter.order):
        by_print.setdefault(of_letter(letter), []).append(letter)
    incidents = [Incident(fp, tuple(lts)) for fp, lts in by_print.items()]
    incidents.sort(key=lambda inc: inc.sample.order(), reverse=True)
    return incidents


async def open_incidents(client: Redis) -> list[Incident]:
    """Every open incident: one per distinct fingerprint among the dead letters there are now."""
    return group(await letters_.scan(client, Filter(), newest_first=False))


async def get(client: Redis, incident_id: str) -> Incident:
    """One open incident by id; UnknownLetter when no dead letter has that fingerprint (any more)."""
    check_id(incident_id)
    for incident in await open_incidents(client):
        if incident.id == incident_id:
            return incident
    raise UnknownLetter(
        f"no open incident {incident_id}: its letters were replayed or purged, or it never existed "
        "(see `aiwf incidents`)"
    )


def check_id(text: str) -> str:
    """An incident id as `aiwf incidents` prints it (12 hex digits); BadArgument otherwise."""
    if not ID_PATTERN.match(text):
        raise BadArgument(f"bad incident id {text[:40]!r}: expected 12 hex digits as `aiwf incidents` shows them")
    return text
