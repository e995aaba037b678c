"""`docker compose up` without Docker: init, Redis and every service of compose.yaml run as processes with
compose's own commands, environment, secrets layout and health checks; then a summary runs through the gateway.

What this cannot check is Docker's part (images, networks, volume subpaths, read-only roots, uids):
tests/containers/test_dockerfile.py and test_read_only_root.py cover what of that runs without an engine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.containers.compose_support import (
    COMPOSE,
    command,
    free_port,
    health_check,
    run_init,
    service_env,
    start_redis,
)

SERVICES = [n for n, s in COMPOSE["services"].items() if n not in ("init", "redis") and "profiles" not in s]
ARTICLE = "# Streams\n\nRedis streams keep every event in order. Consumer groups share the work between workers.\n"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="init.sh gives files to other uids: needs root"),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server on PATH"),
]


@dataclass
class Stack:
    """The running stack: where init put its files, Redis' port, and each service's port and log."""

    root: Path
    redis_port: int
    ports: dict[str, int]
    logs: dict[str, Path]


def _log_tail(stack: Stack, name: str) -> str:
    return stack.logs[name].read_text(errors="replace")[-2000:]


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    """compose.yaml's init, then Redis, then every service, each until its health check passes (60 s at most)."""
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        done = run_init(root / "secrets", tls_hosts="redis,127.0.0.1")
        assert done.returncode == 0, done.stderr
        (root / "redis-data").mkdir()
        (root / "blobs").mkdir()
        redis, redis_port = start_redis(root / "secrets", root / "redis-data")
        stack = Stack(root / "secrets", redis_port, {n: free_port() for n in SERVICES}, {})
        children: list[subprocess.Popen[bytes]] = []
        try:
            for name in SERVICES:
                env = service_env(name, stack.root, redis_port, root / "blobs", stack.ports[name])
                stack.logs[name] = root / f"{name}.log"
                with stack.logs[name].open("wb") as log:
                    children.append(
                        subprocess.Popen(command(name), env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
                    )
            deadline = time.monotonic() + 60
            waiting = set(SERVICES)
            while waiting:
                for name, child in zip(SERVICES, children, strict=True):
                    assert child.poll() is None, f"{name} exited {child.returncode}:\n{_log_tail(stack, name)}"
                waiting = {n for n in waiting if not health_check(n, stack.ports[n])}
                assert time.monotonic() < deadline, f"unhealthy after 60 s: {sorted(waiting)}"
                time.sleep(0.5)
            yield stack
        finally:
            for child in children:
                child.terminate()
            for child in children:
                try:
                    child.wait(30)
                except subprocess.TimeoutExpired:
                    child.kill()
            redis.terminate()
            redis.wait(10)


def test_every_service_comes_up_healthy_under_its_own_identity(stack: Stack) -> None:
    """Each service passes compose's health check, and the operator tool (compose's `tools` profile) sees them all."""
    assert all(health_check(n, stack.ports[n]) for n in SERVICES)
    env = service_env("operator", stack.root, stack.redis_port, stack.root / "unused", free_port())
    health = subprocess.run(
        [*command("operator"), "--json"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert health.returncode == 0, health.stderr
    for name in SERVICES:
        if name != "gateway":
            assert f'"{name}"' in health.stdout, (name, health.stdout[:2000])


def test_a_summary_runs_through_the_gateway_to_speech(stack: Stack) -> None:
    """Register, log in, summarize: documents -> llm -> tts -> pipeline over TLS with ACLs, a WAV at the end."""
    base = f"http://127.0.0.1:{stack.ports['gateway']}"
    with httpx.Client(base_url=base, timeout=30) as http:
        body = {"username": "ada", "password": "Correct-Horse-Battery-42"}
        assert http.post("/api/v1/auth/register", json=body).status_code == 201, _log_tail(stack, "auth")
        token = http.post("/api/v1/auth/login", json=body).json()["access_token"]
        me = {"Authorization": f"Bearer {token}"}
        run = http.post("/api/v1/summaries", json={"text": ARTICLE, "filename": "a.md"}, headers=me).json()
        deadline = time.monotonic() + 60
        while (state := http.get(run["url"], headers=me).json())["status"] == "running":
            assert time.monotonic() < deadline, state
            time.sleep(0.5)
        audio = http.get(state["audio"], headers=me)
    assert state["status"] == "completed", state
    assert audio.headers["content-type"] == "audio/wav"
    assert audio.content[:4] == b"RIFF"
