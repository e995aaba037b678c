"""`aiwf gateway` as a process: uvicorn serving /health on the port asked for; a bad setting is one line, exit 2."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_aiwf_gateway_serves_health_on_its_port(redis_url: str) -> None:
    """`aiwf gateway --port P` prints its URL and answers GET /health 200 there; SIGTERM stops it."""
    port = free_port()
    env = {**os.environ, "REDIS_URL": redis_url}
    cmd = [sys.executable, "-m", "aiwf.cli", "gateway", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline, status = time.monotonic() + 30, 0
        while time.monotonic() < deadline and status != 200:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code
            except httpx.TransportError:
                time.sleep(0.1)
        assert status == 200
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert f"aiwf gateway on http://127.0.0.1:{port}/" in out


def test_a_bad_port_variable_is_one_line_and_exit_2() -> None:
    """AIWF_GATEWAY_PORT=abc stops `aiwf gateway` with one line naming the variable."""
    env = {**os.environ, "AIWF_GATEWAY_PORT": "abc"}
    result = subprocess.run(
        [sys.executable, "-m", "aiwf.cli", "gateway"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2
    assert result.stderr.startswith("aiwf: AIWF_GATEWAY_PORT must be an integer")


def test_openapi_writes_every_route(tmp_path: Path) -> None:
    """`aiwf gateway openapi --out F` writes the OpenAPI document naming every /api/v1 route and the bearer scheme."""
    out = tmp_path / "openapi.json"
    result = subprocess.run(
        [sys.executable, "-m", "aiwf.cli", "gateway", "openapi", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(out.read_text())
    assert {
        "/api/v1/documents",
        "/api/v1/documents/{document_id}",
        "/api/v1/summaries",
        "/api/v1/summaries/{run_id}",
        "/api/v1/summaries/{run_id}/audio",
        "/api/v1/llm/chat",
        "/api/v1/tts/synthesize",
        "/api/v1/auth/login",
        "/api/v1/auth/register",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/requests/{request_id}",
        "/api/v1/requests/{request_id}/events",
        "/api/v1/status",
        "/api/v1/status/events",
        "/health",
    } <= set(document["paths"])
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert "multipart/form-data" in document["paths"]["/api/v1/summaries"]["post"]["requestBody"]["content"]


def test_aiwf_up_starts_the_gateway_and_prints_the_page_url(redis_url: str) -> None:
    """`aiwf up --only gateway` supervises `aiwf gateway`, prints `aiwf page: URL`, and the page answers there."""
    port = free_port()
    env = {**os.environ, "REDIS_URL": redis_url, "AIWF_GATEWAY_PORT": str(port)}
    cmd = [sys.executable, "-m", "aiwf.cli", "up", "--no-table", "--only", "gateway"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, status = time.monotonic() + 30, 0
        while time.monotonic() < deadline and status != 200:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/", timeout=1).status_code
            except httpx.TransportError:
                time.sleep(0.2)
        assert status == 200
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=40)
    assert f"aiwf page: http://127.0.0.1:{port}/" in out
    assert proc.returncode == 0
