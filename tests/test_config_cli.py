"""`aiwf config` as a user runs it (the installed console script, in a subprocess), and the README's reference."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from aiwf.bus.settings import variable
from aiwf.cli.config import PARTS, model_of, reference_markdown

ROOT = Path(__file__).resolve().parents[1]
AIWF = str(Path(sys.executable).parent / "aiwf") if (Path(sys.executable).parent / "aiwf").exists() else "aiwf"
SECRET = "sk-never-shown-7f3a"


def config(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run `aiwf config ARGS` with only `env` (plus PATH) set: no AIWF_* from the test's own shell."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AIWF_", "REDIS_URL"))}
    return subprocess.run(
        [shutil.which(AIWF) or AIWF, "config", *args],
        env={**base, "COLUMNS": "250", **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def by_variable(tree: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Every row of every part, by variable name."""
    return {row["variable"]: row for rows in tree.values() for row in rows}


def test_json_shows_an_env_value_with_env_as_its_source(tmp_path: Path) -> None:
    """A variable set in the environment shows with its value and source `env`; unset ones show their default."""
    result = config("--json", env={"AIWF_SOCKET_TIMEOUT": "2.5", "AIWF_CHUNK_SIZE": "700"}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = by_variable(json.loads(result.stdout))
    assert rows["AIWF_SOCKET_TIMEOUT"] == {**rows["AIWF_SOCKET_TIMEOUT"], "value": 2.5, "source": "env"}
    assert rows["AIWF_CHUNK_SIZE"] == {**rows["AIWF_CHUNK_SIZE"], "value": 700, "source": "env"}
    assert rows["AIWF_CONNECT_TIMEOUT"] == {**rows["AIWF_CONNECT_TIMEOUT"], "value": 1.0, "source": "default"}
    assert rows["AIWF_RECLAIM_IDLE"]["description"]
    declared = {variable(i) for p in PARTS for i in model_of(p).model_fields.values() if not i.exclude} - {None}
    assert declared <= set(rows)


def test_secrets_are_masked_in_json_and_table(tmp_path: Path) -> None:
    """An API key, a Redis password and a service private key never appear; each shows as ***."""
    env = {
        "AIWF_LLM_API_KEY": SECRET,
        "AIWF_LLM_FALLBACK_API_KEY": SECRET,
        "REDIS_URL": f"redis://user:{SECRET}@127.0.0.1:6379/0",
        "AIWF_SECRET_KEY_AUTH": SECRET,
    }
    as_json = config("--json", env=env, cwd=tmp_path)
    table = config(env=env, cwd=tmp_path)
    for result in (as_json, table):
        assert result.returncode == 0, result.stderr
        assert SECRET not in result.stdout + result.stderr
    rows = by_variable(json.loads(as_json.stdout))
    assert rows["AIWF_LLM_API_KEY"]["value"] == "***"
    assert rows["AIWF_SECRET_KEY_AUTH"] == {**rows["AIWF_SECRET_KEY_AUTH"], "value": "***", "source": "env"}
    assert rows["REDIS_URL"]["value"] == "redis://user:***@127.0.0.1:6379/0"
    assert "AIWF_LLM_API_KEY" in table.stdout


def test_a_bad_value_is_one_aiwf_line_and_exit_2(tmp_path: Path) -> None:
    """A bad variable exits 2 with exactly one `aiwf:` line on stderr naming it, like every other config error."""
    result = config("--json", env={"AIWF_LLM_TIMEOUT": "soon"}, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["aiwf: AIWF_LLM_TIMEOUT must be a number > 0, got 'soon'"]
    assert result.stdout == ""


def test_service_shows_the_bus_parts_and_that_service_only(tmp_path: Path) -> None:
    """--service llm lists the shared bus parts and llm's, no other service's; an unknown name exits 2."""
    result = config("--json", "--service", "llm", env={}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert list(json.loads(result.stdout)) == [
        "bus",
        "bus.server",
        "bus.worker",
        "bus.access",
        "bus.alerts",
        "bus.logs",
        "secrets",
        "llm",
    ]
    unknown = config("--service", "nope", env={}, cwd=tmp_path)
    assert unknown.returncode == 2
    assert unknown.stderr.startswith("aiwf: unknown service 'nope'; known: auth, calendar")


def test_readme_configuration_is_generated_from_the_models() -> None:
    """README's Configuration reference is exactly what the models render, so it lists every variable they declare."""
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- config:begin -->\n(.*?)<!-- config:end -->", readme, re.S)
    assert block, "README.md lacks the <!-- config:begin --> ... <!-- config:end --> block"
    assert block.group(1) == reference_markdown(), (
        "README configuration is stale; regenerate it with: "
        "python -c \"from aiwf.cli.config import reference_markdown as r; print(r(), end='')\""
    )
