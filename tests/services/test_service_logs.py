"""Central logs of real worker processes: what `aiwf up` collects, what `aiwf logs` finds, and no secret in it."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import redis.asyncio as aioredis
from auth_support import NEW_PASSWORD, PASSWORD, Flow, gateway_secret, make_keys
from pydantic import SecretStr
from service_support import envelopes

from aiwf.bus import Publisher, Subscription
from aiwf.bus.config import BusConfig
from aiwf.bus.testing import wait_until
from aiwf.bus.worker import Worker
from aiwf.cli.logsink import LogCollector, log_dir
from aiwf.cli.supervise import Supervisor, child_env
from aiwf.schemas import Envelope, new_id
from aiwf.schemas.events.auth import (
    LoginRequested,
    PasswordChangeRequested,
    TokenRefreshRequested,
    TokenRevocationRequested,
)
from aiwf.schemas.events.documents import DocumentUploaded
from tests.contract.harness import drained

pytestmark = pytest.mark.slow
AIWF = str(Path(sys.executable).parent / "aiwf")
WRONG_PASSWORD = "Guessing-Attempt-99"
STRAY_PASSWORD = "Sealed-For-The-Wrong-Service-1"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def worker_env(redis_url: str, tmp_path: Path, data_dir: Path) -> dict[str, str]:
    """Workers logging at DEBUG (a line per handled event), data and blobs in tmp_path, the extractive llm."""
    env = {k: v for k, v in child_env(redis_url).items() if not k.startswith("AIWF_")}
    return env | {
        "AIWF_DATA_DIR": str(data_dir),
        "AIWF_BLOB_DIR": str(tmp_path / "blobs"),
        "AIWF_DRAIN_TIMEOUT": "5",
        "AIWF_LOG_LEVEL": "DEBUG",
    }


def supervised(names: list[str], env: dict[str, str], data_dir: Path) -> Iterator[Supervisor]:
    """What `aiwf up` runs: the workers, their output collected under the data dir."""
    logs = LogCollector(log_dir(data_dir), 1_000_000, 3)
    supervisor = Supervisor(names, env, logs=logs)
    supervisor.start()
    try:
        yield supervisor
    finally:
        supervisor.stop(timeout_s=15)
        logs.close()


def aiwf_logs(env: dict[str, str], *args: str) -> list[dict[str, Any]]:
    result = subprocess.run(
        [AIWF, "logs", "--json", *args], env=env, capture_output=True, text=True, check=False, timeout=30
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


async def test_logs_of_one_run_across_services(
    client: aioredis.Redis, config: BusConfig, worker_env: dict[str, str], data_dir: Path
) -> None:
    """Two uploads through documents -> llm -> tts -> pipeline: `aiwf logs --correlation-id` gives exactly one run's
    lines, from all four services, in time order, each with its event id, type, consumer and correlation id."""
    runs = [new_id(), new_id()]
    for supervisor in supervised(["documents", "llm", "tts", "pipeline"], worker_env, data_dir):
        assert supervisor.logs is not None
        pub = Publisher(client, config)
        for n, run in enumerate(runs):
            await pub.publish(DocumentUploaded(document_id=f"log-{n}", text=f"Run {n}. Some text."), correlation_id=run)

        async def finished() -> bool:
            done = {e.correlation_id for e in await envelopes(client, "pipeline", "pipeline.summary.completed")}
            return done >= set(runs) and await drained(client, Subscription(stream="tts", group="pipeline"))

        await wait_until(finished, 60, "both runs to finish")
    raw = "\n".join(p.read_text() for p in log_dir(data_dir).iterdir())
    mine = aiwf_logs(worker_env, "--correlation-id", runs[0])
    assert len(mine) == raw.count(f'"correlation_id": "{runs[0]}"') > 0
    assert {line["correlation_id"] for line in mine} == {runs[0]}
    assert {line["service"] for line in mine} == {"documents", "llm", "tts", "pipeline"}
    assert {line["event_type"] for line in mine} >= {
        "documents.document.uploaded",
        "llm.chat.requested",
        "tts.speech.requested",
        "tts.speech.synthesized",
    }
    assert [line["timestamp"] for line in mine] == sorted(line["timestamp"] for line in mine)
    for line in mine:
        assert line["event_id"]
        assert line["consumer"]
    assert aiwf_logs(worker_env, "--correlation-id", runs[1]), "the other run has its own lines"
    assert not set(map(json.dumps, mine)) & set(map(json.dumps, aiwf_logs(worker_env, "--correlation-id", runs[1])))


def start_up(env: dict[str, str], only: str) -> subprocess.Popen[bytes]:
    """`aiwf up --no-table --only ONLY` in its own session (SIGINT to it is Ctrl-C)."""
    return subprocess.Popen(
        [AIWF, "up", "--no-table", "--only", only],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def forms(secret: str) -> list[bytes]:
    """The plaintext and its obvious encodings (a base64 or JSON-escaped copy is a leak too)."""
    raw = secret.encode()
    return [raw, base64.b64encode(raw), base64.urlsafe_b64encode(raw).rstrip(b"="), json.dumps(secret).encode()[1:-1]]


async def test_no_secret_in_the_collected_logs_of_a_full_auth_flow(
    client: aioredis.Redis,
    config: BusConfig,
    worker_env: dict[str, str],
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`aiwf up --only auth` at DEBUG through register, failed and good logins, refresh, reuse, revocation, a
    password change and a dead letter: no password or token, nor its base64 or JSON form, in any log file."""
    keys_dir = make_keys(tmp_path, monkeypatch)
    env = worker_env | {"AIWF_KEYS_DIR": str(keys_dir)}
    up = start_up(env, "auth")
    tokens: list[str] = []
    try:
        await wait_until(lambda: _auth_running(client), 30, "auth running")
        flow = Flow(client, cast("Worker", None), Publisher(client, config))
        user_id = await flow.register("ada@example.org")
        await flow.one(LoginRequested(username="ada@example.org", password=SecretStr(WRONG_PASSWORD)))
        login = await flow.login("ada@example.org")
        tokens += [gateway_secret(login, "access_token"), gateway_secret(login, "refresh_token")]
        refreshed = (await flow.one(TokenRefreshRequested(refresh_token=SecretStr(tokens[1]))))[0][1]
        tokens += [gateway_secret(refreshed, "access_token"), gateway_secret(refreshed, "refresh_token")]
        await flow.one(TokenRefreshRequested(refresh_token=SecretStr(tokens[1])))  # reuse: family revoked
        await flow.one(TokenRevocationRequested(refresh_token=SecretStr(tokens[-1])))
        await flow.one(
            PasswordChangeRequested(
                user_id=user_id, current_password=SecretStr(PASSWORD), new_password=SecretStr(NEW_PASSWORD)
            )
        )
        monkeypatch.setattr(LoginRequested, "secret_recipient", "gateway")
        stray = Envelope.wrap(LoginRequested(username="ada", password=SecretStr(STRAY_PASSWORD)), producer="tests")
        monkeypatch.setattr(LoginRequested, "secret_recipient", None)
        await Publisher(client, config).publish_envelope(stray)
        await flow.send()
    finally:
        os.killpg(up.pid, signal.SIGINT)
        assert await asyncio.to_thread(up.wait, 30) == 0
    logs = b"\n".join(p.read_bytes() for p in sorted(log_dir(data_dir).iterdir()))
    assert logs.count(b'"message": "handled"') >= 7, "the hunt reads the lines of the flow"
    assert b"sealed value was tampered with or sealed for another key" in logs, "and the line of its dead letter"
    secrets = [PASSWORD, NEW_PASSWORD, WRONG_PASSWORD, STRAY_PASSWORD, *tokens]
    secrets += [t.rsplit(".", 1)[1] for t in tokens]  # a JWT signature or a refresh token's random part alone
    assert len(tokens) == 4
    for secret in secrets:
        for form in forms(secret):
            assert form not in logs, f"a secret ({len(secret)} chars) is in the collected logs"


async def _auth_running(client: aioredis.Redis) -> bool:
    async for key in client.scan_iter(match="aiwf:hb:auth:*"):
        if await client.hget(key, "state") == b"running":
            return True
    return False
