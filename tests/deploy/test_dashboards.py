"""deploy/: the Grafana dashboard, the Alertmanager route and the KEDA example name only what exists."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from aiwf.bus import Service, keys
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import connect
from aiwf.bus.metrics.figures import ConsumerMetrics
from aiwf.bus.worker import Worker
from aiwf.cli.lag import families
from aiwf.dlq.inspect import GroupInfo, Lag, StreamInfo
from aiwf.workers import WORKERS
from aiwf.workers.llm.service import llm

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DASHBOARD = DEPLOY / "grafana" / "aiwf-dashboard.json"
METRIC = re.compile(r"\b(?:aiwf|process)_[a-z_]+")


def served_names() -> set[str]:
    """Every metric and sample name a worker's /metrics or `aiwf metrics` can serve."""
    figures = ConsumerMetrics("s", "stream", "group", ["t"])
    figures.handler_took("t", 0.1, failed=True)
    figures.count("t", "committed")
    figures.committed(0.01, 3)
    names = {s.name for family in figures.collect() for s in family.samples}
    worker = Worker(Service("s", []), connect("redis://127.0.0.1:1", BusConfig()), BusConfig())
    text = worker.heartbeat.metrics.exposition().decode()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names |= {s.name for s in family.samples}
    lag = [StreamInfo("aiwf:ev:{x}", 1, None, [GroupInfo("g", 0, "0-0", Lag(1), 1)], 0)]
    names |= {s.name for family in families(lag) for s in family.samples}
    return names


def exprs(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]


def test_dashboard_is_json_reading_only_metrics_that_exist() -> None:
    """The dashboard parses, every panel has a query, and every aiwf_/process_ name in them is served."""
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "aiwf-overview"
    assert all(panel["targets"] for panel in dashboard["panels"])
    used = {m for e in exprs(dashboard) for m in METRIC.findall(e)}
    served = served_names()
    assert {"aiwf_events_handled_total", "aiwf_handler_duration_seconds_bucket", "aiwf_stream_group_lag"} <= used
    assert used <= served, sorted(used - served)
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not on PATH (.ci/run installs prometheus)")
def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    """promtool parses every query (as recording rules; Grafana's $service becomes `.*`)."""
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:q{n}", "expr": e.replace("$service", ".*")}
                    for n, e in enumerate(exprs(json.loads(DASHBOARD.read_text())))
                ],
            }
        ]
    }
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump(rules))
    run = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_alertmanager_route_names_real_receivers_and_alerts() -> None:
    """Every route and inhibit rule points at a receiver that exists and an alert alerts.yml defines."""
    config = yaml.safe_load((DEPLOY / "prometheus" / "alertmanager.yml").read_text())
    receivers = {r["name"] for r in config["receivers"]}
    route = config["route"]
    assert {route["receiver"], *(r["receiver"] for r in route["routes"])} <= receivers
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    severities = {rule["labels"]["severity"] for group in rules["groups"] for rule in group["rules"]}
    routed = {m.split('"')[1] for r in route["routes"] for m in r["matchers"]}
    assert severities <= routed, "every severity has a route"
    inhibited = [m for rule in config["inhibit_rules"] for m in rule["source_matchers"] + rule["target_matchers"]]
    assert {m.split('"')[1] for m in inhibited} <= alerts


@pytest.mark.skipif(shutil.which("amtool") is None, reason="amtool not on PATH (Debian: prometheus-alertmanager)")
def test_alertmanager_config_passes_amtool() -> None:
    """`amtool check-config alertmanager.yml` succeeds."""
    run = subprocess.run(
        ["amtool", "check-config", "alertmanager.yml"],
        cwd=DEPLOY / "prometheus",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_keda_example_names_the_llm_stream_and_group() -> None:
    """The redis-streams trigger names the real key and group; the prometheus one the exporter's metrics."""
    docs = list(yaml.safe_load_all((DEPLOY / "keda" / "llm-scaledobject.yaml").read_text()))
    streams = next(d for d in docs if d["spec"]["triggers"][0]["type"] == "redis-streams")["spec"]["triggers"][0]
    assert streams["metadata"]["stream"] == keys.stream(llm.stream)
    assert streams["metadata"]["consumerGroup"] == llm.group
    assert "llm" in WORKERS
    prom = next(d for d in docs if d["spec"]["triggers"][0]["type"] == "prometheus")["spec"]["triggers"][0]
    assert set(METRIC.findall(prom["metadata"]["query"])) <= served_names()
