"""The audit trail: one entry per replay or purge run on the `aiwf:audit` stream.

Each entry says what was done (`action`), by whom (`$USER`), from which host, when, and to
which letters, so "who put these 4,000 events back last night?" has an answer in redis-cli:
`XREVRANGE aiwf:audit + - COUNT 10`. Replay also writes one entry per letter, in the same
atomic step as the replay, on `aiwf:audit:{domain}` (`XREVRANGE 'aiwf:audit:{llm}' + - COUNT 10`);
its `run` field matches the run's entry on `aiwf:audit`.
"""

from __future__ import annotations

import getpass
import os
import socket
from datetime import UTC, datetime
from typing import Any

from aiwf.bus import keys
from aiwf.bus.codec import to_json
from aiwf.bus.connection import Redis


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
