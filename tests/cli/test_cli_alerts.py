"""`aiwf alerts` and `aiwf health` as a user runs them, against real worker processes."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from cli_checks import Aiwf, Env, Spawn, wait_for

pytestmark = pytest.mark.slow

OFFLINE_AFTER_S = 10


def _offline(aiwf: Aiwf, env: dict[str, str | None]) -> dict[str, Any] | None:
    result = aiwf("alerts", "--json", env=env)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    return next((a for a in rows if a["id"] == "AiwfServiceOffline/documents"), None)


def _health_alerts(aiwf: Aiwf, env: dict[str, str | None]) -> list[str]:
    rows = json.loads(aiwf("health", "--json", env=env).stdout)
    return next(r["alerts"] for r in rows if r["service"] == "documents")


def test_a_sigkilled_worker_raises_offline_after_the_window_and_clears_when_back(
    aiwf: Aiwf, spawn: Spawn, env: Env, r: redis.Redis
) -> None:
    """SIGKILL of `aiwf worker documents`: pending, then firing once AIWF_ALERT_OFFLINE_AFTER has passed since
    its last heartbeat (shown by `aiwf health` too); a new worker clears it. Other services never ran: no alert."""
    short: dict[str, str | None] = {"AIWF_ALERT_OFFLINE_AFTER": str(OFFLINE_AFTER_S)}
    worker = spawn("worker", "documents")
    wait_for(lambda: r.hget("aiwf:seen", "documents"), 20, "documents' first heartbeat")
    assert _offline(aiwf, short) is None
    assert aiwf("alerts", "--json", env=short).stdout.strip() == "[]"

    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(10)
    last_beat = float(r.hget("aiwf:seen", "documents") or 0)
    pending = wait_for(lambda: _offline(aiwf, short), 15, "documents offline (pending)")
    assert pending["state"] == "pending", "before the window has passed it is not firing yet"
    assert pending["since"] == last_beat
    assert _health_alerts(aiwf, short) == []

    firing = wait_for(
        lambda: (a := _offline(aiwf, short)) and a["state"] == "firing" and a, OFFLINE_AFTER_S + 5, "offline firing"
    )
    assert time.time() >= last_beat + OFFLINE_AFTER_S
    assert firing["severity"] == "critical"
    assert "no live worker" in firing["why"]
    assert _health_alerts(aiwf, short) == ["AiwfServiceOffline"]
    table = aiwf("alerts", env=short)
    assert "AiwfServiceOffline" in table.stdout
    assert "1 firing" in table.stdout
    rows = json.loads(aiwf("incidents", "--json", env=short).stdout)
    assert [(i["kind"], i["error_type"], i["service"], i["count"]) for i in rows] == [
        ("alert", "AiwfServiceOffline", "documents", 1)
    ]
    report = aiwf("incidents", "show", rows[0]["id"], env=short)
    assert report.returncode == 0, report.stderr
    assert report.stdout.startswith("# AiwfServiceOffline firing for `documents`")

    spawn("worker", "documents")
    wait_for(lambda: _offline(aiwf, short) is None, 20, "the offline alert to clear")
    assert _health_alerts(aiwf, short) == []


def test_alerts_watch_prints_firing_and_resolved(spawn: Spawn, env: Env, r: redis.Redis, tmp_path: Path) -> None:
    """`aiwf alerts --watch --json` prints one line when an alert fires and one when it resolves; Ctrl-C exits 0."""
    worker = spawn("worker", "documents")
    wait_for(lambda: r.hget("aiwf:seen", "documents"), 20, "documents' first heartbeat")
    watcher = spawn("alerts", "--watch", "--json", "--every", "0.5", env={**env, "AIWF_ALERT_OFFLINE_AFTER": "0"})
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(10)

    def events() -> list[dict[str, Any]]:
        lines = (tmp_path / "alerts-1.log").read_text().splitlines()  # spawn's log of its second process
        return [json.loads(line) for line in lines if line.startswith("{")]

    wait_for(lambda: any(e["event"] == "firing" for e in events()), 20, "a firing line")
    spawn("worker", "documents")
    wait_for(lambda: any(e["event"] == "resolved" for e in events()), 20, "a resolved line")
    assert [(e["event"], e["id"]) for e in events()] == [
        ("firing", "AiwfServiceOffline/documents"),
        ("resolved", "AiwfServiceOffline/documents"),
    ]
    watcher.send_signal(signal.SIGINT)
    assert watcher.wait(10) == 0
