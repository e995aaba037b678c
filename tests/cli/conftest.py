"""Fixtures for black-box tests of the installed `aiwf` console script against a real Redis."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from cli_checks import Aiwf, Env, Spawn


def aiwf_script() -> str:
    """The console script pip installed next to this interpreter (or on PATH)."""
    beside = Path(sys.executable).parent / "aiwf"
    found = str(beside) if beside.exists() else shutil.which("aiwf")
    assert found, "the aiwf console script is not installed; pip install -e ."
    return found


AIWF = aiwf_script()


@pytest.fixture
def env(redis_url: str, tmp_path: Path) -> Env:
    """The environment of one CLI call: the test Redis, a private data dir, a wide table."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AIWF_", "REDIS_URL"))}
    data = tmp_path / "data"
    data.mkdir()
    return {
        **base,
        "REDIS_URL": redis_url,
        "AIWF_DATA_DIR": str(data),
        "COLUMNS": "250",
        "NO_COLOR": "1",
        "PYTHONUNBUFFERED": "1",
    }


@pytest.fixture
def r(redis_url: str) -> Iterator[redis.Redis]:
    """A synchronous client on an empty database."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def aiwf(env: Env, tmp_path: Path) -> Aiwf:
    """Run `aiwf ARGS` to completion; `env=` overrides variables (None removes one)."""

    def call(
        *args: str, env: dict[str, str | None] | None = None, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        merged = dict(base)
        for key, value in (env or {}).items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        return subprocess.run(
            [AIWF, *args], env=merged, cwd=tmp_path, capture_output=True, text=True, timeout=timeout, check=False
        )

    base = env
    return call


@pytest.fixture
def spawn(env: Env, tmp_path: Path) -> Iterator[Spawn]:
    """Start `aiwf ARGS` in its own session, output to files in tmp_path; killed (whole session) at teardown."""
    started: list[subprocess.Popen[bytes]] = []

    def start(*args: str, env: Env | None = None, sigint: int = signal.SIG_DFL) -> subprocess.Popen[bytes]:
        log = tmp_path / f"{args[0]}-{len(started)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [AIWF, *args],
                env=env or base,
                cwd=tmp_path,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                # A shell's background job starts with SIGINT ignored; by default give the child the
                # default back, or pass sigint=signal.SIG_IGN to start it the way a shell would.
                preexec_fn=lambda: signal.signal(signal.SIGINT, sigint),  # noqa: PLW1509
            )
        started.append(process)
        return process

    base = env
    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
