"""Two `aiwf worker tts` processes, one without its engine: the healthy one does the work, health names the other."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import cast

import pytest
import redis
from cli_checks import Aiwf, Env, Spawn, wait_for

pytestmark = pytest.mark.slow

FAST = {"AIWF_HEARTBEAT": "0.5", "AIWF_RECLAIM_IDLE": "3"}


def _tts(aiwf: Aiwf) -> dict[str, object]:
    result = aiwf("health", "--json")
    return next(row for row in json.loads(result.stdout) if row["service"] == "tts")


def _synthesized(r: redis.Redis, request_id: str) -> bool:
    found = cast("list[tuple[str, dict[str, str]]]", r.xrange("aiwf:ev:{tts}"))
    return any(f.get("type") == "tts.speech.synthesized" and request_id in f.get("body", "") for _, f in found)


def test_a_request_read_by_a_degraded_instance_completes_on_the_healthy_one(
    aiwf: Aiwf, spawn: Spawn, env: Env, r: redis.Redis, tmp_path: Path
) -> None:
    """The engine-less instance starts alone and the request arrives; once a healthy instance starts, it speaks
    it within seconds, and `aiwf health` shows tts running with 1 of 2 instances degraded, naming the reason."""
    bogus = tmp_path / "libespeak-ng.so.1"
    bogus.write_bytes(b"not a library")
    spawn("worker", "tts", env={**env, **FAST, "AIWF_ESPEAK_LIBRARY": str(bogus)})
    wait_for(lambda: _tts(aiwf)["state"] == "degraded", 20, "the engine-less tts to report degraded")
    published = aiwf("publish", "tts.speech.requested", "--data", '{"request_id": "r-handback", "text": "hello"}')
    assert published.returncode == 0, published.stderr
    time.sleep(2)  # the degraded instance has had every chance to take it
    assert not _synthesized(r, "r-handback")
    spawn("worker", "tts", env={**env, **FAST})
    wait_for(lambda: _synthesized(r, "r-handback"), 20, "the healthy tts to synthesize the request")
    row = wait_for(lambda: (t := _tts(aiwf))["instance_states"] == {"running": 1, "degraded": 1} and t, 10, "both")
    assert row["state"] == "running"
    assert row["instances"] == 2
    assert "AIWF_ESPEAK_LIBRARY" in str(row["reason"]) or "espeak-ng" in str(row["reason"])
    table = aiwf("health")
    assert "running, 1 of 2 instances degraded" in table.stdout
