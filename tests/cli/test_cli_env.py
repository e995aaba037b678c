"""A second terminal finds the embedded Redis: `aiwf up` prints its REDIS_URL, `aiwf env` exports it,
`aiwf status` shows it, and the server prefers a stable port (AIWF_REDIS_PORT, default 6390)."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from cli_checks import Aiwf, Env, Spawn, assert_one_error, wait_for

from aiwf.bus.config import DEFAULT_EMBEDDED_PORT
from aiwf.bus.server import EmbeddedRedis, free_port

pytestmark = pytest.mark.slow

AIWF = str(Path(sys.executable).parent / "aiwf")
URL_LINE = re.compile(r"REDIS_URL=(redis://127\.0\.0\.1:(\d+)/0)")


def _no_redis_url(env: Env) -> Env:
    return {k: v for k, v in env.items() if k != "REDIS_URL"}


def _printed_url(log: Path) -> tuple[str, int]:
    match = wait_for(lambda: log.exists() and URL_LINE.search(log.read_text()), 30, "aiwf up to print REDIS_URL")
    return match[1], int(match[2])


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_up_prints_redis_url_and_env_exports_it_for_another_shell(
    aiwf: Aiwf, spawn: Spawn, env: Env, tmp_path: Path
) -> None:
    """`aiwf up` (default data dir .aiwf, default port) prints REDIS_URL=...; `eval "$(aiwf env)"` in
    another shell in the same directory sets that URL, and a client on it reaches the same server."""
    plain = {k: v for k, v in _no_redis_url(env).items() if k != "AIWF_DATA_DIR"}
    default_port_free = _port_free(DEFAULT_EMBEDDED_PORT)
    up = spawn("up", "--no-table", "--only", "documents", env=plain)
    url, port = _printed_url(tmp_path / "up-0.log")
    if default_port_free:
        assert port == DEFAULT_EMBEDDED_PORT
    exported = aiwf("env", env={"REDIS_URL": None, "AIWF_DATA_DIR": None})
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.splitlines() == [
        f"export REDIS_URL={url}",
        f"export AIWF_DATA_DIR={(tmp_path / '.aiwf').resolve()}",
    ]
    shell = subprocess.run(
        ["bash", "-c", f'eval "$({AIWF} env)" && echo "$REDIS_URL"'],
        env=plain,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert shell.stdout.strip() == url
    client = redis.Redis.from_url(url)
    assert client.ping()
    client.close()
    up.send_signal(signal.SIGINT)
    assert up.wait(40) == 0


def test_status_shows_the_embedded_redis_and_the_up_running_on_it(
    aiwf: Aiwf, spawn: Spawn, env: Env, tmp_path: Path
) -> None:
    """`aiwf status --json` names the URL (source embedded), the server's version, the data dir and up's pid."""
    own_port = {**_no_redis_url(env), "AIWF_REDIS_PORT": str(free_port())}
    up = spawn("up", "--no-table", "--only", "documents", env=own_port)
    url, _ = _printed_url(tmp_path / "up-0.log")
    result = aiwf("status", "--json", env={"REDIS_URL": None})
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout)
    assert (facts["redis_url"], facts["redis_source"], facts["redis_answers"]) == (url, "embedded", True)
    assert facts["up_pid"] == up.pid
    assert facts["data_dir"] == str(Path(env["AIWF_DATA_DIR"]).resolve())
    assert facts["embedded_server"]["version"] == facts["redis_version"]
    table = aiwf("status", env={"REDIS_URL": None})
    assert url in table.stdout
    assert f"pid {up.pid}" in table.stdout
    up.send_signal(signal.SIGINT)
    assert up.wait(40) == 0
    after = aiwf("status", "--json", env={"REDIS_URL": None})
    assert after.returncode == 1
    assert json.loads(after.stdout)["up_pid"] is None
    assert after.stderr.startswith("aiwf: no Redis answers")


def test_embedded_redis_takes_a_free_port_when_its_own_is_taken(spawn: Spawn, env: Env, tmp_path: Path) -> None:
    """With AIWF_REDIS_PORT held by another listener, `aiwf up` runs on a free port and prints that one."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        up = spawn("up", "--no-table", "--only", "documents", env={**_no_redis_url(env), "AIWF_REDIS_PORT": str(taken)})
        url, port = _printed_url(tmp_path / "up-0.log")
        assert port != taken
        assert (Path(env["AIWF_DATA_DIR"]) / "redis.url").read_text().strip() == url
        up.send_signal(signal.SIGINT)
        assert up.wait(40) == 0


def test_env_without_any_redis_is_one_line(aiwf: Aiwf) -> None:
    """No REDIS_URL and no `aiwf up` on the data dir: `aiwf env` exits 1 naming `aiwf up`."""
    assert "aiwf up" in assert_one_error(aiwf("env", env={"REDIS_URL": None}))


def test_env_with_redis_url_exports_that_url(aiwf: Aiwf, env: Env) -> None:
    """REDIS_URL set: `aiwf env` exports the very Redis every other command would use."""
    result = aiwf("env", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["REDIS_URL"] == env["REDIS_URL"]


def test_status_wait_returns_once_every_worker_of_up_runs(aiwf: Aiwf, spawn: Spawn, env: Env, r: redis.Redis) -> None:
    """`aiwf status --wait 60` right after starting `aiwf up` in the background returns 0 once its workers beat."""
    up = spawn(
        "up", "--no-table", "--only", "documents,llm", env={**_no_redis_url(env), "AIWF_REDIS_PORT": str(free_port())}
    )
    result = aiwf("status", "--wait", "60", "--json", env={"REDIS_URL": None}, timeout=90)
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout)
    assert (facts["up_pid"], facts["up_workers"]) == (up.pid, ["documents", "llm"])
    health = json.loads(aiwf("health", "--json", env={"REDIS_URL": None}).stdout)
    assert {row["service"]: row["state"] for row in health if row["service"] in {"documents", "llm"}} == {
        "documents": "running",
        "llm": "running",
    }
    up.send_signal(signal.SIGINT)
    assert up.wait(40) == 0


def test_status_wait_without_up_ends_in_one_line(aiwf: Aiwf) -> None:
    """Nothing starting: `--wait 1` gives up after a second with one line saying what it waited for."""
    result = aiwf("status", "--wait", "1", env={"REDIS_URL": None}, timeout=30)
    assert result.returncode == 1
    assert result.stderr.strip() == "aiwf: waited 1s: no Redis answers yet (is `aiwf up` starting?)"


def test_a_stale_redis_url_naming_another_data_dirs_server_is_not_used(aiwf: Aiwf, env: Env, tmp_path: Path) -> None:
    """redis.url left by a killed `aiwf up` whose port another data dir's server now holds: no Redis, not that one."""
    with EmbeddedRedis(tmp_path / "other-dir") as other:
        (Path(env["AIWF_DATA_DIR"]) / "redis.url").write_text(other.url)
        line = assert_one_error(aiwf("env", env={"REDIS_URL": None}))
        assert "aiwf up" in line
        assert json.loads(aiwf("status", "--json", env={"REDIS_URL": None}).stdout)["redis_url"] is None
