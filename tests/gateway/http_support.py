"""Gateway apps in-process (their lifespan entered, httpx over ASGI) on the test Redis, and waiting for a status."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from auth_support import make_keys

from aiwf.bus.config import BusConfig
from aiwf.gateway import GatewaySettings, create_app

Gateway = Callable[..., contextlib.AbstractAsyncContextManager[httpx.AsyncClient]]
PASSWORD = "Correct-Horse-Battery-42"


@pytest.fixture(autouse=True)
def sealing_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Sealing keys for auth and the gateway (passwords sealed for auth, issued tokens for the gateway)."""
    return make_keys(tmp_path, monkeypatch)


async def account(http: httpx.AsyncClient, username: str, password: str = PASSWORD, base: str = "") -> dict[str, str]:
    """Register `username` and log in through the gateway; the Authorization header of its access token."""
    body = {"username": username, "password": password}
    created = await http.post(f"{base}/api/v1/auth/register", json=body)
    assert created.status_code == 201, created.text
    tokens = await http.post(f"{base}/api/v1/auth/login", json=body)
    assert tokens.status_code == 200, tokens.text
    return {"Authorization": f"Bearer {tokens.json()['access_token']}"}


@pytest.fixture
def bus(config: BusConfig, tmp_path: Path) -> BusConfig:
    """The test Redis with the blob store in tmp_path, shared by the gateway and the workers."""
    return config.model_copy(update={"blob_dir": tmp_path / "blobs"})


@pytest.fixture
def gateway(bus: BusConfig, client: Any) -> Gateway:
    """`async with gateway(**settings) as http:` one gateway replica (a fresh app, its own reader)."""

    @contextlib.asynccontextmanager
    async def replica(url: str | None = None, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(bus, GatewaySettings(**settings), url or bus.redis_url or "")
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
                yield http

    return replica


async def eventually(
    get: Callable[[], Awaitable[httpx.Response]], status: int, timeout_s: float = 20
) -> httpx.Response:
    """GET until the status is `status` (drain-like waiting, never a fixed sleep)."""

    deadline = time.monotonic() + timeout_s
    while True:
        response = await get()
        if response.status_code == status or time.monotonic() > deadline:
            return response
        await asyncio.sleep(0.05)


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def gateway_process(bus: BusConfig, **env_vars: str) -> AsyncIterator[str]:
    """`aiwf gateway` on a free port, sharing the test's Redis, keys and blob directory; its URL."""
    port = free_port()
    env = {**os.environ, "REDIS_URL": bus.redis_url or "", "AIWF_BLOB_DIR": str(bus.blob_path), **env_vars}
    cmd = [sys.executable, "-m", "aiwf.cli", "gateway", "--host", "127.0.0.1", "--port", str(port)]
    proc = await asyncio.create_subprocess_exec(*cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        # Never block the loop: the workers of this test run on it.
        async with httpx.AsyncClient() as http:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get(f"{url}/health", timeout=1)).status_code == 200:
                        break
                await asyncio.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 20)
