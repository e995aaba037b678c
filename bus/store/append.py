"""Append: one Lua script (bus/lua/append.lua) writes the aggregate stream, its event-id index, the category view
and the global log, all or nothing.

Checks come before writes, so a refused append writes nothing:
    1. idempotency  every event id already in the aggregate's index -> no-op, return that version;
                    some but not all -> IdempotencyConflict
    2. concurrency  expected version (unless ANY) must equal the stream's version (XLEN: the
                    stream is never trimmed, and entry `<version>-0` holds that version)
    3. write        per event: XADD aggregate `<version>-0`, HSET index, XADD category, XADD global
If the stream were ever out of step with XLEN, the first XADD with an explicit id fails before
anything is written, instead of leaving a gap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from aiwf.bus import codec, keys
from aiwf.bus.connection import slot
from aiwf.bus.scripts import Call
from aiwf.bus.store.errors import StoreError
from aiwf.bus.store.stream_id import StreamId
from aiwf.schemas import REGISTRY, Envelope

#: Events per append: bounded so the script's argument unpacking stays far below Lua's stack limit.
MAX_BATCH: Final = 1000
#: Any version is accepted (also written as None).
ANY: Final = -1
#: The stream must not exist yet: the append creates the aggregate.
NO_STREAM: Final = 0
FIELD_STREAM: Final = "stream"
FIELD_VERSION: Final = "version"


def build(
    sid: StreamId, envelopes: Sequence[Envelope], expected: int, max_bytes: int, *, cluster: bool = False
) -> Call:
    """Check the batch (size, unique ids, registered types, event size) and lay out append.lua's call.

    `cluster`: the global log is on another slot, so its entries go to the category's outbox.
    """
    if not 1 <= len(envelopes) <= MAX_BATCH:
        raise StoreError(f"append to {sid}: a batch holds 1..{MAX_BATCH} events, got {len(envelopes)}")
    ids = [env.id for env in envelopes]
    if len(set(ids)) != len(ids):
        raise StoreError(f"append to {sid}: the batch repeats an event id; every event needs its own id")
    argv: list[str | bytes] = [str(expected), str(sid), str(len(envelopes))]
    for env in envelopes:
        if (env.type, env.version) not in REGISTRY.models:
            raise StoreError(f"append to {sid}: {env.type} v{env.version} is not a registered event model")
        fields = codec.encode(env)
        body = fields[codec.FIELD_BODY]
        if len(body) > max_bytes:
            raise StoreError(
                f"append to {sid}: {env.type} is {len(body)} bytes, over AIWF_MAX_EVENT_BYTES={max_bytes}; "
                "store large data as a blob and keep its reference in the event"
            )
        argv += [fields[codec.FIELD_ID], fields[codec.FIELD_TYPE], body]
    if cluster and slot(keys.GLOBAL_STREAM) != slot(sid.events):
        views = [sid.events, sid.event_ids, keys.category_stream(sid.category), outbox_of(sid)]
        return Call(views, [*argv, keys.GLOBAL_STREAM])
    return Call([sid.events, sid.event_ids, keys.category_stream(sid.category), keys.GLOBAL_STREAM], argv)


def outbox_of(sid: StreamId) -> str:
    """The outbox on the aggregate's slot (Redis Cluster: where its global-log entries wait for the relay)."""
    return keys.outbox(keys.store_domain(sid.category))


def check_expected(expected_version: int | None) -> int:
    """None and ANY mean any version; 0 means the stream must not exist; N > 0 means exactly N."""
    if expected_version is None:
        return ANY
    if expected_version < ANY:
        raise StoreError(f"expected_version must be None, -1 (any), 0 (new stream) or N > 0, got {expected_version}")
    return expected_version
