"""`aiwf up` heals a hung worker and gives up on one that cannot start; `aiwf ctl` operates one worker."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from typing import Any

import pytest
import redis
from cli_checks import Aiwf, Env, Spawn, assert_one_error, beats, wait_for

from aiwf.cli.supervise import MAX_START_FAILURES, Supervisor, child_env

pytestmark = pytest.mark.slow


def states(aiwf: Aiwf) -> dict[str, str]:
    done = aiwf("health", "--json")
    return {row["service"]: row["state"] for row in json.loads(done.stdout)} if done.stdout else {}


def workers(aiwf: Aiwf) -> dict[str, dict[str, Any]]:
    done = aiwf("ctl", "ls", "--json")
    return {row["service"]: row for row in json.loads(done.stdout)} if done.returncode == 0 else {}


def live_pid(r: redis.Redis, service: str) -> int | None:
    now = time.time()
    fresh = [b for b in beats(r, service) if b.get("state") == "running" and now - float(b["beat_at"]) < 3]
    return int(fresh[0]["pid"]) if fresh else None


def test_ctl_stop_takes_one_worker_offline_and_start_brings_it_back(
    aiwf: Aiwf, spawn: Spawn, env: Env, r: redis.Redis
) -> None:
    """Under `aiwf up`: ctl stop tts -> health shows tts offline, the others keep running; ctl start -> back."""
    assert "no `aiwf up` is running" in assert_one_error(aiwf("ctl", "stop", "tts"))
    spawn("up", "--only", "tts,documents", "--no-table")
    wait_for(lambda: states(aiwf).get("documents") == "running", 40, "documents running under aiwf up")
    wait_for(lambda: states(aiwf).get("tts") not in {None, "offline"}, 40, "tts up under aiwf up")
    wait_for(lambda: workers(aiwf).get("tts", {}).get("state") == "running", 10, "aiwf ctl ls to list tts")
    stopped = aiwf("ctl", "stop", "tts")
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.startswith("tts: stopping")
    wait_for(lambda: states(aiwf).get("tts") == "offline", 20, "tts offline after ctl stop")
    time.sleep(2)  # the supervisor does not bring it back by itself
    assert states(aiwf)["tts"] == "offline"
    assert states(aiwf)["documents"] == "running"
    assert workers(aiwf)["tts"]["state"] == "stopped"
    assert "did you mean tts" in assert_one_error(aiwf("ctl", "start", "ttss"))
    started = aiwf("ctl", "start", "tts")
    assert started.returncode == 0, started.stderr
    assert started.stdout.startswith("tts: started (pid ")
    wait_for(lambda: states(aiwf).get("tts") not in {None, "offline"}, 40, "tts back after ctl start")
    before = live_pid(r, "documents")
    assert aiwf("ctl", "restart", "documents").returncode == 0
    wait_for(lambda: live_pid(r, "documents") not in {None, before}, 40, "documents back with a new pid")


def test_up_restarts_a_worker_that_is_alive_but_frozen(aiwf: Aiwf, spawn: Spawn, env: Env, r: redis.Redis) -> None:
    """A SIGSTOPped worker beats no more: after AIWF_RESTART_UNHEALTHY_AFTER it is killed and a new one runs."""
    spawn("up", "--only", "documents", "--no-table", env={**env, "AIWF_RESTART_UNHEALTHY_AFTER": "4"})
    frozen = wait_for(lambda: live_pid(r, "documents"), 40, "documents running under aiwf up")
    os.kill(frozen, signal.SIGSTOP)
    began = time.monotonic()
    try:
        wait_for(lambda: live_pid(r, "documents") not in {None, frozen}, 40, "a new documents worker")
    finally:
        with contextlib.suppress(ProcessLookupError):  # killed, as it should be
            os.kill(frozen, signal.SIGCONT)
    healed = time.monotonic() - began
    print(f"frozen worker replaced after {healed:.1f}s")
    assert healed < 4 + 15, healed  # the bound, a heartbeat's staleness and a worker's start-up
    with pytest.raises(ProcessLookupError):
        os.kill(frozen, 0)
    assert workers(aiwf)["documents"]["restarts"] == 1


def test_a_worker_that_keeps_failing_at_start_is_given_up_not_restarted_in_a_loop(redis_url: str) -> None:
    """A worker that exits at once is restarted with growing delays, then reported as failed and left alone."""
    supervisor = Supervisor(["nosuch"], child_env(redis_url))
    supervisor.start()
    spawned: list[float] = []
    began = time.monotonic()
    try:
        while time.monotonic() - began < 40 and not supervisor.children["nosuch"].given_up:
            pid = supervisor.pids()["nosuch"]
            if pid is not None and (not spawned or spawned[-1] != pid):
                spawned.append(pid)
            supervisor.tick()
            time.sleep(0.05)
        gave_up_after = time.monotonic() - began
        child = supervisor.children["nosuch"]
        assert child.state == "failed"
        assert f"exited {MAX_START_FAILURES} times" in child.given_up
        assert child.restarts == MAX_START_FAILURES
        assert gave_up_after > 0.5 + 1 + 2 + 4 / 2, gave_up_after  # backoff, not a tight loop (equal jitter)
        time.sleep(1.5)
        supervisor.tick()
        assert supervisor.pids()["nosuch"] is None, "restarted after giving up"
    finally:
        supervisor.stop(5)
