"""The Lua scripts of the bus: one `.lua` file each under bus/lua/, loaded here and nowhere else.

Each file documents its KEYS/ARGV layout at the top. `script(client, name)` registers it on a
client (EVALSHA, falling back to EVAL once per connection when the server lost its cache).
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from redis.commands.core import AsyncScript

from aiwf.bus.connection import Redis


@cache
def source(name: str) -> str:
    """The text of bus/lua/<name>.lua."""
    return resources.files("aiwf.bus").joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")


def script(client: Redis, name: str) -> AsyncScript:
    """bus/lua/<name>.lua registered on `client`."""
    return client.register_script(source(name))
