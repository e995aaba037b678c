"""Stream inspection: the `kafka-consumer-groups --describe` view for Redis Streams.

streams()  every event stream: length, groups, consumers, pending, worst lag, dead letters
groups()   one stream's groups with their consumers, idle times, pending counts and lag
(one group's pending entries and their forced reclaim: dlq/pending.py)

Lag is XINFO GROUPS `lag` where Redis has it (7.0+, and only while it is exact); otherwise
the entries after the group's last-delivered-id are counted with XRANGE, up to LAG_CAP.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, cast

from redis.exceptions import NoPermissionError, ResponseError

from aiwf.bus import codec, keys
from aiwf.bus.connection import Redis
from aiwf.bus.groups import is_missing_group
from aiwf.dlq.errors import UnknownStream

#: Counting lag by hand stops here and reports "10000+".
LAG_CAP = 10_000
LAG_PAGE = 1_000
Info = dict[str, Any]


@dataclass(frozen=True)
class Lag:
    """Entries a group has not been delivered yet; `value` None when unknown."""

    value: int | None
    capped: bool = False

    def __str__(self) -> str:
        if self.value is None:
            return "?"
        return f"{self.value}+" if self.capped else str(self.value)

    def as_json(self) -> dict[str, Any]:
        """`{"lag": n, "lag_capped": bool}`."""
        return {"lag": self.value, "lag_capped": self.capped}


@dataclass(frozen=True)
class ConsumerInfo:
    """One consumer of a group."""

    name: str
    pending: int
    idle_ms: int
    inactive_ms: int | None = None  # Redis 7.2+: since its last successful read

    def as_json(self) -> dict[str, Any]:
        """Plain data for --json."""
        return {"name": self.name, "pending": self.pending, "idle_ms": self.idle_ms, "inactive_ms": self.inactive_ms}


@dataclass(frozen=True)
class GroupInfo:
    """One consumer group on a stream."""

    name: str
    pending: int
    last_delivered_id: str
    lag: Lag
    consumer_count: int
    consumers: list[ConsumerInfo] = field(default_factory=list)

    @property
    def idle_ms(self) -> int | None:
        """Idle time of its most recently active consumer (None without consumers)."""
        return min((c.idle_ms for c in self.consumers), default=None)

    def as_json(self) -> dict[str, Any]:
        """Plain data for --json."""
        return {
            "name": self.name,
            "consumers": self.consumer_count,
            "pending": self.pending,
            "last_delivered_id": self.last_delivered_id,
            **self.lag.as_json(),
            "idle_ms": self.idle_ms,
            "consumer_details": [c.as_json() for c in self.consumers],
        }


@dataclass(frozen=True)
class StreamInfo:
    """One event stream and its groups."""

    key: str
    length: int
    last_entry_id: str | None
    groups: list[GroupInfo]
    dead_letters: int

    @property
    def domain(self) -> str:
        """The domain in the key, or the key itself for a stream outside the aiwf keyspace."""
        return keys.stream_domain(self.key) or self.key

    @property
    def lag(self) -> Lag:
        """The worst lag of its groups."""
        known = [g.lag for g in self.groups if g.lag.value is not None]
        if not known:
            return Lag(None) if self.groups else Lag(0)
        worst = max(known, key=lambda lag: (lag.value or 0, lag.capped))
        return worst if len(known) == len(self.groups) else Lag(worst.value, capped=True)

    @property
    def idle_ms(self) -> int | None:
        """Time since its newest entry was added."""
        if self.last_entry_id is None:
            return None
        return max(0, int(time.time() * 1000) - int(self.last_entry_id.split("-")[0]))

    def as_json(self) -> dict[str, Any]:
        """Plain data for --json."""
        return {
            "stream": self.domain,
            "key": self.key,
            "length": self.length,
            "groups": len(self.groups),
            "consumers": sum(g.consumer_count for g in self.groups),
            "pending": sum(g.pending for g in self.groups),
            **self.lag.as_json(),
            "dead_letters": self.dead_letters,
            "last_entry_id": self.last_entry_id,
            "idle_ms": self.idle_ms,
        }


async def stream_keys(client: Redis) -> list[str]:
    """Every aiwf event stream key, sorted."""
    found = {codec.text(k) async for k in client.scan_iter(match=keys.STREAM_PATTERN, count=1000, _type="stream")}
    return sorted(found)


async def streams(client: Redis) -> list[StreamInfo]:
    """Every event stream this Redis user may inspect, with its groups (consumer details left out: see groups()).

    Under per-service ACL users (bus/acl.py) a user sees only its streams: the others answer
    NOPERM and are left out, rather than failing the whole listing.
    """
    found = []
    for key in await stream_keys(client):
        try:
            found.append(await describe(client, key, with_consumers=False))
        except NoPermissionError:
            continue
    return found


async def describe(client: Redis, key: str, *, with_consumers: bool = True) -> StreamInfo:
    """One stream: length, newest entry, groups with lag, and its domain's dead-letter count."""
    await require_stream(client, key)
    info: Info = await client.xinfo_stream(key)
    domain = keys.stream_domain(key)
    dead = await client.xlen(keys.dead_letters(domain)) if domain is not None else 0
    last = info.get("last-entry")
    return StreamInfo(
        key=key,
        length=int(info["length"]),
        last_entry_id=codec.text(last[0]) if last else None,
        groups=await groups(client, key, with_consumers=with_consumers),
        dead_letters=int(dead),
    )


