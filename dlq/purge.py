"""Purge: delete selected dead letters for good, in chunks, and audit the run."""

from __future__ import annotations

from collections import defaultdict

from aiwf.bus import keys
from aiwf.bus.connection import Redis
from aiwf.dlq import audit
from aiwf.dlq.letters import Letter

#: Entry ids per XDEL call.
CHUNK = 500


async def purge(client: Redis, letters: list[Letter]) -> int:
    """XDEL `letters`; returns how many were still there to delete (others went meanwhile)."""
    by_domain: dict[str, list[str]] = defaultdict(list)
    for letter in letters:
        by_domain[letter.domain].append(letter.entry_id)
    removed = 0
    for domain, ids in sorted(by_domain.items()):
        for start in range(0, len(ids), CHUNK):
            removed += int(await client.xdel(keys.dead_letters(domain), *ids[start : start + CHUNK]))
    if removed:
        await audit.record(
            client,
            "dlq.purge",
            count=removed,
            selected=len(letters),
            letters=[{"id": lt.ref, "event_id": lt.event_id} for lt in letters],
        )
    return removed
