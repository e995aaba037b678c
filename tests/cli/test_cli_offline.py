"""Without a Redis: every command that needs one says so in one line, fast; the schema commands still work."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from cli_checks import Aiwf, assert_one_error

from aiwf.bus.server import free_port

DOC = '{"document_id": "doc-1", "text": "hello"}'
NEEDS_REDIS = [
    pytest.param(["publish", "documents.document.uploaded", "--data", DOC], id="publish"),
    pytest.param(["tail", "documents"], id="tail"),
    pytest.param(["health"], id="health"),
    pytest.param(["health", "--json"], id="health-json"),
    pytest.param(["streams"], id="streams"),
]


@pytest.mark.parametrize("args", NEEDS_REDIS)
def test_unreachable_redis_is_one_line_within_seconds(aiwf: Aiwf, args: list[str]) -> None:
    """REDIS_URL pointing at a closed port: exit 1, one line naming the URL as unreachable, in under 10 s."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    started = time.monotonic()
    result = aiwf(*args, env={"REDIS_URL": url}, timeout=20)
    elapsed = time.monotonic() - started
    line = assert_one_error(result)
    assert "unreachable" in line
    assert url in line
    assert elapsed < 10


@pytest.mark.parametrize("url", ["http://127.0.0.1:6379/0", "redis://127.0.0.1:notaport/0", "localhost"])
def test_a_malformed_redis_url_is_a_one_line_usage_error(aiwf: Aiwf, url: str) -> None:
    """A REDIS_URL that is not a Redis URL is a configuration error (exit 2, one line), not a traceback."""
    assert "REDIS_URL" in assert_one_error(aiwf("health", env={"REDIS_URL": url}), code=2)


def test_a_bad_setting_is_a_one_line_usage_error(aiwf: Aiwf) -> None:
    """A non-numeric AIWF_SOCKET_TIMEOUT is refused in one line with exit 2, also by `aiwf up`."""
    for args in (["health"], ["up", "--no-table"]):
        line = assert_one_error(aiwf(*args, env={"AIWF_SOCKET_TIMEOUT": "soon"}), code=2)
        assert "AIWF_SOCKET_TIMEOUT" in line


def test_no_redis_at_all_points_to_aiwf_up(aiwf: Aiwf, tmp_path: Path) -> None:
    """REDIS_URL unset and no embedded server in the data dir: publish says to set REDIS_URL or run `aiwf up`."""
    empty = tmp_path / "empty"
    empty.mkdir()
    result = aiwf(
        "publish", "documents.document.uploaded", "--data", DOC, env={"REDIS_URL": None, "AIWF_DATA_DIR": str(empty)}
    )
    line = assert_one_error(result)
    assert "`aiwf up`" in line
    assert "REDIS_URL" in line
    assert not (empty / "redis.url").exists()


def test_schemas_ls_needs_no_redis(aiwf: Aiwf) -> None:
    """schemas ls works with Redis unreachable, as a table and as JSON."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    table = aiwf("schemas", "ls", env={"REDIS_URL": url})
    assert table.returncode == 0, table.stderr
    assert "documents.document.uploaded" in table.stdout
    rows = json.loads(aiwf("schemas", "ls", "--json", env={"REDIS_URL": url}).stdout)
    assert {"type": "documents.document.uploaded", "versions": "1,2", "compat": "BACKWARD"} in rows


@pytest.mark.parametrize(
    "args",
    [
        ("tail", "-n", "0", "documents"),
        ("publish", "documents.document.uploaded", "--data", "{}", "--version", "x"),
        ("no-such-command",),
        ("dlq", "ls", "--limit", "many"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(aiwf: Aiwf, args: tuple[str, ...]) -> None:
    """Bad options or commands give one `aiwf:` line naming the problem, exit 2, no usage panel."""
    assert_one_error(aiwf(*args), code=2)
