"""Small edges of the installed `aiwf` script: --version, unknown names with suggestions, plurals."""

from __future__ import annotations

import json
from importlib.metadata import version

import redis
from cli_checks import Aiwf, assert_one_error

from aiwf.bus import deadletter, keys

UPLOADED = "documents.document.uploaded"


def _dead_letter(r: redis.Redis, domain: str, entry_id: str) -> None:
    """XADD one dead letter of `domain` at `entry_id`, with the fields the bus writes."""
    r.xadd(
        keys.dead_letters(domain),
        {
            deadletter.FIELD_SOURCE: keys.stream(domain),
            deadletter.FIELD_SOURCE_ID: "1-0",
            deadletter.FIELD_GROUP: domain,
            deadletter.FIELD_CONSUMER: "c1",
            deadletter.FIELD_DELIVERIES: "1",
            deadletter.FIELD_ERROR_TYPE: "PermanentError",
            deadletter.FIELD_ERROR: "bad payload",
            deadletter.FIELD_TRACEBACK: "",
            deadletter.FIELD_FAILED_AT: "2025-01-01T00:00:00+00:00",
            deadletter.FIELD_HOST: "h",
            f"{deadletter.ORIGINAL_PREFIX}id": "e1",
            f"{deadletter.ORIGINAL_PREFIX}type": UPLOADED,
        },
        id=entry_id,
    )


def _title(table: str) -> str:
    """The first line of a rich table: its title, without the padding to the table's width."""
    return table.splitlines()[0].rstrip()


def test_version_prints_the_installed_version(aiwf: Aiwf) -> None:
    """`aiwf --version` prints `aiwf <version>` of the installed distribution and exits 0."""
    result = aiwf("--version")
    assert (result.returncode, result.stdout, result.stderr) == (0, f"aiwf {version('aiwf')}\n", "")


def test_tail_of_an_unknown_stream_suggests_the_closest(aiwf: Aiwf, r: redis.Redis) -> None:
    """`aiwf tail` of a name that is neither a stream nor a registered domain exits 1 naming the closest domain."""
    r.xadd(keys.stream("testing"), {"x": "1"})
    line = assert_one_error(aiwf("tail", "documnets"))
    assert line == "aiwf: no stream 'documnets'; did you mean documents?"
    assert assert_one_error(aiwf("tail", "testnig")) == "aiwf: no stream 'testnig'; did you mean testing?"
    far = assert_one_error(aiwf("tail", "zzzzzz"))
    assert far == "aiwf: no stream 'zzzzzz'; known streams: auth, calendar, documents, llm, ops, pipeline, testing, tts"


def test_unknown_stream_and_group_suggest_the_closest(aiwf: Aiwf, r: redis.Redis) -> None:
    """groups, pending and reclaim on a mistyped stream or group exit 1 with one line naming the closest one."""
    r.xgroup_create(keys.stream("testing"), "counter", mkstream=True)
    line = assert_one_error(aiwf("groups", "testnig"))
    assert line.startswith("aiwf: no stream 'aiwf:ev:{testnig}' (no such key)")
    assert line.endswith("; did you mean testing?")
    line = assert_one_error(aiwf("pending", "testing", "countr"))
    assert line == "aiwf: no group 'countr' on aiwf:ev:{testing}; its groups: counter; did you mean counter?"
    line = assert_one_error(aiwf("reclaim", "testing", "countr", "--min-idle-ms", "0"))
    assert line.endswith("; did you mean counter?")


def test_unknown_letter_id_suggests_the_closest(aiwf: Aiwf, r: redis.Redis) -> None:
    """A mistyped dead-letter id exits 1 naming the closest id in its domain, or the closest domain with letters."""
    _dead_letter(r, "testing", "1700000000000-0")
    line = assert_one_error(aiwf("dlq", "show", "testing/1700000000001-0"))
    assert line.startswith("aiwf: no dead letter testing/1700000000001-0")
    assert line.endswith("; did you mean testing/1700000000000-0?")
    line = assert_one_error(aiwf("dlq", "purge", "testng/1700000000000-0", "--yes"))
    assert line == (
        "aiwf: no dead letter testng/1700000000000-0 (see `aiwf dlq ls`); nothing purged; did you mean testing?"
    )
    line = assert_one_error(aiwf("dlq", "replay", "testing/1700000000001-0"))
    assert line.endswith("; nothing replayed; did you mean testing/1700000000000-0?")
    assert r.xlen(keys.dead_letters("testing")) == 1


def test_unknown_event_type_suggests_three_closest_not_all(aiwf: Aiwf, r: redis.Redis) -> None:
    """Publishing an unregistered type exits 1 naming at most three close types, not every registered one."""
    line = assert_one_error(aiwf("publish", "documents.document.uplaoded", "--data", "{}"))
    assert line.startswith("aiwf: unknown event type 'documents.document.uplaoded'; did you mean ")
    named = line.removesuffix("?").split("did you mean ", 1)[1].split(", ")
    assert named[0] == UPLOADED
    assert 1 <= len(named) <= 3
    assert "auth." not in line
    assert r.keys("aiwf:ev:*") == []


def test_counts_of_one_are_singular(aiwf: Aiwf, r: redis.Redis) -> None:
    """One dead letter, stream or entry is titled `1 dead letter`, `1 stream`, `1 entry`, never `1 ...s`."""
    _dead_letter(r, "testing", "1700000000000-0")
    r.xadd(keys.stream("testing"), {"x": "1"})
    listed = aiwf("dlq", "ls")
    assert listed.returncode == 0, listed.stderr
    assert "1 dead letter, newest first" in listed.stdout
    streams = aiwf("streams")
    assert streams.returncode == 0, streams.stderr
    assert _title(streams.stdout) == "1 stream"
    assert _title(aiwf("groups", "testing").stdout) == "aiwf:ev:{testing}: 1 entry, 1 dead letter"
    assert _title(aiwf("dlq", "purge", "--all", "--dry-run").stdout) == "would purge 1 dead letter"
    assert json.loads(aiwf("dlq", "ls", "--json").stdout)[0]["id"] == "testing/1700000000000-0"
