"""Redis ACL users, least privilege: what one identity may touch, in the key patterns of bus/keys.py.

A `Grant` says, for one Redis user, which keys it reads, which it owns (reads and writes),
which streams it may append to, and which commands it runs. `rules()` renders it as one
`user ...` line of an ACL file:

    root          -@all +<stream commands> ~<the streams it reads> %R~<read-only keys>
    (state)       (+get +set +hset ... ~<its markers, alarms, heartbeats, projections, store, records>)
    (appends)     (+xadd ~<streams it emits to> ~<its dead letters> ...)
    (scripts)     (+evalsha ~<every key a bus script declares>)

Redis checks every command a Lua script runs against the user as well, so the split keeps
its meaning inside scripts: EVALSHA may name an input stream (the commit script acks there),
but the XADD inside only passes where the appends selector allows it. A service that reads
`documents` and emits to `llm` can ack on `documents` and never add to it.

Redis 6.2 has neither selectors nor `%R~`: `rules(..., compat_62=True)` flattens everything
into the root (`+xadd +evalsha`, every pattern `~`). The user still cannot touch another
service's keys or run FLUSHALL/CONFIG/KEYS, but may append to any stream it may read, and
write keys it should only read. Use Redis >= 7.0 for the full separation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from aiwf.bus import keys
from aiwf.bus.errors import ConfigError
from aiwf.bus.handler import Subscription

__all__ = [
    "CLI_COMMANDS",
    "OPERATOR_COMMANDS",
    "SCRIPT_COMMANDS",
    "STATE_COMMANDS",
    "STREAM_COMMANDS",
    "WORKER_COMMANDS",
    "Grant",
    "acl_file",
    "rules",
    "service_grant",
    "user_name",
]

USER_PREFIX: Final = "aiwf-"

#: What every client sends: a PING, a name, the MULTI/EXEC of redis-py pipelines.
_CLIENT: Final = ("ping", "echo", "hello", "client|setname", "client|id", "multi", "exec", "discard")
#: Script loading (no keys); EVALSHA itself is granted in the scripts selector only.
SCRIPT_COMMANDS: Final = ("script|load", "script|exists")
#: On the streams a service reads: group reads, acks, claims, group state, retention. Nothing here
#: replaces or deletes a stream (no SET, DEL, EXPIRE on them), so a reader cannot wipe another group's data.
STREAM_COMMANDS: Final = (
    "xreadgroup",
    "xread",
    "xack",
    "xclaim",
    "xautoclaim",
    "xpending",
    "xrange",
    "xrevrange",
    "xlen",
    "xtrim",
    "xinfo|groups",
    "xinfo|consumers",
    "xinfo|stream",
    "xgroup|create",
    "xgroup|createconsumer",
    "xgroup|delconsumer",
    "exists",
    "type",
)
#: On a service's own state (markers, alarms, heartbeats, projections, store, records): read and write.
STATE_COMMANDS: Final = (
    "get",
    "mget",
    "set",
    "del",
    "exists",
    "type",
    "expire",
    "hget",
    "hmget",
    "hgetall",
    "hset",
    "hsetnx",
    "hdel",
    "hexists",
    "hlen",
    "hincrby",
    "incrby",
    "sadd",
    "srem",
    "smembers",
    "zadd",
    "zrem",
    "zrange",
    "zrevrange",
    "zrangebyscore",
    "xrange",
    "xrevrange",
    "xlen",
)
#: Everything a worker runs outside scripts, for the 6.2 flattening and for reading the rules.
WORKER_COMMANDS: Final = tuple(dict.fromkeys((*_CLIENT, *SCRIPT_COMMANDS, *STREAM_COMMANDS, *STATE_COMMANDS)))
#: Read-only inspection (`aiwf tail`, `streams`, `health`, `dlq ls|show`): no command that writes.
CLI_COMMANDS: Final = (
    *_CLIENT,
    "info",
    "scan",
    "type",
    "get",
    "mget",
    "exists",
    "hget",
    "hmget",
    "hgetall",
    "hlen",
    "xread",
    "xrange",
    "xrevrange",
    "xlen",
    "xpending",
    "xinfo|groups",
    "xinfo|consumers",
    "xinfo|stream",
    "zrange",
    "zrangebyscore",
    "smembers",
    "client|list",
)
#: The operator (`aiwf dlq replay|purge`, `publish`, admin): every command but what wipes, reconfigures
#: or stops the server or lists every key at once (@dangerous: FLUSHALL, CONFIG, KEYS, DEBUG, ...);
#: INFO is @dangerous too but harmless to read, so it comes back.
OPERATOR_COMMANDS: Final = ("@all", "-@dangerous", "-script|flush", "-script|kill", "-function", "info")


def user_name(identity: str) -> str:
    """The Redis user of a service or tool: `llm` -> `aiwf-llm`."""
    return USER_PREFIX + identity


@dataclass(frozen=True)
class Grant:
    """What one Redis user may do. Patterns are Redis glob patterns over bus/keys.py names."""

    user: str
    #: Commands of the root selector, allowed in order (`+` each, `-name` removes; `@name` is a category).
    commands: tuple[str, ...]
    #: Keys read and written (`~`).
    owns: tuple[str, ...] = ()
    #: Keys only read (`%R~` on 7.0).
    reads: tuple[str, ...] = ()
    #: Its own state keys, with STATE_COMMANDS (a selector of their own on 7.0).
    state: tuple[str, ...] = ()
    #: Streams this user may XADD to, inside or outside scripts.
    appends: tuple[str, ...] = ()
    #: Keys bus scripts declare for this user (EVALSHA checks its KEYS; the commands inside are checked on their own).
    scripts: tuple[str, ...] = ()
    #: What this user is for, in words (`aiwf acl generate` prints it).
    comment: str = ""


def service_grant(
    name: str,
    subscriptions: Iterable[Subscription],
    emits: Iterable[str],
    categories: Iterable[str] = (),
    owns: Iterable[str] = (),
) -> Grant:
    """The grant of a service: its input streams and group state, its outputs, its store categories, its keys.

    `emits` are event types (their domains' streams are what it appends to); `categories` the
    event-store categories it keeps (aggregates, index, snapshots owned; the category view and
    the global log appended to only); `owns` any other key patterns of its own.
    """
    inputs: dict[str, set[str]] = {}
    for sub in subscriptions:
        inputs.setdefault(sub.stream, set()).add(sub.group)
    streams = [keys.stream(domain) for domain in sorted(inputs)]
    owned: list[str] = []
    dead: list[str] = []
    for domain, groups in sorted(inputs.items()):
        owned.append(keys.stream_alarms(domain))
        dead.append(keys.dead_letters(domain))
        for group in sorted(groups):
            owned += [
                keys.processed(domain, group, "*"),
                keys.processed_bucket(domain, group, "*", "*"),
                keys.projection_prefix(domain, group) + "*",
            ]
    # Its heartbeats and totals, its release state (claimed, switched by its fallback instances), its
    # chaos fault; and the one hash of when each service last beat (aiwf:seen, any service's field).
    owned += [keys.heartbeat(name, "*"), keys.service_stats(name), keys.release(name), keys.release(name) + ":*"]
    owned.append(keys.chaos(name))
    owned.append(keys.SERVICES_SEEN)
    # Every service may fall back by itself: ops.release.fell_back is one of its outputs.
    outputs = sorted({keys.stream(keys.domain_of(t)) for t in [*emits, "ops.release.fell_back"]})
    store_streams: list[str] = []
    for category in sorted(set(categories)):
        owned += [
            keys.aggregate_events(category, "*"),
            keys.aggregate_index(category, "*"),
            keys.aggregate_snapshot(category, "*"),
        ]
        store_streams += [keys.category_stream(category), keys.aggregate_events(category, "*")]
    if store_streams:
        store_streams.append(keys.GLOBAL_STREAM)
    owned += list(owns)
    appends = _unique([*outputs, *dead, *store_streams])
    return Grant(
        user=user_name(name),
        # SCAN: a fallback instance lists the active release's heartbeats (it shows key names, no values).
        commands=(*_CLIENT, *SCRIPT_COMMANDS, *STREAM_COMMANDS, "scan"),
        owns=tuple(streams),
        state=_unique(owned),
        appends=appends,
        scripts=_unique([*streams, *owned, *appends]),
        comment=f"service {name}: reads {', '.join(sorted(inputs)) or 'nothing'}; "
        f"emits to {', '.join(keys.stream_domain(s) or s for s in outputs) or 'nothing'}",
    )


def _unique(patterns: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(patterns))


def _password_rule(password: str) -> str:
    """`#<sha256>`: the ACL file holds a hash, never the password."""
    return "#" + hashlib.sha256(password.encode()).hexdigest()


def rules(grant: Grant, password: str, *, compat_62: bool = False) -> str:
    """One `user` line of an ACL file for `grant`, logging in with `password`."""
    if not password or any(c.isspace() for c in password):
        raise ConfigError(f"password of {grant.user} must be non-empty and without spaces")
    head = ["user", grant.user, "reset", "on", _password_rule(password), "resetchannels", "-@all"]
    commands = [c if c.startswith("-") else f"+{c}" for c in grant.commands]
    if compat_62:
        commands = _for_62(commands)
        extra = [*(STATE_COMMANDS if grant.state else ()), *(["xadd"] if grant.appends else [])]
        extra += ["evalsha"] if grant.scripts else []
        extra = [c for c in dict.fromkeys(extra) if f"+{c}" not in commands]
        flat = _unique([*grant.owns, *grant.reads, *grant.state, *grant.appends, *grant.scripts])
        return " ".join([*head, *commands, *(f"+{c}" for c in extra), *(f"~{k}" for k in flat)])
    parts = [*head, *commands, *(f"~{k}" for k in grant.owns), *(f"%R~{k}" for k in grant.reads)]
    if grant.state:
        parts.append("(" + " ".join([*(f"+{c}" for c in STATE_COMMANDS), *(f"~{k}" for k in grant.state)]) + ")")
    if grant.appends:
        parts.append("(" + " ".join(["+xadd", *(f"~{k}" for k in grant.appends)]) + ")")
    if grant.scripts:
        parts.append("(" + " ".join(["+evalsha", *(f"~{k}" for k in grant.scripts)]) + ")")
    return " ".join(parts)


def _for_62(commands: list[str]) -> list[str]:
    """6.2 cannot remove a subcommand nor name FUNCTION: `-script|flush` becomes `-script` plus what the bus loads."""
    out = [c for c in commands if not (c.startswith("-") and "|" in c) and c != "-function"]
    if len(out) != len(commands) and any(c.startswith("-script|") for c in commands):
        out += ["-script", *(f"+{c}" for c in SCRIPT_COMMANDS)]
    return out


def acl_file(grants: Iterable[tuple[Grant, str]], *, compat_62: bool = False) -> str:
    """A whole ACL file: the `default` user switched off, then one line per grant (ACL files take no comments)."""
    lines = ["user default off resetkeys resetchannels -@all"]
    lines += [rules(grant, password, compat_62=compat_62) for grant, password in grants]
    return "\n".join(lines) + "\n"
