"""`aiwf worker --release` and `aiwf release ...`: switches and automatic fallback lose and double nothing."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from cli_checks import Aiwf, Env, Spawn, assert_one_error, wait_for
from release_support import SteadyLoad, outputs, tally, write_module

pytestmark = pytest.mark.slow
#: Short bounds so a test sees a fallback and a reclaim in seconds.
FAST = {"AIWF_RECLAIM_IDLE": "3", "AIWF_FALLBACK_WINDOW": "10", "AIWF_FALLBACK_MIN_EVENTS": "10"}


def releases(aiwf: Aiwf, service: str = "relapp") -> dict[str, dict[str, Any]]:
    """`aiwf release ls SERVICE --json`, by release name ({} while the service has none)."""
    done = aiwf("release", "ls", service, "--json")
    return {r["release"]: r for r in json.loads(done.stdout)} if done.returncode == 0 else {}


def role_is(aiwf: Aiwf, name: str, role: str, instances: int = 1) -> bool:
    row = releases(aiwf).get(name)
    return row is not None and row["role"] == role and row["instances"] == instances


def start_releases(spawn: Spawn, env: Env, tmp_path: Path, aiwf: Aiwf, v2_fail_rate: float) -> None:
    """v1 (by AIWF_RELEASE) active, then v2 (by --release) warm beside it."""
    target = write_module(tmp_path)
    spawn("worker", target, env={**env, **FAST, "AIWF_RELEASE": "v1", "AIWF_TEST_TAG": "v1"})
    wait_for(lambda: role_is(aiwf, "v1", "active"), 20, "v1 to run as the active release")
    spawn(
        "worker",
        target,
        "--release",
        "v2",
        env={**env, **FAST, "AIWF_TEST_TAG": "v2", "AIWF_TEST_FAIL_RATE": str(v2_fail_rate)},
    )
    wait_for(lambda: role_is(aiwf, "v2", "warm"), 20, "v2 to run warm beside v1")


def settled(r: redis.Redis, offered: list[str]) -> tuple[list[str], list[str], dict[str, int]]:
    """Wait until every offered event has an output, then a moment more for late doubles; the tally."""
    wait_for(lambda: not tally(r, offered)[0], 60, "an output for every offered event")
    time.sleep(1.5)
    lost, doubled, per_release = tally(r, offered)
    return lost, doubled, dict(per_release)


def test_a_v2_failing_a_fifth_of_its_calls_falls_back_to_v1_by_itself(
    aiwf: Aiwf, spawn: Spawn, env: Env, r: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    """Promoted under load, a v2 whose handler fails 20 % is replaced by v1 within the window: 0 lost, 0 doubled."""
    start_releases(spawn, env, tmp_path, aiwf, v2_fail_rate=0.2)
    with SteadyLoad(redis_url, rate=40) as load:
        wait_for(lambda: outputs(r), 20, "v1 to handle the first events")
        promoted = aiwf("release", "promote", "relapp", "v2")
        assert promoted.returncode == 0, promoted.stderr
        assert "v2 active, v1 its fallback" in promoted.stdout
        began = time.monotonic()
        wait_for(lambda: releases(aiwf)["v1"]["role"] == "active", 30, "the automatic fallback to v1")
        fell_after = time.monotonic() - began
        time.sleep(2)  # v1 takes traffic again
    lost, doubled, per_release = settled(r, load.ids)
    assert (lost, doubled) == ([], []), (len(lost), len(doubled))
    assert per_release.get("v2", 0) > 0, per_release
    assert per_release.get("v1", 0) > 0, per_release
    print(f"fell back after {fell_after:.1f}s; outputs per release {per_release}; offered {len(load.ids)}")
    assert fell_after < 10 + 5, fell_after  # the window, plus a heartbeat and a gate poll
    row = releases(aiwf)["v1"]
    assert row["fell_back_from"] == "v2"
    assert "handler calls failed" in row["fell_back_reason"]
    (fell,) = [e for e in outputs(r, "aiwf:ev:{ops}") if e["type"] == "ops.release.fell_back"]
    assert fell["payload"]["service"] == "relapp"
    assert (fell["payload"]["from_release"], fell["payload"]["to_release"]) == ("v2", "v1")
    health = aiwf("health", "--json")
    (svc,) = [s for s in json.loads(health.stdout) if s["service"] == "relapp"]
    assert svc["release"] == "v1"
    assert any("release v2 fell back to v1" in a for a in svc["alarms"]), svc


def test_promote_and_rollback_under_load_lose_and_double_nothing(
    aiwf: Aiwf, spawn: Spawn, env: Env, r: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    """v1 -> v2 -> v1 -> v2 while events keep coming: every event has exactly one output, both releases wrote."""
    start_releases(spawn, env, tmp_path, aiwf, v2_fail_rate=0.0)
    with SteadyLoad(redis_url, rate=60) as load:
        wait_for(lambda: outputs(r), 20, "v1 to handle the first events")
        for step in (("promote", "relapp", "v2"), ("rollback", "relapp"), ("promote", "relapp", "v2")):
            time.sleep(2)
            done = aiwf("release", *step)
            assert done.returncode == 0, done.stderr
        time.sleep(2)
    lost, doubled, per_release = settled(r, load.ids)
    assert (lost, doubled) == ([], []), (len(lost), len(doubled))
    assert per_release.get("v1", 0) > 0, per_release
    assert per_release.get("v2", 0) > 0, per_release
    assert releases(aiwf)["v2"]["role"] == "active"
    assert releases(aiwf)["v1"]["role"] == "fallback"


def test_retire_refuses_the_fallback_until_the_active_release_is_stable(
    aiwf: Aiwf, spawn: Spawn, env: Env, tmp_path: Path
) -> None:
    """retire: never the active release, the fallback only once stable; a retired release's instances stop."""
    start_releases(spawn, env, tmp_path, aiwf, v2_fail_rate=0.0)
    assert "active release of relapp" in assert_one_error(aiwf("release", "retire", "relapp", "v1"))
    assert aiwf("release", "promote", "relapp", "v2", "--stable-after", "3").returncode == 0
    assert "stable in" in assert_one_error(aiwf("release", "retire", "relapp", "v1"))
    assert "did you mean v1" in assert_one_error(aiwf("release", "retire", "relapp", "v11"))
    time.sleep(3)
    retired = aiwf("release", "retire", "relapp", "v1")
    assert retired.returncode == 0, retired.stderr
    wait_for(lambda: role_is(aiwf, "v1", "retired", instances=0), 20, "v1's instance to stop")
    assert "no release to roll back to" in assert_one_error(aiwf("release", "rollback", "relapp"))


def test_release_commands_refuse_unknown_names_in_one_line(aiwf: Aiwf, r: redis.Redis) -> None:
    """An unknown service, a release without a live instance, a bad release name: one `aiwf:` line each."""
    r.hset("aiwf:release:relapp", mapping={"active": "v1", "promoted_at": "0"})
    assert "did you mean relapp" in assert_one_error(aiwf("release", "promote", "relap", "v2"))
    assert "no live instance of relapp release v2" in assert_one_error(aiwf("release", "promote", "relapp", "v2"))
    assert "--release" in assert_one_error(aiwf("worker", "llm", "--release", "no/slash"), code=2)
