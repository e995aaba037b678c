"""Request and reply over the bus from the command line, the way the gateway does it.

    service offline (from heartbeats) ──▶ one `aiwf:` line, nothing published
    note the reply stream's last entry ──▶ publish the request (event id = correlation id)
    XREAD the reply stream from there ──▶ the first reply whose causation id is the request

The reply is parsed as `reader` would read it: secrets sealed for that service are opened
with its key from the local keyring (the gateway's, for tokens), so the caller gets them in
clear text and no one else does.
"""

from __future__ import annotations

import time
from typing import cast

from aiwf.bus import codec, keys
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import Redis
from aiwf.bus.errors import AiwfError
from aiwf.bus.health import heartbeats, summarize
from aiwf.bus.publish import Publisher
from aiwf.schemas import REGISTRY, Event
from aiwf.schemas.ids import new_id

__all__ = ["NoReply", "ServiceOffline", "ask"]

#: A service in one of these states will not answer now.
DOWN_STATES = frozenset({"offline", "unresponsive", "stopping"})
Entries = list[tuple[bytes, dict[bytes, bytes]]]


class ServiceOffline(AiwfError):
    """Raised when no live instance of the service would take the request (nothing was published)."""


class NoReply(AiwfError):
    """Raised when the request was published but no reply came within the timeout."""


async def ask(
    client: Redis,
    config: BusConfig,
    request: Event,
    service: str,
    replies: frozenset[str],
    timeout_s: float,
    reader: str | None = None,
) -> Event:
    """Publish `request` and return its reply (one of `replies` on `service`'s stream), parsed for `reader`."""
    (row,) = summarize(await heartbeats(client), [service])
    if row["state"] in DOWN_STATES:
        msg = f"the {service} service is {row['state']}: nothing would answer; start it with `aiwf up`"
        raise ServiceOffline(msg)
    stream = keys.stream(service)
    last = cast("Entries", await client.xrevrange(stream, count=1))
    position = last[0][0].decode() if last else "0-0"
    request_id = new_id()
    await Publisher(client, config).publish(request, event_id=request_id, correlation_id=request_id)
    deadline = time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0:
        reply = cast(
            "list[tuple[bytes, Entries]]",
            await client.xread({stream: position}, block=max(1, int(min(left, 0.5) * 1000)), count=100),
        )
        for _, entries in reply or []:
            position = entries[-1][0].decode()
            for _, fields in entries:
                if fields.get(codec.FIELD_TYPE.encode(), b"").decode() not in replies:
                    continue
                env = codec.loads(fields[b"body"], config.max_event_bytes)
                if env.causation_id == request_id:
                    return REGISTRY.parse(env.type, env.version, env.payload, reader=reader)
    msg = f"no reply from {service} within {timeout_s:.0f}s (request {request_id}); see `aiwf health`"
    raise NoReply(msg)
