"""The audit trail: one entry per replay or purge run on the `aiwf:audit` stream.

Each entry says what was done (`action`), by whom (`$USER`), from which host, when, and to
which letters, so "who put these 4,000 events back last night?" has an answer:
`aiwf dlq audit` (newest first; `--json`). Replay also writes one entry per letter, in the
same atomic step as the replay, on `aiwf:audit:{domain}` (`aiwf dlq audit --stream llm`);
its `run` field matches the run's entry on `aiwf:audit`.
"""

from __future__ import annotations

import getpass
import os
import socket
from datetime import UTC, datetime
from typing import Any, cast

from aiwf.bus import keys
from aiwf.bus.codec import parse_json_arg, text, to_json
from aiwf.bus.connection import Redis

#: Fields `letter_fields` writes as JSON (its lists and dicts), and those holding a count.
JSON_FIELDS = frozenset({"letters"})
COUNT_FIELDS = frozenset({"count", "selected", "max_replays"})


def actor() -> str:
    """Who is running the command: $USER, else the login name, else 'unknown'."""
    try:
        return os.environ.get("USER") or getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


def letter_fields(action: str, **details: Any) -> dict[str, str | bytes]:
    """The fields of one audit entry: action, who, where, when, then `details` (lists and dicts as JSON).

    Replay writes one per letter inside its atomic script, on `aiwf:audit:{domain}`, so even
    a run killed with SIGKILL leaves an entry for each letter it replayed.
    """
    fields: dict[str, str | bytes] = {
        "action": action,
        "user": actor(),
        "host": socket.gethostname(),
        "at": datetime.now(UTC).isoformat(),
    }
    for name, value in details.items():
        fields[name] = to_json(value) if isinstance(value, list | dict) else str(value)
    return fields


async def record(client: Redis, action: str, **details: Any) -> str:
    """Append one run's audit entry to `aiwf:audit`; returns its stream id."""
    fields = letter_fields(action, **details)
    entry_id = await client.xadd(keys.AUDIT, fields, maxlen=keys.AUDIT_MAXLEN, approximate=True)  # type: ignore[arg-type]
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


async def recent(client: Redis, limit: int, domain: str | None = None) -> list[dict[str, Any]]:
    """The newest `limit` entries, newest first: of the run trail, or of `domain`'s per-letter trail.

    Each is its fields plus `entry` (the stream id); letter lists parsed, counts as integers.
    """
    stream = keys.replay_audit(domain) if domain else keys.AUDIT
    found = []
    page = cast("list[tuple[bytes, dict[bytes, bytes]]]", await client.xrevrange(stream, "+", "-", count=limit))
    for entry_id, fields in page:
        entry: dict[str, Any] = {"entry": text(entry_id)}
        for raw_name, raw_value in fields.items():
            name, value = text(raw_name), text(raw_value)
            if name in JSON_FIELDS:
                entry[name] = parse_json_arg(value, f"audit field {name}")
            elif name in COUNT_FIELDS and value.isdigit():
                entry[name] = int(value)
            else:
                entry[name] = value
        found.append(entry)
    return found


async def trails(client: Redis) -> list[str]:
    """The domains with a per-letter trail in Redis."""
    prefix, found = keys.replay_audit(""), []
    async for key in client.scan_iter(match=f"{keys.AUDIT}:*", count=500, _type="stream"):
        name = text(key)
        if name.startswith(prefix[:-1]) and name.endswith("}"):
            found.append(name[len(prefix) - 1 : -1])
    return sorted(found)
