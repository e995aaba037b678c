"""The gateway and the CLI under their own Redis users: what they serve works, what they must not do is refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from aiwf.bus import keys
from aiwf.gateway import GatewaySettings, create_app
from aiwf.workers import load
from tests.security.world import AclRedis
from tests.worker_support import serving

ARTICLE = "Redis streams keep every event in order. The gateway turns requests into events. Each service reads its own."


@pytest.mark.xfail(
    reason="every route but register/login now needs a signed-in user; this test predates the gateway's JWT "
    "and has to run auth under its own ACL user to sign in (not done yet)",
    strict=False,
)
async def test_the_gateway_serves_a_chat_and_its_status_as_its_own_user(
    acl: AclRedis, admin: aioredis.Redis, tmp_path: Path
) -> None:
    """POST /api/v1/llm/chat through aiwf-gateway and aiwf-llm answers 200; GET /api/v1/status lists what it may see."""
    await admin.acl_log_reset()
    blobs = tmp_path / "blobs"
    gateway_config = acl.config("gateway", blob_dir=blobs)
    app = create_app(gateway_config, GatewaySettings(), acl.url)
    async with serving(load("llm"), acl.config("llm", blob_dir=blobs)), app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            response = await http.post("/api/v1/llm/chat", json={"messages": [{"role": "user", "content": ARTICLE}]})
            assert response.status_code == 200, response.text
            assert response.json()["choices"][0]["message"]["content"]
            status = await http.get("/api/v1/status")
            assert status.status_code == 200, status.text
    assert await admin.acl_log() == []


def aiwf(acl: AclRedis, user: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The installed `aiwf` as `user` (its password file), in a clean environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIWF_", "REDIS_URL"))}
    env |= {"REDIS_URL": acl.url, "AIWF_REDIS_USERNAME": user, "AIWF_REDIS_PASSWORD_FILE": str(acl.passwords / user)}
    command = [str(Path(sys.executable).parent / "aiwf"), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)


async def test_the_cli_user_inspects_and_the_operator_publishes_and_purges(
    acl: AclRedis, admin: aioredis.Redis
) -> None:
    """aiwf-cli runs streams, health, tail and dlq ls, but publish and dlq purge are refused in one line;
    aiwf-operator does both."""
    data = json.dumps({"request_id": "r1", "messages": [{"role": "user", "content": "hi"}]})
    published = aiwf(acl, "aiwf-operator", "publish", "llm.chat.requested", "--data", data)
    assert published.returncode == 0, published.stderr
    await admin.xadd(keys.dead_letters("llm"), {"id": "x", "type": "llm.chat.requested", "body": "{}", "error": "e"})
    for args in (("streams", "--json"), ("tail", "llm", "--json"), ("dlq", "ls", "--json"), ("health", "--json")):
        done = aiwf(acl, "aiwf-cli", *args)
        assert done.stderr == "", (args, done.stderr)  # health exits 1 while services are offline: not an error here
        assert done.stdout.strip(), args
    assert len(json.loads(aiwf(acl, "aiwf-cli", "dlq", "ls", "--json").stdout)) == 1
    refused = aiwf(acl, "aiwf-cli", "publish", "llm.chat.requested", "--data", data)
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        "aiwf: Redis refused the command: this user has no permissions to run the 'xadd' command"
    ]
    not_yours = aiwf(acl, "aiwf-cli", "dlq", "purge", "--all", "--yes")
    assert not_yours.returncode == 1
    assert len(not_yours.stderr.strip().splitlines()) == 1
    assert "no permissions" in not_yours.stderr
    assert await admin.xlen(keys.dead_letters("llm")) == 1
    purged = aiwf(acl, "aiwf-operator", "dlq", "purge", "--all", "--yes")
    assert purged.returncode == 0, purged.stderr
    assert await admin.xlen(keys.dead_letters("llm")) == 0


def test_the_gateway_with_a_wrong_password_stops_with_one_line(acl: AclRedis, tmp_path: Path) -> None:
    """`aiwf gateway` logging in with a wrong password exits 1 naming aiwf-gateway, before serving anything."""
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password")
    wrong.chmod(0o400)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIWF_", "REDIS_URL"))}
    env |= {"REDIS_URL": acl.url, "AIWF_REDIS_USERNAME": "aiwf-gateway", "AIWF_REDIS_PASSWORD_FILE": str(wrong)}
    command = [str(Path(sys.executable).parent / "aiwf"), "gateway", "--port", "18999"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith("aiwf: Redis refused user 'aiwf-gateway'")
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
