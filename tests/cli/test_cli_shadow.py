"""`aiwf release shadow` keeps its outputs off every real stream; `aiwf release diff` compares them by causation id."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import cast

import pytest
import redis
from cli_checks import Aiwf, Env, Spawn, assert_one_error, wait_for
from release_support import OUTPUTS, outputs, write_module

pytestmark = pytest.mark.slow


def publish(aiwf: Aiwf, document_id: str) -> str:
    done = aiwf(
        "publish", "documents.document.uploaded", "--data", json.dumps({"document_id": document_id, "text": "a b"})
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def entries(r: redis.Redis, stream: str) -> list[dict[str, str]]:
    """The fields of every entry of `stream`."""
    return [fields for _, fields in cast("list[tuple[str, dict[str, str]]]", r.xrange(stream))]


def real_streams(r: redis.Redis) -> list[str]:
    """Every stream in Redis that is not under the shadow namespace."""
    return [k for k in r.scan_iter(count=500, _type="stream") if not k.startswith("aiwf:shadow:")]


def test_shadow_outputs_reach_no_real_stream_and_diff_finds_the_changed_one(
    aiwf: Aiwf, spawn: Spawn, env: Env, r: redis.Redis, tmp_path: Path
) -> None:
    """v1 active, v2 shadowed: the shadow's outputs only under aiwf:shadow:v2:; diff says equal, different, failed."""
    target = write_module(tmp_path)
    spawn("worker", target, env={**env, "AIWF_TEST_TAG": "same"})
    wait_for(lambda: r.hget("aiwf:release:relapp", "active") == "v1", 20, "v1 active")
    assert "no shadow outputs" in assert_one_error(aiwf("release", "diff", "relapp"))
    spawn(
        "release",
        "shadow",
        target,
        "v2",
        env={**env, "AIWF_TEST_TAG": "same", "AIWF_TEST_CHANGE": "d-2", "AIWF_TEST_POISON": "d-3"},
    )
    wait_for(lambda: list(r.scan_iter("aiwf:hb:relapp.shadow:*")), 20, "shadow up")
    time.sleep(1)  # its group exists from here on
    ids = {doc: publish(aiwf, doc) for doc in ("d-1", "d-2", "d-3")}
    wait_for(lambda: len(outputs(r)) == 3, 20, "v1's three outputs")
    wait_for(lambda: len(outputs(r, "aiwf:shadow:v2:ev:{relapp}")) == 2, 20, "the shadow's two outputs")
    wait_for(lambda: r.xlen("aiwf:shadow:v2:dlq:{documents}") == 1, 20, "the shadow's dead letter")

    for stream in real_streams(r):  # nothing the shadow did is on a real stream or in the event store
        for fields in entries(r, stream):
            body = fields.get("body") or fields.get("orig.body") or "{}"
            assert json.loads(body).get("producer") != "relapp.shadow", (stream, body)
            assert "relapp.shadow" not in json.dumps(fields), stream
    assert {json.loads(f["body"])["causation_id"] for f in entries(r, OUTPUTS)} == set(ids.values())
    assert not r.exists("aiwf:dlq:{documents}")

    done = aiwf("release", "diff", "relapp", "--json")
    assert done.returncode == 1, done.stderr  # something differs
    verdicts = {v["causation_id"]: v for v in json.loads(done.stdout)}
    assert {c: v["verdict"] for c, v in verdicts.items()} == {
        ids["d-1"]: "equal",
        ids["d-2"]: "different",
        ids["d-3"]: "failed",
    }
    assert '-      "words": 2' in verdicts[ids["d-2"]]["diff"]
    assert '+      "words": 3' in verdicts[ids["d-2"]]["diff"]
    table = aiwf("release", "diff", "relapp")
    assert table.stdout.startswith("relapp vs shadow v2: 1 equal, 1 different, 1 failed, 0 pending")
