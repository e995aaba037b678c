"""Envelope <-> stream entry fields. The only module that imports orjson or names entry fields.

An entry is `{id, type, body}`: `id` and `type` stay readable in redis-cli and let the DLQ
filter without parsing; `body` is the whole envelope as JSON. Decoding is hostile-input safe:
size and nesting are capped before the parser runs, and every failure is one MalformedEvent.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ValidationError

from aiwf.schemas import Envelope, InvalidPayload, MalformedEvent
from aiwf.schemas.masking import cleartext_secrets
from aiwf.schemas.registry import describe_validation_error
from aiwf.schemas.secrets import MASK

FIELD_ID = "id"
FIELD_TYPE = "type"
FIELD_BODY = "body"
#: Set on an entry that may repeat an event already written (a publish retry, a DLQ replay):
#: consumers check its processed-marker before running the handler. Other first deliveries
#: skip that round trip; the commit's SET NX still keeps their outputs to one.
FIELD_REDELIVERY = "redelivery"
ENTRY_FIELDS = (FIELD_ID, FIELD_TYPE, FIELD_BODY, FIELD_REDELIVERY)
MAX_DEPTH = 64

Fields = dict[str, str | bytes]


def encode(env: Envelope, redelivery: str | None = None) -> dict[str, str | bytes]:
    """The XADD fields of one envelope; `redelivery` names why it may be a repeat."""
    fields: dict[str, str | bytes] = {FIELD_ID: env.id, FIELD_TYPE: env.type, FIELD_BODY: dumps(env)}
    if redelivery:
        fields[FIELD_REDELIVERY] = redelivery
    return fields


def dumps(env: Envelope) -> bytes:
    """The envelope as compact JSON bytes; empty headers are left out (most events have none)."""
    doc = env.__dict__  # exactly the fields, in order (pydantic keeps extras elsewhere; extra="forbid")
    if not doc["headers"]:
        doc = {name: value for name, value in doc.items() if name != "headers"}
    return orjson.dumps(doc)


def decode(fields: dict[bytes, bytes], max_bytes: int) -> Envelope:
    """An envelope from raw entry fields, or a SchemaError saying what is wrong with it.

    A `Secret` field holding clear text (a raw producer that did not seal it) is refused here,
    whoever reads it: the secret has already leaked to the stream, and no reader may use it.
    """
    body = fields.get(FIELD_BODY.encode())
    if body is None:
        raise MalformedEvent(
            f"entry has no {FIELD_BODY!r} field (fields: {sorted(k.decode(errors='replace') for k in fields)})"
        )
    env = loads(body, max_bytes)
    cleartext = cleartext_secrets(env.type, env.version, env.payload)
    if cleartext:
        raise InvalidPayload(
            f"{env.type} v{env.version}: secret field(s) {', '.join(sorted(cleartext))} arrived unsealed; "
            "the producer must publish through the bus so they are sealed"
        )
    return env


def loads(body: bytes, max_bytes: int) -> Envelope:
    """Parse and validate envelope JSON with size and depth capped first."""
    if len(body) > max_bytes:
        raise MalformedEvent(f"event is {len(body)} bytes, over the {max_bytes}-byte limit; send large data as a blob")
    check_depth(body)
    try:
        return Envelope.model_validate_json(body)  # pydantic parses and validates in one pass
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise MalformedEvent(f"body is not valid JSON: {exc.errors()[0]['msg']}") from None
        if any(e["type"] == "model_type" for e in exc.errors()):
            raise MalformedEvent("body must be a JSON object") from None
        raise MalformedEvent(f"bad envelope: {describe_validation_error(exc)}") from None


def check_depth(body: bytes, limit: int = MAX_DEPTH) -> None:
    """Refuse JSON nested deeper than `limit` before parsing it (orjson parses 100 000 levels)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return  # cannot be deeper than the number of openers: the common case costs two C scans
    depth, in_string, escaped = 0, False, False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                raise MalformedEvent(f"JSON nested deeper than {limit} levels")
        elif byte in (0x5D, 0x7D):
            depth -= 1


def scrub_body(body: bytes) -> bytes:
    """`body` with clear text in its `Secret` fields replaced by `***` (for dead letters).

    Sealed values stay (ciphertext is safe anywhere); a body that cannot be read as an
    envelope of a known type is returned unchanged, since its secret fields are unknown.
    """
    try:
        check_depth(body)
        doc = orjson.loads(body)
        names = cleartext_secrets(doc["type"], doc["version"], doc["payload"])
    except (MalformedEvent, orjson.JSONDecodeError, KeyError, TypeError):
        return body
    if not names:
        return body
    doc["payload"] = {**doc["payload"], **dict.fromkeys(names, MASK)}
    return orjson.dumps(doc)


def entry_order(entry_id: str) -> tuple[int, int]:
    """A stream entry id as (milliseconds, sequence), for comparing ids."""
    ms, seq = entry_id.split("-")
    return int(ms), int(seq)


def text(value: bytes | str) -> str:
    """A Redis reply value as str (replies are bytes; ids we built are str)."""
    return value.decode() if isinstance(value, bytes) else value


def parse_json_arg(text: str | bytes, what: str) -> Any:
    """Parse user-supplied JSON (CLI --data, files) with the same caps; MalformedEvent on error."""
    data = text.encode() if isinstance(text, str) else text
    check_depth(data)
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise MalformedEvent(f"{what} is not valid JSON: {exc}") from None


def to_json(value: Any) -> bytes:
    """Compact JSON of plain data (dead-letter fields, CLI --json output)."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
