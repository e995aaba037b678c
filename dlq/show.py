"""Everything about one dead letter, with secrets masked: what `aiwf dlq show` prints."""

from __future__ import annotations

from typing import Any

from aiwf.bus import codec
from aiwf.dlq.letters import Letter
from aiwf.schemas import MalformedEvent
from aiwf.schemas.masking import mask_payload
from aiwf.schemas.masking import mask_sealed_text as mask_text

#: Most characters of a malformed body shown.
RAW_BODY_CHARS = 2000


def describe(letter: Letter, times_replayed: int, max_bytes: int) -> dict[str, Any]:
    """The letter's diagnosis, envelope and masked payload (or why its body cannot be read)."""
    doc: dict[str, Any] = {
        **letter.summary(),
        "error": mask_text(letter.error),
        "host": letter.host,
        "times_replayed": times_replayed,
        "envelope": None,
        "payload": None,
        "body_error": None,
        "raw_body": None,
        "traceback": mask_text(letter.traceback),
        "original_fields": {
            k: mask_text(v.decode(errors="replace")) for k, v in letter.original.items() if k != codec.FIELD_BODY
        },
    }
    body = letter.body
    if body is None:
        doc["body_error"] = "the letter keeps no original body"
        return doc
    try:
        env = codec.loads(body, max_bytes)
    except MalformedEvent as exc:
        doc["body_error"] = str(exc)
        doc["raw_body"] = mask_text(body[:RAW_BODY_CHARS].decode(errors="replace"))
        return doc
    doc["envelope"] = env.model_dump(mode="json", exclude={"payload"})
    doc["payload"] = mask_payload(env.type, env.payload)
    return doc
