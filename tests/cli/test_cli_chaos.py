"""`aiwf chaos run`: each scenario in a short form against `aiwf up`, judged by its outputs' causation ids."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_checks import Aiwf, Env, Spawn, assert_one_error, wait_for

pytestmark = pytest.mark.slow


def documents_running(aiwf: Aiwf) -> bool:
    return '"documents"' in (done := aiwf("health", "--json")).stdout and '"running"' in done.stdout


def test_every_chaos_scenario_passes_its_targets_under_aiwf_up(
    aiwf: Aiwf, spawn: Spawn, env: Env, tmp_path: Path
) -> None:
    """kill, stop, pause, slow: 0 lost, 0 doubled, recovery < 30 s each; the Markdown report says so."""
    spawn(
        "up", "--only", "documents", "--no-table", env={**env, "AIWF_CHAOS": "1", "AIWF_RESTART_UNHEALTHY_AFTER": "3"}
    )
    wait_for(lambda: documents_running(aiwf), 40, "documents running under aiwf up")
    report = tmp_path / "chaos.md"
    done = aiwf("chaos", "run", "--duration", "6", "--rate", "15", "--report", str(report), timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    text = report.read_text()
    print(text)
    rows = [line for line in text.splitlines() if line.startswith("| ") and "scenario" not in line]
    assert [row.split("|")[1].strip() for row in rows] == ["kill", "stop", "pause", "slow"]
    for row in rows:
        cells = [c.strip() for c in row.split("|")[1:-1]]
        offered, handled, lost, doubled = (int(c) for c in cells[2:6])
        assert offered > 0, row
        assert (handled, lost, doubled) == (offered, 0, 0), row
        assert cells[-1] == "pass", row


def test_chaos_refuses_an_unknown_scenario_and_a_missing_target(aiwf: Aiwf) -> None:
    """An unknown scenario is a usage error; no running worker to hit is one line."""
    assert "unknown scenario(s): nosuch" in assert_one_error(aiwf("chaos", "run", "nosuch"), code=2)
    assert "no running documents worker" in assert_one_error(aiwf("chaos", "run", "kill", "--duration", "3"))
