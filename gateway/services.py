"""Which services are up, from their heartbeats (bus/health.py), and the status rows of GET /api/v1/status.

A request to a service asks `ServiceStates.online()`: the heartbeats are read at most once per
REFRESH_S per process, so a burst of requests costs one SCAN, not one per request.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiwf.bus.connection import Redis
from aiwf.bus.health import heartbeats, summarize
from aiwf.dlq.inspect import streams
from aiwf.workers import known_services

__all__ = ["UP_STATES", "ServiceStates", "status"]

#: States in which a service takes its requests (degraded: on a fallback, still answering).
UP_STATES = frozenset({"running", "degraded"})
REFRESH_S = 1.0


class ServiceStates:
    """Each service's state from the heartbeats, cached for REFRESH_S."""

    def __init__(self, client: Redis) -> None:
        self._client = client
        self._states: dict[str, str] = {}
        self._read_at = 0.0
        self._lock = asyncio.Lock()

    async def state(self, service: str) -> str:
        """running | degraded | paused | stopping | unresponsive | offline."""
        async with self._lock:
            if time.monotonic() - self._read_at > REFRESH_S:
                beats = await heartbeats(self._client)
                self._states = {r["service"]: r["state"] for r in summarize(beats, known_services(beats))}
                self._read_at = time.monotonic()
        return self._states.get(service, "offline")

    async def online(self, service: str) -> bool:
        """Whether `service` takes requests now."""
        return await self.state(service) in UP_STATES


async def status(client: Redis) -> list[dict[str, Any]]:
    """Every service: state, instances, backlog (entries its groups have not read yet), pending, dead letters.

    A service's groups carry its name (Subscription(group=service)); dead letters are those on
    the streams it reads.
    """
    beats = await heartbeats(client)
    infos = await streams(client)
    rows = []
    for row in summarize(beats, known_services(beats)):
        name = row["service"]
        read = [(s, g) for s in infos for g in s.groups if g.name == name]
        rows.append(
            {
                "service": name,
                "state": row["state"],
                "online": row["state"] in UP_STATES,
                "instances": row["instances"],
                "backlog": sum(g.lag.value or 0 for _, g in read),
                "pending": sum(g.pending for _, g in read),
                "dead_letters": sum({s.key: s.dead_letters for s, _ in read}.values()),
                "last_error": row["last_error"],
                "reason": row["reason"],
                "alarms": row["alarms"],
            }
        )
    return rows
