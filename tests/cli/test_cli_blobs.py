"""`aiwf blobs put | get | ls | gc`: the claim-check store from the command line."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import redis
from cli_checks import Aiwf, Env, assert_one_error

from aiwf.bus.server import free_port

HOUR = 3600


def _blob_file(env: Env, sha256: str) -> Path:
    return Path(env["AIWF_DATA_DIR"]) / "blobs" / sha256[:2] / sha256


def _age(env: Env, sha256: str, seconds: float) -> None:
    """Make the blob look put `seconds` ago."""
    then = time.time() - seconds
    os.utime(_blob_file(env, sha256), (then, then))


def _put(aiwf: Aiwf, path: Path) -> dict[str, object]:
    result = aiwf("blobs", "put", str(path), "--json")
    assert result.returncode == 0, result.stderr
    ref: dict[str, object] = json.loads(result.stdout)
    return ref


def test_put_then_get_returns_the_same_bytes_of_a_large_file(aiwf: Aiwf, tmp_path: Path) -> None:
    """A 400 KB file goes in with `put` (its ref printed) and comes out byte for byte with `get -o`."""
    data = os.urandom(400_000)
    source = tmp_path / "speech.wav"
    source.write_bytes(data)
    printed = aiwf("blobs", "put", str(source))
    assert printed.returncode == 0, printed.stderr
    sha = hashlib.sha256(data).hexdigest()
    assert printed.stdout.strip() == f"blob:sha256:{sha}"
    ref = _put(aiwf, source)
    assert ref == {"uri": f"blob:sha256:{sha}", "sha256": sha, "size": len(data), "content_type": "audio/x-wav"}
    out = tmp_path / "back.wav"
    got = aiwf("blobs", "get", f"blob:sha256:{sha}", "-o", str(out))
    assert got.returncode == 0, got.stderr
    assert got.stdout.strip() == str(out)
    assert out.read_bytes() == data
    listed = aiwf("blobs", "ls", "--json")
    assert [(b["uri"], b["size"]) for b in json.loads(listed.stdout)] == [(f"blob:sha256:{sha}", len(data))]


def test_get_writes_to_stdout_when_it_is_not_a_terminal(aiwf: Aiwf, tmp_path: Path) -> None:
    """Without -o, the bytes go to stdout (here a pipe); the bare hex names the blob too."""
    (tmp_path / "note.txt").write_text("hello, blob\n")
    sha = str(_put(aiwf, tmp_path / "note.txt")["sha256"])
    got = aiwf("blobs", "get", sha)
    assert (got.returncode, got.stdout) == (0, "hello, blob\n")


def test_bad_and_unknown_refs_are_one_line(aiwf: Aiwf, tmp_path: Path) -> None:
    """A malformed ref is a usage error (exit 2); a ref the store lacks, or a missing file to put, exit 1."""
    assert "blob:sha256:" in assert_one_error(aiwf("blobs", "get", "nothex"), code=2)
    missing = hashlib.sha256(b"never stored").hexdigest()
    assert "not in the blob store" in assert_one_error(aiwf("blobs", "get", missing))
    assert "cannot read" in assert_one_error(aiwf("blobs", "put", str(tmp_path / "nope.txt")))
    assert "--type" in assert_one_error(aiwf("blobs", "put", "-", "--type", "not a type"), code=2)


def test_gc_removes_only_unreferenced_blobs_past_the_grace_period(
    aiwf: Aiwf, env: Env, tmp_path: Path, r: redis.Redis
) -> None:
    """Blobs named by a published event or a read-model hash stay, an unreferenced old one goes, a young one stays;
    --dry-run lists without removing."""
    refs = {}
    for name in ("in-event", "in-hash", "orphan", "young"):
        (tmp_path / f"{name}.txt").write_text(f"content of {name}\n")
        refs[name] = _put(aiwf, tmp_path / f"{name}.txt")
    upload = {"document_id": "doc-1", "blob": refs["in-event"]}
    assert aiwf("publish", "documents.document.uploaded", "--data", json.dumps(upload)).returncode == 0
    r.hset("myapp:documents", "doc-2", json.dumps({"blob": refs["in-hash"]}))
    for name in ("in-event", "in-hash", "orphan"):
        _age(env, str(refs[name]["sha256"]), 2 * HOUR)

    dry = aiwf("blobs", "gc", "--grace", "1h", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    report = json.loads(dry.stdout)
    assert [b["uri"] for b in report["removed"]] == [refs["orphan"]["uri"]]
    assert (report["referenced"], report["younger_than_grace"], report["dry_run"]) == (2, 1, True)
    assert _blob_file(env, str(refs["orphan"]["sha256"])).exists()

    done = aiwf("blobs", "gc", "--grace", "1h")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "removed 1 blob (18 bytes); kept 2 referenced, 1 put within 1h"
    left = {b["uri"] for b in json.loads(aiwf("blobs", "ls", "--json").stdout)}
    assert left == {refs[n]["uri"] for n in ("in-event", "in-hash", "young")}


def test_putting_a_blob_again_restarts_its_grace_period(aiwf: Aiwf, env: Env, tmp_path: Path, r: redis.Redis) -> None:
    """An old unreferenced blob put again (its event about to follow) is not collected."""
    (tmp_path / "again.txt").write_text("stored twice\n")
    sha = str(_put(aiwf, tmp_path / "again.txt")["sha256"])
    _age(env, sha, 2 * HOUR)
    _put(aiwf, tmp_path / "again.txt")
    report = json.loads(aiwf("blobs", "gc", "--grace", "1h", "--json").stdout)
    assert (report["removed"], report["younger_than_grace"]) == ([], 1)
    assert _blob_file(env, sha).exists()


def test_gc_without_redis_removes_nothing(aiwf: Aiwf, env: Env, tmp_path: Path) -> None:
    """gc cannot tell what is referenced without Redis: one line, exit 1, every blob kept."""
    (tmp_path / "kept.txt").write_text("kept\n")
    sha = str(_put(aiwf, tmp_path / "kept.txt")["sha256"])
    _age(env, sha, 2 * HOUR)
    dead = f"redis://127.0.0.1:{free_port()}/0"
    assert "unreachable" in assert_one_error(aiwf("blobs", "gc", env={"REDIS_URL": dead}))
    assert _blob_file(env, sha).exists()
