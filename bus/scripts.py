"""The Lua scripts of the bus: one `.lua` file each under bus/lua/, loaded here and nowhere else.

Each file documents its KEYS/ARGV layout at the top; next to its caller sits the typed builder
that lays a `Call` out in that order, so no caller hand-indexes ARGV. A `Script` registers the
file on a client (EVALSHA, falling back to EVAL once per connection when the server lost its
cache) and runs Calls.

    commit.lua      bus/commit.py         a consumer's micro-batch: markers, outputs, appends, writes, acks
    xadd_many.lua   bus/publish_wire.py   one flush of many publishes
    trim.lua        bus/retention.py      trim below the acknowledged floor, keeping the newest N
    append.lua      bus/store/append.py   an event-store append, all or nothing
    replay.lua      dlq/replay_call.py    one dead letter back onto its stream, audited
    release_claim.lua   bus/release.py    the first release of a service to run becomes active
    release_switch.lua  bus/release.py    promote, rollback, fall back: only from the release the caller saw
    relay.lua       bus/relay.py          Redis Cluster: outbox entries onto their stream, each event id once
    lease.lua       bus/relay.py          Redis Cluster: one relay per outbox at a time

A service may bring its own under <its package>/lua/ (workers/pipeline/lua/claim_late.lua, the
pipeline's deadline sweep), loaded the same way with `package=`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from redis.commands.core import AsyncScript

from aiwf.bus.connection import Redis


@cache
def source(name: str, package: str = "aiwf.bus") -> str:
    """The text of <package>/lua/<name>.lua (bus/lua/ unless a service brings its own)."""
    return resources.files(package).joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")


def script(client: Redis, name: str, package: str = "aiwf.bus") -> AsyncScript:
    """<package>/lua/<name>.lua registered on `client`."""
    return client.register_script(source(name, package))


@dataclass(frozen=True)
class Call:
    """One run of a script: KEYS and ARGV in the layout its file's header documents."""

    keys: list[str]
    args: list[str | bytes]


class Script:
    """bus/lua/<name>.lua registered on one client, run with the Calls its builder makes."""

    def __init__(self, client: Redis, name: str, package: str = "aiwf.bus") -> None:
        self.name = name
        self._script = script(client, name, package)

    async def __call__(self, call: Call) -> Any:
        """The script's raw reply (each builder's module reads it)."""
        return await self._script(keys=call.keys, args=call.args)
