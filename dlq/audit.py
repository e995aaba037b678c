"""The audit trail: one entry per replay or purge run on the `aiwf:audit` stream.

Each entry says what was done (`action`), by whom (`$USER`), from which host, when, and to
which letters, so "who put these 4,000 events back last night?" has an answer in redis-cli:
`XREVRANGE aiwf:audit + - COUNT 10`.
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


async def record(client: Redis, action: str, **details: Any) -> str:
    """Append one audit entry; returns its stream id. Lists and dicts are stored as JSON."""
    fields: dict[str, str | bytes] = {
        "action": action,
        "user": actor(),
        "host": socket.gethostname(),
        "at": datetime.now(UTC).isoformat(),
    }
    for name, value in details.items():
        fields[name] = to_json(value) if isinstance(value, list | dict) else str(value)
    entry_id = await client.xadd(keys.AUDIT, fields, maxlen=keys.AUDIT_MAXLEN, approximate=True)  # type: ignore[arg-type]
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
