"""AIWF_EXIT_WHEN_UNHEALTHY_S: a worker that stays unhealthy drains and exits 3, so a restart policy replaces it."""

from __future__ import annotations

import socket
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cli_checks import Env, Spawn, wait_for

pytestmark = pytest.mark.slow

#: A service whose backend probe reports an outage while the file named by $FLAG exists.
SERVICE = """
from __future__ import annotations

import os
from pathlib import Path

from aiwf.bus import Context, Service, Subscription
from aiwf.schemas import Event
from aiwf.schemas.events.documents import DocumentUploaded

uploads = Subscription(stream="documents", group="watched")


@uploads.handler
async def on_upload(event: DocumentUploaded, ctx: Context) -> list[Event]:
    return []


async def probe(deps: object) -> str | None:
    return "backend down" if Path(os.environ["FLAG"]).exists() else None


service = Service("watched", [uploads], probe=probe)
"""


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def health(port: int) -> int | None:
    """The status of GET /health, or None while nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


@pytest.fixture
def watched(env: Env, tmp_path: Path) -> tuple[Env, Path]:
    """The environment of a `watched` worker with a 4 s unhealthy bound, and its outage flag file (absent)."""
    (tmp_path / "watched.py").write_text(textwrap.dedent(SERVICE))
    flag = tmp_path / "backend-down"
    return {**env, "FLAG": str(flag), "AIWF_EXIT_WHEN_UNHEALTHY_S": "4"}, flag


def test_a_worker_unhealthy_past_the_bound_exits_3_with_one_line(
    spawn: Spawn, watched: tuple[Env, Path], tmp_path: Path
) -> None:
    """Healthy, it keeps running; unhealthy without a break for 4 s, it exits 3 naming the reason, after the bound."""
    env, flag = watched
    port = free_port()
    worker = spawn("worker", "watched:service", "--health-port", str(port), env=env)
    wait_for(lambda: health(port) == 200, 20, "the worker to answer /health with 200")
    time.sleep(5)  # longer than the bound: a healthy worker is left alone
    assert worker.poll() is None
    flag.touch()
    wait_for(lambda: health(port) == 503, 10, "/health to answer 503 for the backend outage")
    unhealthy_at = time.monotonic()
    code = worker.wait(20)
    assert code == 3
    assert time.monotonic() - unhealthy_at >= 3  # the probe runs every 2 s: 503 may be seen up to then
    log = (tmp_path / "worker-0.log").read_text()
    last = log.strip().splitlines()[-1]
    assert last.startswith("aiwf: worker watched unhealthy for "), log
    assert last.endswith("(limit 4s): backend down; exiting for a restart"), log
    assert "Traceback" not in log


def test_a_worker_that_recovers_within_the_bound_keeps_running(spawn: Spawn, watched: tuple[Env, Path]) -> None:
    """Unhealthy for less than the bound, then healthy: the clock restarts and the worker is not stopped."""
    env, flag = watched
    env = {**env, "AIWF_EXIT_WHEN_UNHEALTHY_S": "8"}
    port = free_port()
    worker = spawn("worker", "watched:service", "--health-port", str(port), env=env)
    wait_for(lambda: health(port) == 200, 20, "the worker to answer /health with 200")
    flag.touch()
    wait_for(lambda: health(port) == 503, 10, "/health to answer 503")
    flag.unlink()
    wait_for(lambda: health(port) == 200, 10, "/health to answer 200 again")
    flag.touch()  # unhealthy again: the 8 s count starts over, so it must not have exited yet
    wait_for(lambda: health(port) == 503, 10, "/health to answer 503 again")
    time.sleep(3)
    assert worker.poll() is None
    assert worker.wait(20) == 3
