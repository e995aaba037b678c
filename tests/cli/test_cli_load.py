"""`aiwf load`: a steady load against a running documents worker, every input answered, figures reported."""

from __future__ import annotations

import json

import pytest
from cli_checks import Aiwf, Spawn, wait_for

pytestmark = pytest.mark.slow


def test_load_reports_throughput_latency_and_loses_nothing_at_ten_times_the_rate(aiwf: Aiwf, spawn: Spawn) -> None:
    """At 20/s and at 200/s: every offered event has its output, latencies are ordered, the backlog drains."""
    spawn("worker", "documents")
    wait_for(lambda: '"running"' in aiwf("health", "--json").stdout, 30, "documents running")
    for rate in (20, 200):
        done = aiwf("load", "--rate", str(rate), "--duration", "3", "--json", timeout=200)
        assert done.returncode == 0, done.stdout + done.stderr
        report = json.loads(done.stdout)
        print(report)
        assert report["offered"] >= rate * 3 * 0.8, report
        assert (report["handled"], report["lost"], report["errors"]) == (report["offered"], 0, 0), report
        assert 0 <= report["p50_ms"] <= report["p95_ms"] <= report["p99_ms"], report
        assert report["throughput_per_s"] > 0, report
