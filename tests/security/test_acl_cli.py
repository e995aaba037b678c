"""`aiwf acl generate` as a user runs it: the files it writes, their modes, and that a rerun keeps the passwords."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis.exceptions import NoPermissionError

from aiwf.bus import keys
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import check_access, connect
from aiwf.bus.errors import ConfigError
from tests.security.world import AclRedis

USERS = [f"aiwf-{n}" for n in ("auth", "calendar", "documents", "llm", "tts", "pipeline", "gateway", "cli", "operator")]


def aiwf(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIWF_", "REDIS_URL"))}
    command = [str(Path(sys.executable).parent / "aiwf"), *args]
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


def test_generate_writes_the_file_and_one_0400_password_per_user_and_keeps_them(tmp_path: Path) -> None:
    """--out and --passwords-dir are honoured; every user has a 0400 file; a second run changes no password."""
    out, passwords = tmp_path / "conf" / "users.acl", tmp_path / "pw"
    first = aiwf(tmp_path, "acl", "generate", "--out", str(out), "--passwords-dir", str(passwords), "--json")
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["acl_file"] == str(out)
    assert [u["user"] for u in report["users"]] == USERS
    assert sorted(p.name for p in passwords.iterdir()) == sorted(USERS)
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o400 for p in passwords.iterdir())
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    lines = out.read_text().splitlines()
    assert lines[0] == "user default off resetkeys resetchannels -@all"
    assert [line.split()[1] for line in lines[1:]] == USERS
    before = {p.name: p.read_text() for p in passwords.iterdir()}
    assert all(secret.strip() not in out.read_text() for secret in before.values())  # hashes only
    again = aiwf(tmp_path, "acl", "generate", "--out", str(out), "--passwords-dir", str(passwords))
    assert again.returncode == 0, again.stderr
    assert {p.name: p.read_text() for p in passwords.iterdir()} == before


def test_defaults_live_in_the_data_dir(tmp_path: Path) -> None:
    """Without options: <AIWF_DATA_DIR>/redis.acl and <AIWF_DATA_DIR>/redis-passwords/."""
    done = aiwf(tmp_path, "acl", "generate")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / ".aiwf" / "redis.acl").exists()
    assert (tmp_path / ".aiwf" / "redis-passwords" / "aiwf-llm").exists()


async def test_user_and_password_in_the_url_log_in(acl: AclRedis, admin: aioredis.Redis) -> None:
    """redis://aiwf-cli:<password>@host/0 logs in as aiwf-cli; a wrong one is refused naming the URL's user."""
    password = (acl.passwords / "aiwf-cli").read_text().strip()
    good = acl.url.replace("redis://", f"redis://aiwf-cli:{password}@")
    client = connect(good, BusConfig(redis_url=good))
    try:
        await check_access(client, good, BusConfig(redis_url=good))
        assert await client.xlen(keys.stream("llm")) == 0  # aiwf-cli reads
        with pytest.raises(NoPermissionError):  # and is aiwf-cli: it may not write
            await client.xadd(keys.stream("llm"), {"k": "v"})
    finally:
        await client.aclose()
    bad = acl.url.replace("redis://", "redis://aiwf-cli:nope@")
    client = connect(bad, BusConfig(redis_url=bad))
    try:
        with pytest.raises(ConfigError, match=r"^Redis refused user 'aiwf-cli': "):
            await check_access(client, bad, BusConfig(redis_url=bad))
    finally:
        await client.aclose()
