"""`aiwf publish` and `aiwf tail`, run as the installed console script against a real Redis."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any, cast

import orjson
import pytest
import redis
from cli_checks import Aiwf, assert_one_error

UPLOADED = "documents.document.uploaded"
STREAM = "aiwf:ev:{documents}"
DOC = '{"document_id": "doc-1", "text": "hello world"}'


def _ids_on_stream(r: redis.Redis) -> list[str]:
    return [fields["id"] for _, fields in cast("list[tuple[str, dict[str, str]]]", r.xrange(STREAM))]


def _first_body(r: redis.Redis) -> dict[str, Any]:
    """The decoded envelope of the oldest entry on the documents stream."""
    entries = cast("list[tuple[str, dict[str, str]]]", r.xrange(STREAM))
    body: dict[str, Any] = orjson.loads(entries[0][1]["body"])
    return body


def test_publish_prints_a_uuid7_that_lands_on_the_domain_stream(aiwf: Aiwf, r: redis.Redis) -> None:
    """A valid event prints its UUIDv7 id alone on stdout and is XADDed to aiwf:ev:{documents}."""
    result = aiwf("publish", UPLOADED, "--data", DOC)
    assert result.returncode == 0, result.stderr
    event_id = result.stdout.strip()
    assert uuid.UUID(event_id).version == 7
    assert _ids_on_stream(r) == [event_id]
    body = _first_body(r)
    assert body["type"] == UPLOADED
    assert body["payload"]["text"] == "hello world"


def test_publish_reads_data_from_a_file(aiwf: Aiwf, r: redis.Redis, tmp_path: Path) -> None:
    """--data @file reads the payload from that file."""
    path = tmp_path / "doc.json"
    path.write_text('{"document_id": "from-file", "text": "in a file"}')
    result = aiwf("publish", UPLOADED, "--data", f"@{path}")
    assert result.returncode == 0, result.stderr
    body = _first_body(r)
    assert body["id"] == result.stdout.strip()
    assert body["payload"]["document_id"] == "from-file"


def test_publish_json_output_keeps_the_correlation_id(aiwf: Aiwf, r: redis.Redis) -> None:
    """--json prints one parseable object with id, type and stream; --correlation-id is kept on the envelope."""
    result = aiwf("publish", UPLOADED, "--data", DOC, "--json", "--correlation-id", "corr-42")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["type"] == UPLOADED
    assert out["stream"] == STREAM
    assert uuid.UUID(out["id"]).version == 7
    body = _first_body(r)
    assert (body["id"], body["correlation_id"]) == (out["id"], "corr-42")


def test_publish_with_explicit_version_one(aiwf: Aiwf, r: redis.Redis) -> None:
    """--version 1 names an older version of the upload: its data is upcast and published as the current v2."""
    result = aiwf("publish", UPLOADED, "--data", DOC, "--version", "1")
    assert result.returncode == 0, result.stderr
    body = _first_body(r)
    assert body["version"] == 2
    assert body["payload"]["password"] is None


@pytest.mark.parametrize(
    ("args", "words"),
    [
        pytest.param(["documents.no.such", "--data", DOC], "unknown event type", id="unknown-type"),
        pytest.param([UPLOADED, "--data", '{"text": "no id"}'], "document_id", id="invalid-payload"),
        pytest.param(
            [UPLOADED, "--data", '{"document_id": "d", "text": "x", "pages": 3}'], "pages", id="unknown-field"
        ),
        pytest.param([UPLOADED, "--data", '{"document_id": '], "not valid JSON", id="malformed-json"),
        pytest.param([UPLOADED, "--data", "@/no/such/file.json"], "cannot read", id="missing-file"),
        pytest.param([UPLOADED, "--data", "[1, 2]"], "JSON object", id="not-an-object"),
        pytest.param([UPLOADED, "--data", '"text"'], "JSON object", id="a-string"),
        pytest.param([UPLOADED, "--data", DOC, "--version", "9"], "v9", id="future-version"),
    ],
)
def test_publish_refuses_bad_input_in_one_line(aiwf: Aiwf, r: redis.Redis, args: list[str], words: str) -> None:
    """Each bad input exits 1 with one `aiwf:` line naming the problem, and nothing is written."""
    line = assert_one_error(aiwf("publish", *args))
    assert words in line
    assert r.exists(STREAM) == 0


def test_publish_reading_a_directory_fails_in_one_line(aiwf: Aiwf, tmp_path: Path) -> None:
    """--data @directory is a read error, not a traceback."""
    assert "cannot read" in assert_one_error(aiwf("publish", UPLOADED, "--data", f"@{tmp_path}"))


def _publish(aiwf: Aiwf, n: int) -> list[str]:
    ids = []
    for i in range(n):
        result = aiwf("publish", UPLOADED, "--data", f'{{"document_id": "doc-{i}", "text": "text {i}"}}')
        assert result.returncode == 0, result.stderr
        ids.append(result.stdout.strip())
    return ids


def test_tail_shows_published_events_as_a_table_and_as_json(aiwf: Aiwf, r: redis.Redis) -> None:
    """tail prints every published event id in its table, and one parseable JSON line per event in order."""
    ids = _publish(aiwf, 3)
    table = aiwf("tail", "documents")
    assert table.returncode == 0, table.stderr
    assert STREAM in table.stdout
    for event_id in ids:
        assert event_id in table.stdout
    as_json = aiwf("tail", "documents", "--json")
    assert as_json.returncode == 0, as_json.stderr
    rows = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [row["id"] for row in rows] == ids
    assert rows[0]["payload"]["document_id"] == "doc-0"
    assert rows[0]["type"] == UPLOADED


def test_tail_count_limits_to_the_newest(aiwf: Aiwf, r: redis.Redis) -> None:
    """-n 2 prints only the two newest events, oldest first; a full stream key works like the domain."""
    ids = _publish(aiwf, 3)
    for stream in ("documents", STREAM):
        result = aiwf("tail", stream, "-n", "2", "--json")
        assert result.returncode == 0, result.stderr
        assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == ids[1:]


def test_tail_of_an_empty_stream_prints_nothing(aiwf: Aiwf, r: redis.Redis) -> None:
    """A stream with no events (a registered domain nothing was published to yet) prints nothing and exits 0."""
    result = aiwf("tail", "documents", "--json")
    assert (result.returncode, result.stdout) == (0, "")


def test_tail_masks_sealed_secrets(aiwf: Aiwf, r: redis.Redis) -> None:
    """A sealed value (sealed:v1:...) is shown as *** in JSON and table output, at any depth."""
    event_id = _publish(aiwf, 1)[0]
    body = _first_body(r)
    crafted_id = str(uuid.uuid4())
    body |= {"id": crafted_id, "correlation_id": crafted_id}
    body["payload"] |= {
        "document_id": "sealed:v1:TOPSECRETID",
        "text": "sealed:v1:TOPSECRETVALUE",
        "filename": "plain.txt",
        "extra": {"list": ["sealed:v1:NESTEDSECRET", "plain"]},
    }
    r.xadd(STREAM, {"id": crafted_id, "type": UPLOADED, "body": orjson.dumps(body)})

    as_json = aiwf("tail", "documents", "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert "SECRET" not in as_json.stdout
    rows = {row["id"]: row for row in map(json.loads, as_json.stdout.splitlines())}
    assert rows[crafted_id]["payload"]["text"] == "***"
    assert rows[crafted_id]["payload"]["filename"] == "plain.txt"
    assert rows[crafted_id]["payload"]["extra"] == {"list": ["***", "plain"]}
    assert rows[event_id]["payload"]["text"] == "text 0"

    table = aiwf("tail", "documents")
    assert table.returncode == 0, table.stderr
    assert "TOPSECRET" not in table.stdout
    assert '"document_id":"***"' in table.stdout


def test_tail_shows_a_malformed_entry_instead_of_failing(aiwf: Aiwf, r: redis.Redis) -> None:
    """An entry whose body is not JSON is listed with an error, and tail still exits 0."""
    r.xadd(STREAM, {"id": "x", "type": UPLOADED, "body": "{not json"})
    result = aiwf("tail", "documents", "--json")
    assert result.returncode == 0, result.stderr
    row = json.loads(result.stdout)
    assert row["payload"] is None
    assert "not valid JSON" in row["error"]


def test_tail_on_a_key_that_is_not_a_stream_fails_in_one_line(aiwf: Aiwf, r: redis.Redis) -> None:
    """A key holding another type is a one-line Redis error, exit 1."""
    r.set("aiwf:ev:{str}", "x")
    assert "WRONGTYPE" in assert_one_error(aiwf("tail", "str"))
