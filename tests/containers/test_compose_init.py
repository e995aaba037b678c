"""deploy/compose/init.sh run for real in a scratch directory: each container gets its own files; Redis runs on them."""

from __future__ import annotations

import os
import shutil
import ssl
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.containers.compose_support import AIWF, AIWF_UID, run_init, start_redis

SERVICES = ("auth", "calendar", "documents", "llm", "tts", "pipeline", "gateway", "cli", "operator")


def has_command(*words: str) -> bool:
    """Whether `aiwf WORDS --help` exists in this build (acl and certs come with the ACL/TLS work)."""
    return subprocess.run([AIWF, *words, "--help"], capture_output=True, check=False).returncode == 0


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="init.sh gives files to other uids: needs root"),
    pytest.mark.skipif(
        not (has_command("certs", "generate") and has_command("acl", "generate")),
        reason="`aiwf certs generate` / `aiwf acl generate` are not in this build",
    ),
]


@pytest.fixture(scope="module")
def initialized() -> Iterator[Path]:
    """A scratch /run/aiwf after one init run."""
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "run-aiwf"
        done = run_init(root)
        assert done.returncode == 0, done.stderr
        yield root


def test_each_container_directory_holds_only_its_own_files_0400(initialized: Path) -> None:
    """services/NAME: its password, client cert and key, the CA, public keys, its own private key; 0400, uid 10001."""
    for name in SERVICES:
        here = initialized / "services" / name
        files = sorted(p.relative_to(here).as_posix() for p in here.rglob("*") if p.is_file())
        assert {"redis-password", "client.crt", "client.key", "ca.crt"} <= set(files), name
        private = [f for f in files if f.startswith("keys/") and f.endswith(".key")]
        assert private in ([], [f"keys/{name}.key"]), (name, private)
        for path in [here, *here.rglob("*")]:
            st = path.stat()
            assert st.st_uid == AIWF_UID, path
            assert stat.S_IMODE(st.st_mode) == (0o500 if path.is_dir() else 0o400), path
    passwords = {(initialized / "services" / n / "redis-password").read_text() for n in SERVICES}
    assert len(passwords) == len(SERVICES)  # one identity each


def test_a_second_run_keeps_every_key_and_password(initialized: Path) -> None:
    """init is idempotent: a restart of the stack does not rotate anything."""
    before = {p: p.read_bytes() for p in (initialized / "services").rglob("*") if p.is_file()}
    again = run_init(initialized)
    assert again.returncode == 0, again.stderr
    after = {p: p.read_bytes() for p in (initialized / "services").rglob("*") if p.is_file()}
    assert after == before


def test_redis_runs_tls_only_on_the_files_and_each_user_is_confined(initialized: Path, tmp_path: Path) -> None:
    """Redis on init's files as compose runs it: a service's identity gets in, FLUSHALL does not; no cert, no entry."""
    if shutil.which("redis-server") is None:
        pytest.skip("no redis-server on PATH")
    server, port = start_redis(initialized, tmp_path)
    here = initialized / "services" / "tts"
    client = redis.Redis(
        host="127.0.0.1",
        port=port,
        username="aiwf-tts",
        password=(here / "redis-password").read_text().strip(),
        ssl=True,
        ssl_ca_certs=str(here / "ca.crt"),
        ssl_certfile=str(here / "client.crt"),
        ssl_keyfile=str(here / "client.key"),
        ssl_check_hostname=False,  # the certificate names `redis`, compose's host; here it is loopback
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                assert client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.flushall()
        anonymous = redis.Redis(host="127.0.0.1", port=port, ssl=True, ssl_cert_reqs=ssl.CERT_NONE)
        with pytest.raises(redis.ConnectionError):
            anonymous.ping()
    finally:
        client.close()
        server.terminate()
        server.wait(10)
