"""Dead-letter entries: the failed entry plus its diagnosis, under exported field names."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

from aiwf.bus import codec
from aiwf.bus.outcome import DeadLetter

FIELD_SOURCE = "source"  # stream the entry was read from
FIELD_SOURCE_ID = "source_id"  # its stream entry id there
FIELD_GROUP = "group"
FIELD_CONSUMER = "consumer"
FIELD_DELIVERIES = "deliveries"
FIELD_ERROR_TYPE = "error_type"
FIELD_ERROR = "error"
FIELD_TRACEBACK = "traceback"
FIELD_FAILED_AT = "failed_at"
FIELD_HOST = "host"
#: The original entry's fields are kept under this prefix, byte for byte (even when malformed),
#: except clear text in the body's `Secret` fields, which is masked: a dead letter never holds it.
ORIGINAL_PREFIX = "orig."


def entry(
    letter: DeadLetter,
    *,
    source: str,
    source_id: str,
    group: str,
    consumer: str,
    deliveries: int,
    original: dict[bytes, bytes],
) -> dict[str, str | bytes]:
    """The XADD fields of one dead letter."""
    fields: dict[str, str | bytes] = {
        FIELD_SOURCE: source,
        FIELD_SOURCE_ID: source_id,
        FIELD_GROUP: group,
        FIELD_CONSUMER: consumer,
        FIELD_DELIVERIES: str(deliveries),
        FIELD_ERROR_TYPE: type(letter.error).__qualname__,
        FIELD_ERROR: str(letter.error)[:2000] or type(letter.error).__qualname__,
        FIELD_TRACEBACK: letter.traceback,
        FIELD_FAILED_AT: datetime.now(UTC).isoformat(),
        FIELD_HOST: socket.gethostname(),
    }
    for key, value in original.items():
        name = key.decode(errors="replace")
        fields[ORIGINAL_PREFIX + name] = codec.scrub_body(value) if name == codec.FIELD_BODY else value
    return fields
