"""The log files `aiwf up` writes (cli/logsink.py) and `aiwf logs` reads (cli/logread.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from aiwf.cli.logread import Follower, LogFilter, history
from aiwf.cli.logsink import LogCollector, as_json_line, log_dir
from aiwf.cli.main import app
from aiwf.dlq.errors import BadArgument


def _line(at: datetime, service: str, level: str = "info", **fields: str) -> str:
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps({"timestamp": stamp, "level": level, "service": service, "message": "m", **fields})


def test_files_rotate_and_stay_bounded(tmp_path: Path) -> None:
    """Writing 50x the file bound leaves at most backups + 1 files per service, each near the bound."""
    logs = LogCollector(tmp_path, max_bytes=10_000, backups=3)
    now = datetime.now(UTC)
    for n in range(5000):
        logs.write("llm", _line(now + timedelta(milliseconds=n), "llm", n=str(n)))
    logs.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["llm.log", "llm.log.1", "llm.log.2", "llm.log.3"]
    assert all(p.stat().st_size <= 10_000 + 200 for p in tmp_path.iterdir())
    kept = [orjson.loads(line.text)["n"] for line in history(tmp_path, LogFilter())]
    assert kept == [str(n) for n in range(5000 - len(kept), 5000)], "the newest lines, in order"


def test_a_line_that_is_not_json_is_wrapped_and_masked() -> None:
    """A raw traceback line becomes a JSON line with a timestamp and the service; sealed values are masked."""
    raw = 'Traceback: token "sealed:v1:c2VjcmV0IGJ5dGVzIGluc2lkZQ" went wrong\n'
    wrapped = orjson.loads(as_json_line(raw, "auth"))
    assert wrapped["service"] == "auth"
    assert wrapped["level"] == "info"
    assert datetime.fromisoformat(wrapped["timestamp"]).tzinfo is not None
    assert "c2VjcmV0IGJ5dGVzIGluc2lkZQ" not in wrapped["message"]
    assert wrapped["message"].startswith("Traceback: token")
    kept = _line(datetime.now(UTC), "auth")
    assert as_json_line(kept + "\n", "auth") == kept


def test_history_merges_services_in_time_order_and_filters(tmp_path: Path) -> None:
    """Two services' interleaved lines come out in time order; service, correlation, level and since filter."""
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    a = [_line(t0 + timedelta(seconds=s), "documents", correlation_id="A") for s in (0, 2, 4)]
    b = [_line(t0 + timedelta(seconds=s), "llm", level="warning", correlation_id="B") for s in (1, 3)]
    (tmp_path / "documents.log").write_text("\n".join(a) + "\nnot json\n")
    (tmp_path / "llm.log").write_text("\n".join(b) + "\n")
    order = [(line.service, line.at.second) for line in history(tmp_path, LogFilter())]
    assert order == [("documents", 0), ("llm", 1), ("documents", 2), ("llm", 3), ("documents", 4)]
    assert {line.service for line in history(tmp_path, LogFilter(correlation_id="B"))} == {"llm"}
    assert len(list(history(tmp_path, LogFilter(services=frozenset({"documents"}))))) == 3
    assert len(list(history(tmp_path, LogFilter(min_level=LogFilter.level_index("warning"))))) == 2
    assert [line.at.second for line in history(tmp_path, LogFilter(since=t0 + timedelta(seconds=3)))] == [3, 4]
    with pytest.raises(BadArgument, match="--level"):
        LogFilter.level_index("loud")


def test_follow_reads_new_lines_and_survives_rotation(tmp_path: Path) -> None:
    """A follower skips what is there, then sees appended lines, and the new file after a rotation."""
    logs = LogCollector(tmp_path, max_bytes=10_000, backups=2)
    now = datetime.now(UTC)
    logs.write("tts", _line(now, "tts", n="old"))
    follower = Follower(tmp_path)
    follower.skip_to_end()
    assert follower.poll() == []
    logs.write("tts", _line(now, "tts", n="new"))
    assert [line.fields["n"] for line in follower.poll()] == ["new"]
    for n in range(200):  # past the bound: the live file is rotated under the follower
        logs.write("tts", _line(now, "tts", n=f"r{n}", pad="x" * 100))
    seen = [line.fields["n"] for line in follower.poll()]
    assert seen[-1] == "r199"
    logs.close()


def test_logs_command_prints_filtered_lines_and_refuses_bad_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`aiwf logs --correlation-id --json` prints the stored lines of that run; bad input is one line, exit 2 or 1."""
    monkeypatch.setenv("AIWF_DATA_DIR", str(tmp_path))
    directory = log_dir(tmp_path)
    directory.mkdir()
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    lines = [_line(t0 + timedelta(seconds=n), "llm", correlation_id="A" if n % 2 else "B") for n in range(6)]
    (directory / "llm.log").write_text("\n".join(lines) + "\n")
    runner = CliRunner()
    result = runner.invoke(app, ["logs", "--correlation-id", "A", "--json"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [lines[1], lines[3], lines[5]]
    table = runner.invoke(app, ["logs", "--service", "llm"])
    assert table.exit_code == 0
    assert len(table.stdout.splitlines()) == 6
    assert table.stdout.startswith("2026-01-01 00:00:00.000 llm")
    assert runner.invoke(app, ["logs", "--level", "loud"]).exit_code == 2
    assert runner.invoke(app, ["logs", "--since", "yesterday"]).exit_code == 2
    assert runner.invoke(app, ["logs", "--service", "nope"]).exit_code == 2


def test_logs_without_collected_logs_is_one_line(tmp_path: Path) -> None:
    """No log directory: exit 1, one `aiwf:` line naming where it looked."""
    aiwf = Path(sys.executable).parent / "aiwf"
    env = {**os.environ, "AIWF_DATA_DIR": str(tmp_path / "none")}
    result = subprocess.run([str(aiwf), "logs"], env=env, capture_output=True, text=True, check=False, timeout=30)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"aiwf: no logs in {tmp_path / 'none' / 'logs'}/: `aiwf up` collects its workers' output there (AIWF_DATA_DIR)"
    ]


def test_logs_follow_prints_history_then_each_new_line_once(tmp_path: Path) -> None:
    """`aiwf logs --follow --json`: the lines there are, then a line written later, each once; Ctrl-C exits 0."""
    import signal
    import time

    directory = log_dir(tmp_path)
    logs = LogCollector(directory, max_bytes=1_000_000, backups=2)
    now = datetime.now(UTC)
    first = [_line(now, "llm", n="1"), _line(now + timedelta(seconds=1), "tts", n="2")]
    logs.write("llm", first[0])
    logs.write("tts", first[1])
    out = tmp_path / "follow.out"
    env = {**os.environ, "AIWF_DATA_DIR": str(tmp_path)}
    with out.open("wb") as sink:
        follower = subprocess.Popen(
            [str(Path(sys.executable).parent / "aiwf"), "logs", "--follow", "--json"],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:

        def printed() -> list[str]:
            return out.read_text().splitlines()

        deadline = time.monotonic() + 20
        while len(printed()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        later = _line(now + timedelta(seconds=2), "llm", n="3")
        logs.write("llm", later)
        while len(printed()) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.6)  # two more polls: nothing is printed twice
        assert printed() == [*first, later]
    finally:
        os.killpg(follower.pid, signal.SIGINT)
        assert follower.wait(10) == 0
        logs.close()
