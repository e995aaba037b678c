"""Alerts without Prometheus: the rules of deploy/prometheus/alerts.yml, evaluated from Redis.

The inputs are what workers already write: their heartbeats (state, and the handler figures of
bus/metrics/window.py over the last AIWF_ALERT_WINDOW seconds) and `aiwf:seen`, the time of
each service's last heartbeat, which outlives the heartbeats (a graceful stop removes it: a
planned stop is not an outage). Thresholds are alerts.yml's:

    AiwfErrorRateHigh    critical  failed / handler calls of a service over the window > 5 %
    AiwfHandlerSlow      warning   p95 handler time > 2 s (more than 5 % of calls over 2 s), for AIWF_ALERT_FOR
    AiwfHandlerVerySlow  critical  the same over 5 s, for AIWF_ALERT_FOR
    AiwfServiceOffline   critical  no live worker for AIWF_ALERT_OFFLINE_AFTER after the last heartbeat
    AiwfServicesOffline  critical  two or more services offline
    AiwfMemoryHigh       warning   a worker's resident memory > 90 % of its bound, for AIWF_ALERT_FOR
    AiwfBacklogPastBound warning   a stream's last retention pass found a group past its backlog bound

Since when: an offline service since its last heartbeat; any other condition since the first
evaluation that found it holding, kept in `aiwf:alerts` (HSETNX, so concurrent evaluators agree;
deleted when the condition stops holding). Evaluations happen on every `aiwf alerts`,
`aiwf alerts --watch` tick, `aiwf health` and GET /api/v1/status; one whose write is refused (a
read-only user or replica) still reports, with since-when the moment of that evaluation.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

import orjson
from redis.exceptions import ResponseError

from aiwf.bus import alarms, keys
from aiwf.bus.config import AlertSettings
from aiwf.bus.connection import Redis
from aiwf.bus.health import STALE_AFTER_S, heartbeats, summarize

ERROR_RATE, SLOW_SHARE, MEMORY_SHARE = 0.05, 0.05, 0.9
#: Heartbeat states of a worker that is not there (bus/health.py).
ABSENT = frozenset({"offline", "unresponsive"})
OFFLINE, SERVICES_OFFLINE = "AiwfServiceOffline", "AiwfServicesOffline"


@dataclass(frozen=True)
class Alert:
    """One alert condition that holds: `firing` once it has held for its rule's duration."""

    name: str
    service: str
    severity: str
    why: str
    since: float  # epoch seconds the condition has held since
    firing: bool
    instance: str = ""  # the worker (consumer name), for per-worker alerts

    @property
    def id(self) -> str:
        """`<alert>/<service>[/<worker>]`: one per alert and what it is about."""
        return "/".join(p for p in (self.name, self.service, self.instance) if p)

    def as_json(self) -> dict[str, Any]:
        """The row `aiwf alerts --json` prints."""
        return {
            "id": self.id,
            "alert": self.name,
            "service": self.service,
            "instance": self.instance,
            "severity": self.severity,
            "state": "firing" if self.firing else "pending",
            "since": self.since,
            "why": self.why,
        }


@dataclass(frozen=True)
class _Holds:
    """A condition found holding by one evaluation, before its since-when is known."""

    name: str
    service: str
    severity: str
    why: str
    for_s: float
    instance: str = ""

    @property
    def id(self) -> str:
        return "/".join(p for p in (self.name, self.service, self.instance) if p)


async def evaluate(client: Redis, settings: AlertSettings, now: float | None = None) -> list[Alert]:
    """Every alert whose condition holds now, firing or pending, worst first; records since-when."""
    now = time.time() if now is None else now
    beats = await heartbeats(client)
    seen = {
        k.decode(): float(v) for k, v in cast("dict[bytes, bytes]", await client.hgetall(keys.SERVICES_SEEN)).items()
    }
    holding = rate_conditions(beats, settings, now) + await backlog_conditions(client)
    stored = {k.decode(): v for k, v in cast("dict[bytes, bytes]", await client.hgetall(keys.ALERTS)).items()}
    pipe = client.pipeline(transaction=False)
    for cond in holding:
        if cond.id not in stored:
            pipe.hsetnx(keys.ALERTS, cond.id, orjson.dumps({"since": now}))
    gone = [aid for aid in stored if aid not in {c.id for c in holding}]
    if gone:
        pipe.hdel(keys.ALERTS, *gone)
    with contextlib.suppress(ResponseError):  # a read-only user or replica (NOPERM, READONLY): report, not remember
        await pipe.execute()
    alerts = [_since(c, stored.get(c.id), now) for c in holding]
    alerts += offline_alerts(beats, seen, settings, now)
    return sorted(alerts, key=lambda a: (not a.firing, a.severity != "critical", a.since, a.id))


