"""deploy/prometheus/: the alert rules pass their promtool unit tests, and name only metrics workers serve."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.test_dashboards import served_names

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not on PATH (Debian: apt-get install prometheus; .ci/run installs it)"
)


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    """Run promtool in deploy/prometheus/."""
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], cwd=RULES, capture_output=True, text=True, timeout=60, check=False)


@needs_promtool
def test_alert_rules_pass_promtool_unit_tests() -> None:
    """`promtool test rules alerts_test.yml` succeeds: every rule fires where it should and only there."""
    run = promtool("test", "rules", "alerts_test.yml")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout


@needs_promtool
def test_rules_and_scrape_config_are_valid() -> None:
    """promtool accepts the rule file and the example scrape config."""
    for args in (("check", "rules", "alerts.yml"), ("check", "config", "prometheus.yml")):
        run = promtool(*args)
        assert run.returncode == 0, run.stdout + run.stderr


def test_every_aiwf_metric_a_rule_reads_is_one_a_worker_serves() -> None:
    """A renamed metric cannot silence an alert: each aiwf_* name in alerts.yml is exposed by a consumer's
    figures or the worker's registry."""
    rules = yaml.safe_load((RULES / "alerts.yml").read_text())
    exprs = " ".join(rule["expr"] for group in rules["groups"] for rule in group["rules"])
    used = set(re.findall(r"\baiwf_[a-z_]+", exprs))
    served = served_names()
    assert used
    assert used <= served, sorted(used - served)
