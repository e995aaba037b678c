"""`aiwf dlq audit`: the replay and purge runs, newest first, and one replay's per-letter trail."""

from __future__ import annotations

import hashlib
import json
import signal
from pathlib import Path

import pytest
import redis
from cli_checks import Aiwf, Env, Spawn, assert_one_error, wait_for

pytestmark = pytest.mark.slow

TEXT = b"Hello from a blob that arrives late.\n"


def _upload(document_id: str) -> str:
    sha = hashlib.sha256(TEXT).hexdigest()
    blob = {"uri": f"blob:sha256:{sha}", "sha256": sha, "size": len(TEXT), "content_type": "text/plain"}
    return json.dumps({"document_id": document_id, "blob": blob})


def _letters(aiwf: Aiwf) -> list[str]:
    result = aiwf("dlq", "ls", "--json")
    assert result.returncode == 0, result.stderr
    return [letter["id"] for letter in json.loads(result.stdout)]


def test_audit_lists_replay_and_purge_runs_newest_first(aiwf: Aiwf, spawn: Spawn, env: Env, r: redis.Redis) -> None:
    """Two dead letters: one replayed after its fix, one purged; `dlq audit` shows the purge, then the replay,
    each naming its letter and user, and `--stream documents` the replayed letter with the replay's run."""
    worker = spawn("worker", "documents")
    for doc in ("doc-1", "doc-2"):
        assert aiwf("publish", "documents.document.uploaded", "--data", _upload(doc)).returncode == 0
    refs = wait_for(lambda: len(found := _letters(aiwf)) == 2 and found, 30, "two dead letters")
    (Path(env["AIWF_DATA_DIR"]) / "hello.txt").write_bytes(TEXT)
    assert aiwf("blobs", "put", str(Path(env["AIWF_DATA_DIR"]) / "hello.txt")).returncode == 0
    assert aiwf("dlq", "ls", "--ids").stdout.splitlines() == refs
    replayed, purged = refs
    assert aiwf("dlq", "replay", replayed, env={"USER": "ada"}).returncode == 0
    assert aiwf("dlq", "purge", purged, "--yes", env={"USER": "ada"}).returncode == 0

    result = aiwf("dlq", "audit", "--json")
    assert result.returncode == 0, result.stderr
    runs = json.loads(result.stdout)
    assert [e["action"] for e in runs] == ["dlq.purge", "dlq.replay"]
    assert [[lt["id"] for lt in e["letters"]] for e in runs] == [[purged], [replayed]]
    assert [e["count"] for e in runs] == [1, 1]
    assert {e["user"] for e in runs} == {"ada"}
    newest, older = (tuple(map(int, e["entry"].split("-"))) for e in runs)
    assert newest > older

    trail = aiwf("dlq", "audit", "--stream", "documents", "--json")
    assert trail.returncode == 0, trail.stderr
    (letter,) = json.loads(trail.stdout)
    assert (letter["letter"], letter["run"]) == (replayed, runs[1]["run"])

    table = aiwf("dlq", "audit", "--limit", "1")
    assert table.returncode == 0, table.stderr
    assert "1 audit entry, newest first" in table.stdout
    assert purged in table.stdout
    assert replayed not in table.stdout
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(15) == 0


def test_audit_of_a_domain_without_a_trail_suggests_the_closest(aiwf: Aiwf, r: redis.Redis) -> None:
    """`--stream` naming a domain no replay wrote to is one line suggesting the domains that have a trail."""
    r.xadd("aiwf:audit:{documents}", {"action": "dlq.replay.letter", "letter": "documents/1-0"})
    line = assert_one_error(aiwf("dlq", "audit", "--stream", "documnts"))
    assert "documnts" in line
    assert "did you mean documents?" in line


def test_audit_with_no_runs_is_empty_not_an_error(aiwf: Aiwf, r: redis.Redis) -> None:
    """Nothing replayed or purged yet: an empty list, exit 0."""
    result = aiwf("dlq", "audit", "--json")
    assert (result.returncode, json.loads(result.stdout)) == (0, [])
