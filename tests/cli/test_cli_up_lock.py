"""One `aiwf up` per data dir: a second one refuses in one line naming the first's pid and the data dir."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import redis
from cli_checks import Aiwf, Env, Spawn, assert_one_error, beats, wait_for

from aiwf.bus.server import free_port

pytestmark = pytest.mark.slow


def _documents_running(r: redis.Redis) -> list[int]:
    return [int(b["pid"]) for b in beats(r, "documents") if b.get("state") == "running"]


def test_second_up_on_one_data_dir_refuses_naming_the_pid(aiwf: Aiwf, spawn: Spawn, env: Env, r: redis.Redis) -> None:
    """While `aiwf up` runs, a second on the same data dir exits 1 naming pid and dir, and starts no worker."""
    first = spawn("up", "--no-table", "--only", "documents")
    wait_for(lambda: _documents_running(r), 30, "documents running under the first aiwf up")
    line = assert_one_error(aiwf("up", "--no-table", "--only", "documents", timeout=20))
    assert f"pid {first.pid}" in line
    assert str(Path(env["AIWF_DATA_DIR"]).resolve()) in line
    assert "AIWF_DATA_DIR" in line
    assert len(_documents_running(r)) == 1
    first.send_signal(signal.SIGINT)
    assert first.wait(40) == 0
    again = spawn("up", "--no-table", "--only", "documents")
    wait_for(lambda: _documents_running(r), 30, "documents running under a new aiwf up once the first stopped")
    again.send_signal(signal.SIGINT)
    assert again.wait(40) == 0


def test_killed_up_leaves_no_stale_lock(spawn: Spawn, r: redis.Redis) -> None:
    """An `aiwf up` killed with SIGKILL holds nothing: the next one on its data dir starts."""
    first = spawn("up", "--no-table", "--only", "documents")
    wait_for(lambda: _documents_running(r), 30, "documents running")
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    again = spawn("up", "--no-table", "--only", "documents")
    wait_for(lambda: again.pid in _supervisors(r), 30, "a documents worker of the second aiwf up")
    again.send_signal(signal.SIGINT)
    assert again.wait(40) == 0


def test_up_on_another_data_dir_runs_beside(spawn: Spawn, env: Env, tmp_path: Path, r: redis.Redis) -> None:
    """The lock is per data dir: an `aiwf up` with another AIWF_DATA_DIR starts while the first runs."""
    first = spawn("up", "--no-table", "--only", "documents")
    wait_for(lambda: len(_documents_running(r)) == 1, 30, "one documents worker")
    other = tmp_path / "other-data"
    second = spawn("up", "--no-table", "--only", "documents", env={**env, "AIWF_DATA_DIR": str(other)})
    wait_for(lambda: len(_documents_running(r)) == 2, 30, "a second documents worker")
    for process in (second, first):
        process.send_signal(signal.SIGINT)
        assert process.wait(40) == 0


def _supervisors(r: redis.Redis) -> set[int]:
    """Parent pids of the running documents workers (each is a child of its `aiwf up`)."""
    parents = set()
    for pid in _documents_running(r):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            continue
        parents.add(int(stat.rsplit(")", 1)[1].split()[1]))
    return parents


@pytest.mark.parametrize("attempt", range(3))
def test_sigint_while_up_is_starting_still_stops_it(spawn: Spawn, env: Env, tmp_path: Path, attempt: int) -> None:
    """SIGINT the moment the embedded Redis answers (workers still being started) ends `aiwf up` with exit 0:
    the stop is not lost in the middle of starting a worker process."""
    own = {k: v for k, v in env.items() if k != "REDIS_URL"}
    up = spawn("up", "--no-table", "--only", "documents,llm", env={**own, "AIWF_REDIS_PORT": str(free_port())})
    url_file = Path(env["AIWF_DATA_DIR"]) / "redis.url"
    wait_for(url_file.exists, 30, "the embedded Redis to answer")
    up.send_signal(signal.SIGINT)
    assert up.wait(40) == 0, (tmp_path / "up-0.log").read_text()
    assert "Traceback" not in (tmp_path / "up-0.log").read_text()
