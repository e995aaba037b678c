"""Worker start-up errors at the CLI edge: one `aiwf:` line naming cause and fix, the traceback only with --debug."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest
from cli_checks import Aiwf, Env, Spawn, assert_one_error, wait_for

from aiwf.bus.server import free_port


def test_worker_without_redis_ends_in_one_line_without_traceback(aiwf: Aiwf) -> None:
    """No Redis at REDIS_URL: `aiwf worker tts` exits 1 with one line naming the URL and the fix."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    line = assert_one_error(aiwf("worker", "tts", env={"REDIS_URL": url}, timeout=30))
    assert "cannot reach Redis" in line
    assert url in line
    assert "aiwf up" in line
    assert "REDIS_URL" in line


def test_worker_without_redis_shows_the_traceback_with_debug(aiwf: Aiwf) -> None:
    """`--debug` adds the traceback before the same one line, still exit 1."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    result = aiwf("worker", "tts", "--debug", env={"REDIS_URL": url}, timeout=30)
    assert result.returncode == 1, result.stderr
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("aiwf: worker tts: cannot reach Redis")


def test_worker_password_in_redis_url_is_not_printed(aiwf: Aiwf) -> None:
    """The one line names the URL with its password masked."""
    url = f"redis://user:hunter2@127.0.0.1:{free_port()}/0"
    line = assert_one_error(aiwf("worker", "documents", env={"REDIS_URL": url}, timeout=30))
    assert "hunter2" not in line
    assert "user:***@" in line


def test_worker_without_keys_ends_in_one_line_and_debug_shows_the_traceback(aiwf: Aiwf, tmp_path: Path) -> None:
    """auth with an empty keys dir: one line naming the keys and `aiwf keys generate`; --debug adds the traceback."""
    empty = tmp_path / "no-keys"
    empty.mkdir()
    line = assert_one_error(aiwf("worker", "auth", env={"AIWF_KEYS_DIR": str(empty)}, timeout=30))
    assert "aiwf keys generate auth gateway" in line
    assert str(empty) in line
    debug = aiwf("worker", "auth", "--debug", env={"AIWF_KEYS_DIR": str(empty)}, timeout=30)
    assert debug.returncode == 1, debug.stderr
    assert "Traceback (most recent call last)" in debug.stderr
    assert debug.stderr.strip().splitlines()[-1] == line


@pytest.mark.slow
def test_up_restarts_a_worker_that_cannot_start_with_growing_delays(spawn: Spawn, env: Env, tmp_path: Path) -> None:
    """Under `aiwf up`, a worker whose setting is bad exits 1 with its one line, and is restarted after 0.5 s,
    1 s, then 2 s (the restart backoff doubling per consecutive crash), no traceback in between."""
    up = spawn("up", "--no-table", "--only", "llm", env={**env, "AIWF_LLM_URL": "notaurl"})
    log = tmp_path / "up-0.log"
    wait_for(lambda: log.read_text().count("restarting in") >= 3, 30, "three restarts of llm")
    up.send_signal(signal.SIGINT)
    assert up.wait(40) == 0
    text = log.read_text()
    assert re.findall(r"llm exited with 1; restarting in ([\d.]+)s", text)[:3] == ["0.5", "1.0", "2.0"]
    worker_log = (Path(env["AIWF_DATA_DIR"]) / "logs" / "llm.log").read_text()  # aiwf up collects its output
    assert "aiwf: AIWF_LLM_URL" in worker_log
    assert "Traceback" not in text + worker_log
