"""What a worker noticed about a stream and must not leave in a log line only.

    backlog    a retention pass found a group further behind than its bound (nothing trimmed)
    recreated  a consumer group vanished under a running consumer and was created again

Workers write both into one hash per stream (`keys.stream_alarms`), which `aiwf streams`
reads; each worker's heartbeat carries the same alarms for `aiwf health` and GET /health.
The hash expires ALARM_TTL_S after its last write, so a stream nobody serves any more
does not keep an alarm forever.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import cast

from aiwf.bus import keys
from aiwf.bus.connection import Redis
from aiwf.bus.retention import TrimReport

ALARM_TTL_S = 7 * 24 * 3600
_RECREATED = "recreated:"


@dataclass(frozen=True)
class StreamAlarms:
    """One stream's alarms as `aiwf streams` shows them."""

    backlog: int = 0
    backlog_bound: int = 0
    backlog_alarm: bool = False
    checked_at: int | None = None
    #: group -> how many times it was recreated
    groups_recreated: dict[str, int] = field(default_factory=dict)

    def lines(self, stream: str) -> list[str]:
        """One readable line per alarm."""
        out = [backlog_line(stream, self.backlog, self.backlog_bound)] if self.backlog_alarm else []
        return out + [recreated_line(stream, g, n) for g, n in sorted(self.groups_recreated.items())]

    def as_json(self) -> dict[str, object]:
        """Plain data for --json."""
        return {
            "backlog": self.backlog,
            "backlog_bound": self.backlog_bound,
            "backlog_alarm": self.backlog_alarm,
            "retention_checked_at": self.checked_at,
            "groups_recreated": self.groups_recreated,
        }


def backlog_line(stream: str, backlog: int, bound: int) -> str:
    """The retention alarm, in words."""
    return f"{stream}: backlog of {backlog}+ unacknowledged entries is past its bound {bound}"


def recreated_line(stream: str, group: str, times: int) -> str:
    """A recreated group, in words."""
    return f"group {group!r} on {stream!r} vanished and was recreated ({times}x)"


def _alarms_key(stream: str) -> str:
    domain = keys.stream_domain(stream)
    if domain is None:
        raise ValueError(f"{stream!r} is not an event stream key")
    return keys.stream_alarms(domain)


async def record_trim(client: Redis, report: TrimReport) -> None:
    """Store what one retention pass found (an alarm, or that it cleared)."""
    key = _alarms_key(report.stream)
    fields = {
        "backlog": report.backlog,
        "backlog_bound": report.alarm_at,
        "backlog_alarm": int(report.alarm),
        "checked_at": int(time.time()),
    }
    async with client.pipeline(transaction=True) as pipe:
        pipe.hset(key, mapping=fields)  # type: ignore[arg-type]  # Mapping keys are invariant in redis-py stubs
        pipe.expire(key, ALARM_TTL_S)
        await pipe.execute()


async def record_recreated(client: Redis, stream: str, group: str, times: int) -> None:
    """Count `times` more recreations of `group` on `stream`."""
    key = _alarms_key(stream)
    async with client.pipeline(transaction=True) as pipe:
        pipe.hincrby(key, _RECREATED + group, times)
        pipe.expire(key, ALARM_TTL_S)
        await pipe.execute()


async def read(client: Redis, stream: str) -> StreamAlarms:
    """A stream's alarms (none recorded: no alarm)."""
    raw = cast("dict[bytes, bytes]", await client.hgetall(_alarms_key(stream)))
    got = {k.decode(): v.decode() for k, v in raw.items()}
    return StreamAlarms(
        backlog=int(got.get("backlog", 0)),
        backlog_bound=int(got.get("backlog_bound", 0)),
        backlog_alarm=got.get("backlog_alarm") == "1",
        checked_at=int(got["checked_at"]) if "checked_at" in got else None,
        groups_recreated={k.removeprefix(_RECREATED): int(v) for k, v in got.items() if k.startswith(_RECREATED)},
    )
