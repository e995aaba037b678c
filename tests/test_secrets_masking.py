"""Secret fields are masked by the schema, whatever they hold; clear text in one is refused at decode."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

import orjson
import pytest
import redis.asyncio as aioredis

from aiwf.bus import Context, Subscription, codec, deadletter, keys
from aiwf.bus.config import BusConfig
from aiwf.dlq.letters import Letter
from aiwf.dlq.show import describe
from aiwf.schemas import Event, InvalidPayload, new_id
from aiwf.schemas.masking import mask_payload
from aiwf.schemas.secrets import MASK, SEALED_PREFIX
from tests.contract.harness import drain, running
from tests.events import LoginAttempted
from tests.replies import Entries

CLEARTEXT = "hunter2-cleartext"


def raw_login(password: str = CLEARTEXT) -> dict[str, bytes]:
    """The fields a raw producer would XADD for a login with `password` not sealed."""
    eid = new_id()
    body = orjson.dumps(
        {
            "id": eid,
            "type": "testing.login.attempted",
            "version": 1,
            "occurred_at": datetime.now(UTC).isoformat(),
            "producer": "raw",
            "correlation_id": eid,
            "payload": {"user": "ada", "password": password},
        }
    )
    return {"id": eid.encode(), "type": b"testing.login.attempted", "body": body}


def test_mask_payload_goes_by_the_schema_not_by_the_value() -> None:
    """A Secret field is masked whether it holds clear text or a sealed value; other fields stay."""
    assert mask_payload(LoginAttempted.event_type, {"user": "ada", "password": CLEARTEXT}) == {
        "user": "ada",
        "password": MASK,
    }
    sealed = {"user": "ada", "password": SEALED_PREFIX + "abc"}
    assert mask_payload(LoginAttempted.event_type, sealed)["password"] == MASK
    nested = {"title": "t", "inner": {"token": SEALED_PREFIX + "x"}}
    assert mask_payload("testing.item.created", nested) == {"title": "t", "inner": {"token": MASK}}
    assert mask_payload("unknown.thing.happened", {"password": "p"}) == {"password": "p"}


def test_decode_refuses_clear_text_in_a_secret_field_without_repeating_it() -> None:
    """codec.decode raises InvalidPayload for an unsealed Secret field, and the message holds no clear text."""
    fields = {k.encode(): v for k, v in raw_login().items()}
    with pytest.raises(InvalidPayload, match="secret field\\(s\\) password arrived unsealed") as caught:
        codec.decode(fields, 100_000)
    assert CLEARTEXT not in str(caught.value)


def test_scrub_body_masks_only_clear_text_secrets() -> None:
    """A dead letter's copy of the body has clear-text secrets masked; sealed ones and other bodies are kept."""
    scrubbed = orjson.loads(codec.scrub_body(raw_login()["body"]))
    assert scrubbed["payload"] == {"user": "ada", "password": MASK}
    sealed = raw_login(SEALED_PREFIX + "abc")["body"]
    assert codec.scrub_body(sealed) == sealed
    assert codec.scrub_body(b"{not json") == b"{not json"


@pytest.mark.parametrize("service", ["tests", "auditor"])
async def test_clear_text_secret_is_dead_lettered_without_the_clear_text(
    client: aioredis.Redis, config: BusConfig, service: str
) -> None:
    """The recipient and any other reader dead-letter a clear-text secret, and no field of the letter holds it."""
    await client.xadd(keys.stream("testing"), raw_login())  # type: ignore[arg-type]
    sub = Subscription(stream="testing", group=f"g-{service}")
    ran: list[str] = []

    @sub.handler
    async def login(event: LoginAttempted, ctx: Context) -> list[Event]:
        ran.append(event.user)
        return []

    async with running(sub, config, service=service):
        await drain(client, sub)
    assert ran == []
    ((letter_id, fields),) = cast("Entries", await client.xrange(keys.dead_letters("testing")))
    assert not any(CLEARTEXT.encode() in v for v in fields.values())
    body = orjson.loads(fields[(deadletter.ORIGINAL_PREFIX + codec.FIELD_BODY).encode()])
    assert body["payload"]["password"] == MASK
    assert b"arrived unsealed" in fields[deadletter.FIELD_ERROR.encode()]
    shown = describe(Letter.from_entry("testing", letter_id, fields), 0, 100_000)
    assert shown["payload"] == {"user": "ada", "password": MASK}


def test_dlq_show_masks_clear_text_kept_by_an_older_letter() -> None:
    """A letter whose body still holds clear text (written before scrubbing) is shown with the Secret masked."""
    fields = {b"orig.body": raw_login()["body"], b"group": b"g", b"error": b"boom"}
    shown = describe(Letter.from_entry("testing", "1-0", fields), 0, 100_000)
    assert shown["payload"] == {"user": "ada", "password": MASK}
    assert CLEARTEXT not in orjson.dumps(shown).decode()
