"""Consumer groups: created idempotently, and recreated when they vanish under a worker."""

from __future__ import annotations

from redis.exceptions import ResponseError

from aiwf.bus.connection import Redis


async def ensure_group(client: Redis, stream: str, group: str) -> bool:
    """Create `group` on `stream` (and the stream) if missing; True when it was created.

    A new group starts at id 0, not `$`: a group created after events were published (or
    recreated after being deleted) still sees them, and processed-markers stop any repeat.
    """
    try:
        await client.xgroup_create(stream, group, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" in str(exc):
            return False
        raise
    return True


def is_missing_group(exc: BaseException) -> bool:
    """True for the errors Redis gives when a group or its stream was deleted."""
    text = str(exc)
    return isinstance(exc, ResponseError) and ("NOGROUP" in text or "no longer exists" in text)
