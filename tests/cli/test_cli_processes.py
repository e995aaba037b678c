"""Long-running commands as real processes: `aiwf worker`, `aiwf health` against it, GET /health, `aiwf up`."""

from __future__ import annotations

import contextlib
import json
import os
import signal
from pathlib import Path

import pytest
import redis
from cli_checks import Aiwf, Env, Spawn, assert_one_error, beats, get_health, wait_for

from aiwf.bus.server import EmbeddedRedis, free_port
from aiwf.workers import WORKERS

pytestmark = pytest.mark.slow


def _states(aiwf: Aiwf) -> dict[str, str]:
    result = aiwf("health", "--json")
    assert result.returncode in {0, 1}, result.stderr
    return {row["service"]: row["state"] for row in json.loads(result.stdout)}


def _running_pid(r: redis.Redis, service: str, other_than: int | None = None) -> int | None:
    pids = [int(b["pid"]) for b in beats(r, service) if b.get("state") == "running"]
    return next((p for p in pids if p != other_than), None)


def test_health_with_no_workers_is_all_offline(aiwf: Aiwf, r: redis.Redis) -> None:
    """No heartbeats: every known service is offline, exit 1, in the table and as JSON."""
    result = aiwf("health", "--json")
    assert result.returncode == 1
    assert result.stderr == ""
    rows = json.loads(result.stdout)
    assert [row["service"] for row in rows] == list(WORKERS)
    assert {row["state"] for row in rows} == {"offline"}
    table = aiwf("health")
    assert table.returncode == 1
    assert table.stdout.count("offline") == len(WORKERS)


def test_worker_shows_running_in_health_and_stops_cleanly_on_sigterm(aiwf: Aiwf, spawn: Spawn, r: redis.Redis) -> None:
    """`aiwf worker documents` shows documents running, the rest offline; SIGTERM: exit 0 within 10 s, then offline."""
    worker = spawn("worker", "documents")
    wait_for(lambda: _states(aiwf).get("documents") == "running", 20, "documents running in aiwf health")
    states = _states(aiwf)
    assert {s for name, s in states.items() if name != "documents"} == {"offline"}
    assert _running_pid(r, "documents") == worker.pid
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(10) == 0
    assert _states(aiwf)["documents"] == "offline"


def test_worker_with_an_unknown_name_fails_in_one_line(aiwf: Aiwf) -> None:
    """An unknown worker name is one line naming the known ones, exit 1."""
    line = assert_one_error(aiwf("worker", "nope"))
    assert "nope" in line
    assert "documents" in line


def test_worker_health_endpoint_follows_its_redis(spawn: Spawn, env: Env, tmp_path: Path) -> None:
    """GET /health is 200 with state running while Redis answers, and 503 once its Redis is gone."""
    port = free_port()
    with EmbeddedRedis(tmp_path / "own-redis") as own:
        worker = spawn("worker", "documents", "--health-port", str(port), env={**env, "REDIS_URL": own.url})
        status, body = wait_for(lambda: get_health(port), 20, "GET /health to answer")
        assert (status, body["state"], body["service"], body["redis"]) == (200, "running", "documents", True)
        assert body["pid"] == worker.pid
    # the server is stopped: the same worker now reports itself unhealthy
    status, body = wait_for(lambda: (h := get_health(port)) and h[0] == 503 and h, 10, "GET /health to turn 503")
    assert body["redis"] is False
    assert worker.poll() is None
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(15) == 0


def test_up_restarts_a_killed_worker_and_stops_on_sigint(
    aiwf: Aiwf, spawn: Spawn, r: redis.Redis, tmp_path: Path
) -> None:
    """`aiwf up --only documents,llm`: both run, a SIGKILLed worker is restarted with a new pid, SIGINT exits 0."""
    up = spawn("up", "--no-table", "--only", "documents,llm")
    seen: set[int] = set()
    try:
        wait_for(
            lambda: (
                {k: v for k, v in _states(aiwf).items() if k in {"documents", "llm"}}
                == {"documents": "running", "llm": "running"}
            ),
            30,
            "documents and llm running",
        )
        old = _running_pid(r, "documents")
        assert old is not None
        seen |= {old, *(int(b["pid"]) for b in beats(r, "llm"))}
        os.kill(old, signal.SIGKILL)
        new = wait_for(lambda: _running_pid(r, "documents", other_than=old), 30, "a restarted documents worker")
        seen.add(new)
        assert new != old
        up.send_signal(signal.SIGINT)
        assert up.wait(40) == 0
        assert "documents exited with -9" in (tmp_path / "up-0.log").read_text()
        survivors = seen - {old}
        wait_for(lambda: not any(map(_alive, survivors)), 5, f"workers {survivors} to exit with aiwf up")
    finally:
        for pid in seen:  # the workers run in sessions of their own: end any that outlived the test
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (a worker of `aiwf up` is not our child to reap)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_up_with_an_unknown_worker_is_a_usage_error(aiwf: Aiwf) -> None:
    """`aiwf up --only nope` exits 2 with one line naming it, before starting anything."""
    assert "nope" in assert_one_error(aiwf("up", "--only", "nope"), code=2)


def test_up_refuses_a_malformed_redis_url_before_starting_workers(aiwf: Aiwf, tmp_path: Path) -> None:
    """A REDIS_URL redis-py cannot parse stops `aiwf up` with one line and exit 2, not a crash-looping worker."""
    result = aiwf("up", "--no-table", "--only", "documents", env={"REDIS_URL": "http://127.0.0.1:1"}, timeout=20)
    assert "REDIS_URL" in assert_one_error(result, code=2)


def test_up_started_as_a_background_job_still_stops_on_sigint(aiwf: Aiwf, spawn: Spawn, r: redis.Redis) -> None:
    """Started with SIGINT ignored (as a shell starts `cmd &`), `aiwf up` still drains and exits 0 on SIGINT."""
    up = spawn("up", "--no-table", "--only", "documents", sigint=signal.SIG_IGN)
    wait_for(lambda: _states(aiwf).get("documents") == "running", 30, "documents running")
    worker = _running_pid(r, "documents")
    up.send_signal(signal.SIGINT)
    assert up.wait(40) == 0
    assert worker is not None
    wait_for(lambda: not _alive(worker), 5, "the worker to exit with aiwf up")


def test_workers_end_when_the_supervisor_is_killed(aiwf: Aiwf, spawn: Spawn, r: redis.Redis) -> None:
    """SIGKILL of `aiwf up` (no chance to clean up) still ends its workers: they get SIGTERM from the kernel."""
    up = spawn("up", "--no-table", "--only", "documents")
    wait_for(lambda: _states(aiwf).get("documents") == "running", 30, "documents running")
    worker = _running_pid(r, "documents")
    assert worker is not None
    up.send_signal(signal.SIGKILL)
    up.wait(10)
    wait_for(lambda: not _alive(worker), 15, "the orphaned worker to exit")
