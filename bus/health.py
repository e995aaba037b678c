"""Service health from worker heartbeats: what `aiwf health` and `aiwf up` show.

A worker beats every `every_s` (AIWF_HEARTBEAT, reported in the beat) over a connection named
keys.heartbeat_client. An instance is judged by its last beat's age and by CLIENT LIST:

    offline       its connection is gone (the process died, SIGKILL included) and its last beat
                  is more than OFFLINE_AFTER_BEATS intervals old (a live worker would have beaten
                  and reconnected by then)
    unresponsive  still connected (or CLIENT LIST refused), but no beat for STALE_AFTER_BEATS
                  intervals: frozen, stopped, or too busy to beat
    else          the state the beat reports

A service shows the best state of its instances; `instance_states` counts them all. Its
processed / failed / dead-lettered counters are the service totals kept in Redis
(keys.service_stats), which survive restarts; pending is what live instances hold now.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

import orjson
from redis.exceptions import ResponseError

from aiwf.bus import keys
from aiwf.bus.connection import Redis
from aiwf.bus.heartbeat import HEARTBEAT_EVERY_S, TOTALS

#: A beat this many intervals old, from a worker still connected, is unresponsive.
STALE_AFTER_BEATS = 2.0
#: A worker whose connection is gone is offline once its beat is this many intervals old.
OFFLINE_AFTER_BEATS = 1.5
STALE_AFTER_S = STALE_AFTER_BEATS * HEARTBEAT_EVERY_S
#: Worst first: a service shows the best state any of its instances reports.
STATES = ("running", "degraded", "paused", "warm", "stuck", "misconfigured", "stopping", "unresponsive", "offline")
#: Counters summed over the live instances.
LIVE_COUNTERS = ("pending", "groups_recreated")


async def heartbeats(client: Redis) -> list[dict[str, str]]:
    """Every worker heartbeat still in Redis, by service, each with `connected`: "1" when its
    heartbeat connection is in CLIENT LIST, "0" when not, "" when unknown (CLIENT refused)."""
    rows = []
    async for key in client.scan_iter(match=keys.HEARTBEAT_PATTERN, count=200):
        beat = cast("dict[bytes, bytes]", await client.hgetall(key))
        rows.append({k.decode(): v.decode() for k, v in beat.items()})
    names = await _client_names(client)
    for row in rows:
        row["connected"] = "" if names is None or not row.get("client") else str(int(row["client"] in names))
    return sorted(rows, key=lambda r: r.get("service", ""))


async def totals(client: Redis, services: Iterable[str]) -> dict[str, dict[str, int]]:
    """Each service's counters summed over every instance it ran (they survive restarts)."""
    out = {}
    for name in services:
        raw = cast("dict[bytes, bytes]", await client.hgetall(keys.service_stats(name)))
        out[name] = {k.decode(): int(v) for k, v in raw.items()}
    return out


async def _client_names(client: Redis) -> set[str] | None:
    try:
        listed = await client.client_list()
    except ResponseError:  # CLIENT not permitted to this user: judge by the beats' age alone
        return None
    return {str(c.get("name")) for c in listed if c.get("name")}


def summarize(
    beats: Iterable[dict[str, str]],
    services: Sequence[str],
    now: float | None = None,
    service_totals: Mapping[str, Mapping[str, int]] | None = None,
) -> list[dict[str, Any]]:
    """One row per service: state (best instance), instances up, how many in each state, and its
    counters (`service_totals` when given, else summed over live instances)."""
    now = time.time() if now is None else now
    beats = list(beats)
    rows = []
    for name in services:
        mine = [b for b in beats if b.get("service") == name and b.get("state") != "stopped"]
        states = [instance_state(b, now) for b in mine]
        live = [b for b, s in zip(mine, states, strict=True) if s not in {"unresponsive", "offline"}]
        summed = {k: sum(int(b.get(k) or 0) for b in live) for k in (*TOTALS, *LIVE_COUNTERS)}
        if service_totals is not None:
            summed |= {k: int(service_totals.get(name, {}).get(k, 0)) for k in TOTALS}
        rows.append(
            {
                "service": name,
                "state": min(states or ["offline"], key=STATES.index),
                "instances": len(live),
                "instance_states": dict(Counter(states)),
                **summed,
                "reason": next((b["reason"] for b in live if b.get("reason")), ""),
                "last_error": next((b["last_error"] for b in live if b.get("last_error")), ""),
                "alarms": list(dict.fromkeys(a for b in live for a in _alarms(b))),
            }
        )
    return rows


def describe(row: Mapping[str, Any]) -> str:
    """The state in words: "running", or "running, 1 of 2 instances degraded" when some differ."""
    others = {s: n for s, n in row.get("instance_states", {}).items() if s != row["state"]}
    if not others:
        return str(row["state"])
    total = sum(row["instance_states"].values())
    noun = "instance" if total == 1 else "instances"
    return ", ".join([row["state"], *(f"{n} of {total} {noun} {s}" for s, n in sorted(others.items()))])


def _alarms(beat: dict[str, str]) -> list[str]:
    """The heartbeat's alarms (a JSON list of lines); a malformed field is shown as it is."""
    raw = beat.get("alarms") or "[]"
    try:
        found = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return [raw]
    return [str(a) for a in found] if isinstance(found, list) else [raw]


def instance_state(beat: Mapping[str, str], now: float) -> str:
    """One instance's state from its beat and whether its connection is still there."""
    every = float(beat.get("every_s") or HEARTBEAT_EVERY_S)
    beat_s = int(beat["beat_ms"]) / 1000 if beat.get("beat_ms") else float(beat.get("beat_at") or 0)
    age = now - beat_s
    connected = beat.get("connected", "")
    if connected == "0" and age > OFFLINE_AFTER_BEATS * every:
        return "offline"
    if age > STALE_AFTER_BEATS * every + (0 if beat.get("beat_ms") else 1):  # beat_at is whole seconds
        return "offline" if connected == "0" else "unresponsive"
    state = beat.get("state", "offline")
    return state if state in STATES else "offline"
