"""Service health from worker heartbeats: what `aiwf health` and `aiwf up` show.

A worker refreshes its heartbeat every HEARTBEAT_EVERY_S with a TTL of HEARTBEAT_TTL_S; a
heartbeat older than STALE_AFTER_S belongs to a worker that stopped answering (killed,
frozen) before its key expired, so it no longer counts as running.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any, cast

import orjson

from aiwf.bus import keys
from aiwf.bus.connection import Redis
from aiwf.bus.heartbeat import HEARTBEAT_EVERY_S

STALE_AFTER_S = 3 * HEARTBEAT_EVERY_S
#: Worst first: a service shows the best state any of its instances reports.
STATES = ("running", "degraded", "paused", "warm", "stuck", "misconfigured", "stopping", "unresponsive", "offline")


async def heartbeats(client: Redis) -> list[dict[str, str]]:
    """Every live worker's heartbeat, by service."""
    rows = []
    async for key in client.scan_iter(match=keys.HEARTBEAT_PATTERN, count=200):
        beat = cast("dict[bytes, bytes]", await client.hgetall(key))
        rows.append({k.decode(): v.decode() for k, v in beat.items()})
    return sorted(rows, key=lambda r: r.get("service", ""))


def summarize(
    beats: Iterable[dict[str, str]], services: Sequence[str], now: float | None = None
) -> list[dict[str, Any]]:
    """One row per service: state (best instance), instances up, and counters summed over instances."""
    now = time.time() if now is None else now
    beats = list(beats)
    rows = []
    for name in services:
        mine = [b for b in beats if b.get("service") == name and b.get("state") != "stopped"]
        states = [_state(b, now) for b in mine] or ["offline"]
        live = [b for b, s in zip(mine, states, strict=False) if s != "unresponsive"]
        rows.append(
            {
                "service": name,
                "state": min(states, key=STATES.index),
                "instances": len(live),
                **{
                    k: sum(int(b.get(k) or 0) for b in live)
                    for k in ("processed", "failed", "dead_lettered", "pending", "groups_recreated")
                },
                "reason": next((b["reason"] for b in live if b.get("reason")), ""),
                "last_error": next((b["last_error"] for b in live if b.get("last_error")), ""),
                "alarms": list(dict.fromkeys(a for b in live for a in _alarms(b))),
            }
        )
    return rows


def _alarms(beat: dict[str, str]) -> list[str]:
    """The heartbeat's alarms (a JSON list of lines); a malformed field is shown as it is."""
    raw = beat.get("alarms") or "[]"
    try:
        found = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return [raw]
    return [str(a) for a in found] if isinstance(found, list) else [raw]


def _state(beat: dict[str, str], now: float) -> str:
    if now - float(beat.get("beat_at") or 0) > STALE_AFTER_S:
        return "unresponsive"
    state = beat.get("state", "offline")
    return state if state in STATES else "offline"
