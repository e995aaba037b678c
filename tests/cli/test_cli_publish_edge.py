"""`aiwf publish --id / --header` and what `aiwf tail` shows of them, against a real Redis and a real consumer."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from typing import Any, cast

import orjson
import pytest
import redis
import redis.asyncio as aioredis
from cli_checks import Aiwf, assert_one_error

from aiwf.bus import Context, Subscription, codec, keys
from aiwf.bus.config import BusConfig
from aiwf.bus.publish import CALLER_ID
from aiwf.bus.testing import wait_until
from aiwf.schemas import Event
from aiwf.schemas.events.documents import DocumentUploaded
from aiwf.schemas.masking import mask_payload
from tests.contract.harness import drain, running

UPLOADED = "documents.document.uploaded"
STREAM = keys.stream("documents")
DOC = '{"document_id": "doc-1", "text": "hello"}'


def entries(r: redis.Redis) -> list[tuple[str, dict[str, str]]]:
    """The documents stream's entries (the sync fixture decodes replies)."""
    return cast("list[tuple[str, dict[str, str]]]", r.xrange(STREAM))


def stdout_of(result: Any) -> str:
    """stdout of a successful command."""
    assert result.returncode == 0, result.stderr
    return str(result.stdout)


async def test_a_publish_retried_with_the_same_id_has_one_effect(
    client: aioredis.Redis, config: BusConfig, aiwf: Aiwf
) -> None:
    """`aiwf publish --id X` handled by a consumer, then the same command again: the handler ran once."""
    sub = Subscription(stream="documents", group="once")
    runs: Counter[str] = Counter()

    @sub.handler
    async def take(event: DocumentUploaded, ctx: Context) -> list[Event]:
        runs[ctx.envelope.id] += 1
        return []

    eid = "order-7f3a"
    async with running(sub, config):
        first = await asyncio.to_thread(aiwf, "publish", UPLOADED, "--data", DOC, "--id", eid)
        assert stdout_of(first).strip() == eid
        await wait_until(lambda: _true(runs[eid] == 1), 10, "the first publish to be handled")
        again = await asyncio.to_thread(aiwf, "publish", UPLOADED, "--data", DOC, "--id", eid, "--json")
        assert json.loads(stdout_of(again))["id"] == eid
        await drain(client, sub)
    assert runs == Counter({eid: 1})
    entries = cast("list[tuple[bytes, dict[bytes, bytes]]]", await client.xrange(STREAM))
    assert [f[codec.FIELD_REDELIVERY.encode()] for _, f in entries] == [CALLER_ID.encode()] * 2


def test_publish_without_id_is_not_flagged_as_a_possible_repeat(aiwf: Aiwf, r: redis.Redis) -> None:
    """Without --id each publish gets a new UUIDv7 and no redelivery flag (consumers skip the marker check)."""
    ids = {stdout_of(aiwf("publish", UPLOADED, "--data", DOC)).strip() for _ in range(2)}
    assert len(ids) == 2
    assert all(uuid.UUID(i).version == 7 for i in ids)
    assert all(codec.FIELD_REDELIVERY not in f for _, f in entries(r))


def test_headers_travel_on_the_envelope_and_tail_json_shows_them(aiwf: Aiwf, r: redis.Redis) -> None:
    """--header k=v (repeatable; the value may contain '=') lands in the envelope's headers and in `tail --json`."""
    args = ["--header", "tenant=acme", "--header", "query=a=b", "--header", "empty="]
    eid = stdout_of(aiwf("publish", UPLOADED, "--data", DOC, *args)).strip()
    headers = {"tenant": "acme", "query": "a=b", "empty": ""}
    ((_, fields),) = entries(r)
    assert orjson.loads(fields["body"])["headers"] == headers
    (row,) = [json.loads(line) for line in stdout_of(aiwf("tail", "documents", "--json")).splitlines()]
    assert (row["id"], row["headers"]) == (eid, headers)
    assert row["producer"] == "aiwf"


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        pytest.param(["--header", "novalue"], 2, "give KEY=VALUE", id="no-equals"),
        pytest.param(["--header", "k=1", "--header", "k=2"], 2, "given twice", id="twice"),
        pytest.param(["--header", "bad key=v"], 1, "header name 'bad key' must match", id="bad-name"),
        pytest.param(["--header", "k=" + "v" * 1025], 1, "1025 characters; the limit is 1024", id="long-value"),
        pytest.param([a for i in range(17) for a in ("--header", f"k{i}=v")], 1, "17 headers", id="too-many"),
        pytest.param(
            [a for i in range(5) for a in ("--header", f"k{i}=" + "v" * 1000)], 1, "the limit is 4096", id="too-big"
        ),
        pytest.param(["--id", "has space"], 1, "event id 'has space' must be", id="bad-id"),
        pytest.param(["--id", "x" * 65], 1, "event id is 65 characters", id="long-id"),
    ],
)
def test_bad_headers_and_ids_are_refused_in_one_line(
    aiwf: Aiwf, r: redis.Redis, args: list[str], code: int, says: str
) -> None:
    """A malformed --header is a usage error (2); one past the envelope's bounds, or a bad --id, is refused (1);
    nothing is written either way."""
    assert says in assert_one_error(aiwf("publish", UPLOADED, "--data", DOC, *args), code)
    assert r.exists(STREAM) == 0


def test_tail_masks_cleartext_in_secret_fields_like_dlq_show(aiwf: Aiwf, r: redis.Redis) -> None:
    """A raw producer's clear-text password (a Secret field) is *** in `tail --json` and the table:
    the schema decides, with the same function `aiwf dlq show` uses."""
    eid = str(uuid.uuid4())
    payload = {"document_id": "d-1", "text": "visible", "password": "hunter2-cleartext"}
    body = {"id": eid, "type": UPLOADED, "version": 2, "occurred_at": "2024-01-01T00:00:00Z", "producer": "raw"}
    body |= {"correlation_id": eid, "payload": payload}
    r.xadd(STREAM, {"id": eid, "type": UPLOADED, "body": orjson.dumps(body)})
    as_json = stdout_of(aiwf("tail", "documents", "--json"))
    assert "hunter2" not in as_json
    row = json.loads(as_json)
    assert row["payload"] == mask_payload(UPLOADED, payload)
    assert (row["payload"]["password"], row["payload"]["text"]) == ("***", "visible")
    table = stdout_of(aiwf("tail", "documents"))
    assert "hunter2" not in table
    assert '"password":"***"' in table


async def _true(value: bool) -> bool:
    return value
