"""`aiwf auth register → login → verify → logout` with the CLI alone, against `aiwf up` (its auth worker)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from cli_checks import Aiwf, Env, Spawn, assert_one_error, beats, wait_for

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery staple"


def _with_stdin(env: Env, cwd: Path, text: str, *args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "aiwf"
    command = str(script) if script.exists() else shutil.which("aiwf") or "aiwf"
    return subprocess.run(
        [command, *args], env=env, cwd=cwd, input=text, capture_output=True, text=True, timeout=60, check=False
    )


def test_register_login_verify_logout_round_trip(
    aiwf: Aiwf, spawn: Spawn, env: Env, r: redis.Redis, tmp_path: Path
) -> None:
    """A new account, a login printing a token that `auth verify` accepts (sub = the user id), a duplicate and
    a wrong password refused in one line each, and logout revoking the kept refresh token once."""
    spawn("up", "--only", "auth", "--no-table")
    wait_for(lambda: any(b.get("state") == "running" for b in beats(r, "auth")), 30, "auth running under aiwf up")

    registered = _with_stdin(env, tmp_path, PASSWORD + "\n", "auth", "register", "alice", "--password-stdin")
    assert registered.returncode == 0, registered.stderr
    assert registered.stdout.startswith("registered alice (user id ")
    user_id = registered.stdout.strip().rsplit(" ", 1)[-1].rstrip(")")
    again = _with_stdin(env, tmp_path, PASSWORD + "\n", "auth", "register", "alice", "--password-stdin")
    assert assert_one_error(again) == "aiwf: registration refused: duplicate"

    login = _with_stdin(env, tmp_path, PASSWORD + "\n", "auth", "login", "alice", "--password-stdin")
    assert login.returncode == 0, login.stderr
    token = login.stdout.strip()
    assert token.count(".") == 2, "a JWS compact token, alone on stdout"
    verified = aiwf("auth", "verify", token, "--json")
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)["claims"]["sub"] == user_id
    session = tmp_path / "data" / "auth-session.json"
    assert session.stat().st_mode & 0o077 == 0, "the refresh token is readable by its owner only"

    wrong = _with_stdin(env, tmp_path, "not the password\n", "auth", "login", "alice", "--password-stdin")
    assert assert_one_error(wrong) == "aiwf: login refused: wrong username or password"

    out = aiwf("auth", "logout")
    assert (out.returncode, out.stdout.strip()) == (0, "logged out alice"), out.stderr
    assert not session.exists()
    assert "not logged in" in assert_one_error(aiwf("auth", "logout"))


def test_auth_commands_refuse_at_once_when_the_service_is_offline(
    env: Env, r: redis.Redis, tmp_path: Path, aiwf: Aiwf
) -> None:
    """No auth worker: one line naming the offline service, exit 1, and nothing published; no terminal and no
    --password-stdin is a usage error."""
    result = _with_stdin(env, tmp_path, PASSWORD + "\n", "auth", "login", "alice", "--password-stdin")
    assert (
        assert_one_error(result) == "aiwf: the auth service is offline: nothing would answer; start it with `aiwf up`"
    )
    assert r.xlen("aiwf:ev:{auth}") == 0
    prompt = _with_stdin(env, tmp_path, "", "auth", "register", "alice")  # stdin a pipe: no one to prompt
    assert "--password-stdin" in assert_one_error(prompt, code=2)
