"""Shadow traffic: a release run on real input in its own group, its outputs kept apart, then compared.

run       `shadowed(service, release)`: the same handlers, named `<service>.shadow`, each group
          `<group>.shadow.<release>` reading from new entries on; BusConfig.release.shadow makes
          the commit write outputs and dead letters under `aiwf:shadow:<release>:` (bus/commit.py)
          and drop event-store appends and read-model writes.
compare   `compare(...)`: per input event (causation id) the shadow's outputs against the active
          release's on the real streams: equal | different (with a diff) | failed (dead-lettered)
          | pending (the shadow has not answered yet).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, replace
from typing import Any, cast

import orjson

from aiwf.bus import codec, keys
from aiwf.bus.connection import Redis
from aiwf.bus.deadletter import ORIGINAL_PREFIX
from aiwf.bus.worker import Service

__all__ = ["Verdict", "compare", "shadow_releases", "shadowed"]


def shadowed(service: Service, release: str) -> Service:
    """`service` as a shadow of `release`: own name, own groups, reading only what comes from now on."""
    subs = [replace(s, group=f"{s.group}.shadow.{release}", start="$") for s in service.subscriptions]
    return replace(service, name=f"{service.name}.shadow", subscriptions=subs)


@dataclass(frozen=True)
class Verdict:
    """One input event's comparison."""

    causation_id: str
    verdict: str
    diff: str = ""


async def shadow_releases(client: Redis) -> list[str]:
    """Every release with shadow keys."""
    found = {k.decode().split(":")[2] async for k in client.scan_iter(match=keys.SHADOW_PATTERN, count=500)}
    return sorted(found)


async def _envelopes(client: Redis, stream: str, field: str = codec.FIELD_BODY) -> list[dict[str, Any]]:
    rows = cast("list[tuple[bytes, dict[bytes, bytes]]]", await client.xrange(stream))
    return [orjson.loads(f[field.encode()]) for _, f in rows if field.encode() in f]


async def _streams(client: Redis, pattern: str) -> list[str]:
    return sorted({k.decode() async for k in client.scan_iter(match=pattern, count=500, _type="stream")})


def _shown(outputs: list[dict[str, Any]]) -> list[str]:
    rows = sorted(({"type": o["type"], "payload": o["payload"]} for o in outputs), key=orjson.dumps)
    return orjson.dumps(rows, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode().splitlines()


async def compare(client: Redis, service: str, release: str) -> list[Verdict]:
    """The shadow of `release` against the active outputs of `service`, by causation id, oldest first."""
    shadow_out: dict[str, list[dict[str, Any]]] = {}
    for stream in await _streams(client, keys.shadow_stream(release, "*")):
        for env in await _envelopes(client, stream):
            shadow_out.setdefault(env["causation_id"], []).append(env)
    failed: dict[str, str] = {}
    for stream in await _streams(client, keys.shadow_dead_letters(release, "*")):
        for env in await _envelopes(client, stream, ORIGINAL_PREFIX + codec.FIELD_BODY):
            failed[env["id"]] = "failed"
    domains = {keys.domain_of(e["type"]) for outs in shadow_out.values() for e in outs}
    real: dict[str, list[dict[str, Any]]] = {}
    for domain in sorted(domains):
        for env in await _envelopes(client, keys.stream(domain)):
            if env.get("producer") == service and env.get("causation_id") in shadow_out.keys() | failed.keys():
                real.setdefault(env["causation_id"], []).append(env)
    verdicts = []
    for cause in sorted(shadow_out.keys() | failed.keys()):
        if cause in failed:
            verdicts.append(Verdict(cause, "failed"))
        elif cause not in real:
            verdicts.append(Verdict(cause, "pending"))
        elif _shown(real[cause]) == _shown(shadow_out[cause]):
            verdicts.append(Verdict(cause, "equal"))
        else:
            lines = difflib.unified_diff(_shown(real[cause]), _shown(shadow_out[cause]), "active", release, lineterm="")
            verdicts.append(Verdict(cause, "different", "\n".join(lines)))
    return verdicts
