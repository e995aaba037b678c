"""`aiwf health` against real worker processes: killed is offline within 2 beats, frozen is unresponsive,
and a service's counters outlive a restart of its worker."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
from cli_checks import Aiwf, Env, Spawn, wait_for

pytestmark = pytest.mark.slow

BEAT_S = 1.0
FAST = {"AIWF_HEARTBEAT": str(BEAT_S)}


def _documents(aiwf: Aiwf) -> dict[str, object]:
    result = aiwf("health", "--json")
    assert result.returncode in {0, 1}, result.stderr
    return next(row for row in json.loads(result.stdout) if row["service"] == "documents")


def _upload(aiwf: Aiwf, doc: str) -> None:
    data = json.dumps({"document_id": doc, "text": "A short text. It has two sentences."})
    result = aiwf("publish", "documents.document.uploaded", "--data", data)
    assert result.returncode == 0, result.stderr


def test_a_killed_worker_is_offline_within_two_heartbeats(aiwf: Aiwf, spawn: Spawn, env: Env) -> None:
    """SIGKILL of the only documents worker: a health call begun 2 heartbeat intervals later says offline."""
    worker = spawn("worker", "documents", env={**env, **FAST})
    wait_for(lambda: _documents(aiwf)["state"] == "running", 20, "documents running")
    time.sleep(BEAT_S * 0.6)  # kill it just after a beat, the slowest case to notice
    worker.send_signal(signal.SIGKILL)
    worker.wait(5)
    time.sleep(2 * BEAT_S)
    row = _documents(aiwf)
    assert (row["state"], row["instances"]) == ("offline", 0)


def test_a_frozen_worker_is_unresponsive_not_offline(aiwf: Aiwf, spawn: Spawn, env: Env) -> None:
    """SIGSTOP: alive but not beating is `unresponsive` within 3 intervals; SIGCONT makes it running again."""
    worker = spawn("worker", "documents", env={**env, **FAST})
    wait_for(lambda: _documents(aiwf)["state"] == "running", 20, "documents running")
    os.kill(worker.pid, signal.SIGSTOP)
    try:
        time.sleep(3 * BEAT_S)
        row = _documents(aiwf)
        assert (row["state"], row["instances"]) == ("unresponsive", 0)
    finally:
        os.kill(worker.pid, signal.SIGCONT)
    wait_for(lambda: _documents(aiwf)["state"] == "running", 10, "documents running again after SIGCONT")


def test_service_counters_survive_a_restart_of_its_worker(aiwf: Aiwf, spawn: Spawn, env: Env) -> None:
    """Two documents processed, the worker stopped and a new one started: health still counts 2, then 3."""
    first = spawn("worker", "documents", env={**env, **FAST})
    _upload(aiwf, "doc-a")
    _upload(aiwf, "doc-b")
    wait_for(lambda: _documents(aiwf)["processed"] == 2, 20, "two documents processed")
    first.send_signal(signal.SIGTERM)
    assert first.wait(15) == 0
    spawn("worker", "documents", env={**env, **FAST})
    wait_for(lambda: _documents(aiwf)["state"] == "running", 20, "the new documents worker running")
    assert _documents(aiwf)["processed"] == 2
    _upload(aiwf, "doc-c")
    wait_for(lambda: _documents(aiwf)["processed"] == 3, 20, "the third document counted on top")
