"""`aiwf pending STREAM GROUP --park ENTRY_ID`: one stuck entry moved to the dead letters by hand."""

from __future__ import annotations

import json
from typing import cast

import redis
from cli_checks import Aiwf, assert_one_error

from aiwf.bus import deadletter, keys


def _pending_entry(r: redis.Redis) -> str:
    """An llm.chat.requested entry delivered to consumer c1 of group llm and never acked; its entry id."""
    stream = keys.stream("llm")
    entry_id = str(r.xadd(stream, {"id": "e-stuck", "type": "llm.chat.requested", "body": "{}"}))
    r.xgroup_create(stream, "llm", id="0", mkstream=True)
    r.xreadgroup("llm", "c1", {stream: ">"}, count=1)
    return entry_id


def test_park_moves_one_pending_entry_to_the_dead_letters(aiwf: Aiwf, r: redis.Redis) -> None:
    """The entry leaves the group's pending list and becomes a bus dead letter (ParkedByHand, original kept)."""
    entry_id = _pending_entry(r)
    result = aiwf("pending", "llm", "llm", "--park", entry_id, "--reason", "keeps failing", "--json")
    assert result.returncode == 0, result.stderr
    parked = json.loads(result.stdout)["parked"]
    assert parked == {"entry": entry_id, "consumer": "c1", "deliveries": 1, "dead_letters": keys.dead_letters("llm")}
    assert r.xpending(keys.stream("llm"), "llm")["pending"] == 0
    ((_, letter),) = cast("list[tuple[str, dict[str, str]]]", r.xrange(keys.dead_letters("llm")))
    assert letter[deadletter.FIELD_ERROR_TYPE] == "ParkedByHand"
    assert "keeps failing" in letter[deadletter.FIELD_ERROR]
    assert "from consumer c1" in letter[deadletter.FIELD_ERROR]
    assert (letter[deadletter.FIELD_SOURCE_ID], letter[deadletter.FIELD_GROUP]) == (entry_id, "llm")
    assert letter[f"{deadletter.ORIGINAL_PREFIX}id"] == "e-stuck"
    listed = json.loads(aiwf("dlq", "ls", "--json").stdout)
    assert len(listed) == 1


def test_parking_an_entry_that_is_not_pending_is_one_error_line(aiwf: Aiwf, r: redis.Redis) -> None:
    """An entry the group does not hold pending exits 1 naming it, and writes no dead letter."""
    entry_id = _pending_entry(r)
    r.xack(keys.stream("llm"), "llm", entry_id)
    line = assert_one_error(aiwf("pending", "llm", "llm", "--park", entry_id))
    assert f"{entry_id} is not pending for group 'llm'" in line
    assert r.xlen(keys.dead_letters("llm")) == 0
