"""What people see: consumer counts of idle services, streamed `tail -f`, plain --help, completion, short hints."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import redis
from cli_checks import Aiwf, Spawn, assert_one_error, beats, wait_for


def _documents_stream(aiwf: Aiwf) -> dict[str, object]:
    rows = json.loads(aiwf("streams", "--json").stdout)
    return next((row for row in rows if row["key"] == "aiwf:ev:{documents}"), {})


@pytest.mark.slow
def test_streams_counts_the_consumer_of_a_running_idle_service(aiwf: Aiwf, spawn: Spawn, r: redis.Redis) -> None:
    """A documents worker that has read nothing yet is one consumer of its group in `aiwf streams`."""
    spawn("worker", "documents")

    assert wait_for(lambda: _documents_stream(aiwf).get("consumers"), 20, "the idle documents worker counted") == 1
    table = aiwf("streams")
    row = next(line for line in table.stdout.splitlines() if "documents" in line)
    assert [cell.strip() for cell in row.split("│")[1:5]] == ["documents", "0", "1", "1"]


@pytest.mark.slow
def test_tail_follow_prints_one_line_per_event_as_it_arrives(aiwf: Aiwf, spawn: Spawn, tmp_path: Path) -> None:
    """`aiwf tail documents -f` into a file: each published event appears as its own line, no table, while it runs."""
    follower = spawn("tail", "documents", "--follow")
    log = tmp_path / "tail-0.log"
    ids = []
    for n in range(2):
        data = json.dumps({"document_id": f"doc-{n}", "text": "hello"})
        published = aiwf("publish", "documents.document.uploaded", "--data", data)
        assert published.returncode == 0, published.stderr
        ids.append(published.stdout.strip())
        wait_for(lambda: ids[-1] in log.read_text(), 10, f"event {n} in the tail output")
    assert follower.poll() is None
    lines = log.read_text().splitlines()
    assert len(lines) == 2
    for line, event_id in zip(lines, ids, strict=True):
        assert "documents.document.uploaded" in line
        assert event_id in line
    assert not {"┃", "━", "│"} & set(log.read_text())


@pytest.mark.slow
def test_up_without_a_terminal_prints_stopping_on_its_own_line(spawn: Spawn, r: redis.Redis, tmp_path: Path) -> None:
    """`aiwf up --only documents > file`, then SIGINT: the last table's border and `stopping:` are separate lines."""
    up = spawn("up", "--only", "documents", sigint=signal.SIG_DFL)
    log = tmp_path / "up-0.log"
    wait_for(lambda: any(b.get("state") == "running" for b in beats(r, "documents")), 30, "documents running")
    os.kill(up.pid, signal.SIGINT)
    up.wait(30)
    lines = log.read_text().splitlines()
    assert any(line.startswith("stopping: draining every worker") for line in lines), lines[-3:]
    assert not any("┘stopping" in line for line in lines)


@pytest.mark.parametrize("command", [(), ("dlq", "replay"), ("tail",), ("publish",), ("health",)])
def test_help_is_plain_text_without_type_tags(aiwf: Aiwf, command: tuple[str, ...]) -> None:
    """--help: no `<bool>` tags, no box drawing, and a paragraph is rewrapped to the width, not broken where
    the docstring's lines end."""
    result = aiwf(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert "<bool>" not in result.stdout
    assert not {"╭", "│"} & set(result.stdout)
    if command == ("dlq", "replay"):  # its docstring breaks this paragraph after "so an interrupted"
        paragraph = next(p for p in result.stdout.split("\n\n") if "Each letter leaves" in p).splitlines()
        assert " ".join(" ".join(paragraph).split()) == (
            "Each letter leaves the DLQ in the same atomic step that re-publishes it, so an interrupted replay "
            "can simply be run again. Oldest letters go first; --limit takes the oldest N."
        )
        assert all(len(line) > 60 for line in paragraph[:-1])  # filled to the width, not cut where the source is


def test_shell_completion_is_offered_and_completes_commands(aiwf: Aiwf) -> None:
    """`aiwf --show-completion bash` prints a bash completion script; completing `aiwf dl` answers dlq."""
    script = aiwf("--show-completion", "bash")
    assert script.returncode == 0, script.stderr
    assert "_aiwf_completion" in script.stdout
    answer = aiwf(env={"_AIWF_COMPLETE": "complete_bash", "COMP_WORDS": "aiwf dl", "COMP_CWORD": "1"})
    assert answer.stdout.split() == ["dlq"]


def test_an_unknown_event_type_suggests_at_most_three(aiwf: Aiwf) -> None:
    """A mistyped type names at most the three closest types, not the whole registry."""
    line = assert_one_error(aiwf("publish", "documents.document.uplaoded", "--data", "{}"))
    suggested = line.partition("did you mean ")[2].rstrip("?").split(", ")
    assert "documents.document.uploaded" in suggested
    assert len(suggested) <= 3