def rate_conditions(beats: list[dict[str, str]], settings: AlertSettings, now: float) -> list[_Holds]:
    """Error rate, latency and memory conditions that hold over the live workers' windows."""
    live = [
        b
        for b in beats
        if b.get("service") and b.get("state") != "stopped" and now - _num(b, "beat_at") <= STALE_AFTER_S
    ]
    out: list[_Holds] = []
    for service in sorted({b["service"] for b in live}):
        mine = [b for b in live if b["service"] == service]
        calls, failures, slow, very_slow = (
            sum(_num(b, f) for b in mine)
            for f in ("window_calls", "window_failures", "window_slow", "window_very_slow")
        )
        window = max((_num(b, "window_s") for b in mine), default=settings.window_s)
        if calls and failures / calls > ERROR_RATE:
            why = (
                f"{failures:.0f} of {calls:.0f} handler calls failed ({failures / calls:.1%}) over {window:g}s (> 5 %)"
            )
            out.append(_Holds("AiwfErrorRateHigh", service, "critical", why, 0.0))
        for name, severity, count, edge in (
            ("AiwfHandlerSlow", "warning", slow, 2),
            ("AiwfHandlerVerySlow", "critical", very_slow, 5),
        ):
            if calls and count / calls > SLOW_SHARE:
                why = f"p95 handler time over {edge} s: {count:.0f} of {calls:.0f} calls took longer over {window:g}s"
                out.append(_Holds(name, service, severity, why, settings.for_s))
        for beat in mine:
            used, bound = _num(beat, "memory_bytes"), _num(beat, "memory_limit_bytes")
            if bound and used / bound > MEMORY_SHARE:
                why = (
                    f"resident memory {used / 2**20:.0f} MiB is {used / bound:.0%} of its {bound / 2**20:.0f} MiB bound"
                )
                out.append(_Holds("AiwfMemoryHigh", service, "warning", why, settings.for_s, beat.get("consumer", "")))
    return out


async def backlog_conditions(client: Redis) -> list[_Holds]:
    """AiwfBacklogPastBound per stream whose last retention pass found a group past the bound (bus/alarms.py)."""
    out = []
    async for raw in client.scan_iter(match=keys.STREAM_PATTERN, count=1000, _type="stream"):
        stream = raw.decode() if isinstance(raw, bytes) else str(raw)
        found = await alarms.read(client, stream)
        if found.backlog_alarm:
            why = alarms.backlog_line(keys.stream_domain(stream) or stream, found.backlog, found.backlog_bound)
            out.append(_Holds("AiwfBacklogPastBound", "", "warning", why, 0.0, keys.stream_domain(stream) or stream))
    return sorted(out, key=lambda h: h.id)


def offline_alerts(
    beats: list[dict[str, str]], seen: dict[str, float], settings: AlertSettings, now: float
) -> list[Alert]:
    """AiwfServiceOffline per service seen before with no live worker now; AiwfServicesOffline for two or more."""
    rows = {r["service"]: r for r in summarize(beats, sorted(seen), now)}
    down: list[Alert] = []
    for service, last in sorted(seen.items()):
        if rows[service]["state"] not in ABSENT:
            continue
        firing = now - last >= settings.offline_after_s
        why = f"no live worker; last heartbeat {now - last:.0f}s ago (alert after {settings.offline_after_s:g}s)"
        down.append(Alert(OFFLINE, service, "critical", why, last, firing))
    fired_at = sorted(a.since + settings.offline_after_s for a in down if a.firing)
    if len(fired_at) >= 2:
        names = ", ".join(a.service for a in down if a.firing)
        why = f"{len(fired_at)} services offline: {names}"
        down.append(Alert(SERVICES_OFFLINE, "", "critical", why, fired_at[1], True))
    return down


def firing_by_service(alerts: Iterable[Alert]) -> dict[str, list[str]]:
    """Firing alert names per service (what `aiwf health` shows beside each state)."""
    out: dict[str, list[str]] = {}
    for alert in alerts:
        if alert.firing and alert.service:
            out.setdefault(alert.service, []).append(alert.name)
    return out


def _since(cond: _Holds, stored: bytes | None, now: float) -> Alert:
    since = now
    if stored is not None:
        try:
            since = float(orjson.loads(stored)["since"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            since = now
    return Alert(cond.name, cond.service, cond.severity, cond.why, since, now - since >= cond.for_s, cond.instance)


def _num(beat: dict[str, str], name: str) -> float:
    return _float(beat.get(name) or 0)


def _float(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