async def groups(client: Redis, key: str, *, with_consumers: bool = True) -> list[GroupInfo]:
    """The consumer groups of one stream, sorted by name."""
    await require_stream(client, key)
    rows: list[Info] = await client.xinfo_groups(key)
    found = []
    for row in sorted(rows, key=lambda r: codec.text(r["name"])):
        name = codec.text(row["name"])
        consumers = await _consumers(client, key, name) if with_consumers else []
        found.append(
            GroupInfo(
                name=name,
                pending=int(row["pending"]),
                last_delivered_id=codec.text(row["last-delivered-id"]),
                lag=await lag(client, key, row),
                consumer_count=int(row["consumers"]),
                consumers=consumers,
            )
        )
    return found


async def lag(client: Redis, key: str, group_row: Info) -> Lag:
    """XINFO GROUPS `lag` when Redis reports it, else entries after last-delivered-id counted up to LAG_CAP."""
    reported = group_row.get("lag")
    if reported is not None:
        return Lag(int(reported))
    return await count_after(client, key, codec.text(group_row["last-delivered-id"]))


async def count_after(client: Redis, key: str, after_id: str, cap: int = LAG_CAP) -> Lag:
    """How many entries follow `after_id` on `key`, counting at most `cap` (then capped=True)."""
    counted, low = 0, f"({after_id}"
    while True:
        want = min(LAG_PAGE, cap + 1 - counted)
        page = cast("list[tuple[bytes, Any]]", await client.xrange(key, min=low, max="+", count=want))
        counted += len(page)
        if counted > cap:
            return Lag(cap, capped=True)
        if len(page) < want:
            return Lag(counted)
        low = f"({codec.text(page[-1][0])}"


async def _consumers(client: Redis, key: str, group: str) -> list[ConsumerInfo]:
    rows: list[Info] = await client.xinfo_consumers(key, group)
    return [
        ConsumerInfo(
            name=codec.text(r["name"]),
            pending=int(r["pending"]),
            idle_ms=int(r["idle"]),
            inactive_ms=int(r["inactive"]) if r.get("inactive") is not None else None,
        )
        for r in sorted(rows, key=lambda r: codec.text(r["name"]))
    ]


async def require_stream(client: Redis, key: str) -> None:
    kind = codec.text(await client.type(key))
    if kind != "stream":
        what = "no such key" if kind == "none" else f"it is a {kind}, not a stream"
        raise UnknownStream(f"no stream {key!r} ({what}); `aiwf streams` lists the streams")


async def missing_group(client: Redis, key: str, group: str, exc: ResponseError) -> Exception:
    """UnknownStream naming the stream's groups when `exc` says the group is gone; else `exc` itself."""
    if not is_missing_group(exc):
        return exc
    groups_: list[Info] = await client.xinfo_groups(key)
    names = [codec.text(r["name"]) for r in groups_]
    return UnknownStream(f"no group {group!r} on {key}; its groups: {', '.join(sorted(names)) or 'none'}")
