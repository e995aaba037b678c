"""The distribution installs one `aiwf` namespace and nothing else at the top level."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: What a build leaves behind or a developer keeps locally: never part of the source a wheel is built from.
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".typecheck", ".*_cache", ".aiwf"
)


def setuptools_config() -> dict[str, list[str] | dict[str, str]]:
    """pyproject's [tool.setuptools] table."""
    config: dict[str, dict[str, dict[str, list[str] | dict[str, str]]]] = tomllib.loads(
        (ROOT / "pyproject.toml").read_text()
    )
    return config["tool"]["setuptools"]


def outside_repo_python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run `python -c code` in the project venv from `cwd`, with nothing from the repository on sys.path."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.slow
def test_wheel_holds_only_the_aiwf_namespace(tmp_path: Path) -> None:
    """Every file of the built wheel is under aiwf/ or its dist-info: no top-level bus, schemas, workers, dlq, cli."""
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)  # build a copy: a build writes build/ and egg-info in place
    out = tmp_path / "wheels"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = out.glob("aiwf-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/", 1)[0] for name in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"aiwf"}, sorted(tops)
    assert len(tops) == 2, sorted(tops)
    expected = ["aiwf/cli/main.py", "aiwf/cli/__main__.py", "aiwf/bus/store/__init__.py", "aiwf/schemas/snapshot.json"]
    assert [m for m in expected if m not in names] == []


def test_only_the_namespace_imports_outside_the_repository(tmp_path: Path) -> None:
    """From a directory outside the repository, `import schemas` fails and aiwf.schemas, aiwf.bus, aiwf.cli import."""
    bare = outside_repo_python("import schemas", tmp_path)
    assert bare.returncode == 1
    assert "ModuleNotFoundError: No module named 'schemas'" in bare.stderr
    namespaced = outside_repo_python("import aiwf.schemas, aiwf.bus, aiwf.cli, aiwf.dlq, aiwf.workers", tmp_path)
    assert namespaced.returncode == 0, namespaced.stderr


def test_python_dash_m_aiwf_cli_is_the_command_line(tmp_path: Path) -> None:
    """`python -m aiwf.cli --version` (how `aiwf up` starts workers) runs the same command line as `aiwf`."""
    result = subprocess.run(
        [sys.executable, "-m", "aiwf.cli", "--version"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"aiwf {tomllib.loads((ROOT / 'pyproject.toml').read_text())['project']['version']}\n"


def test_every_package_folder_is_listed_in_pyproject() -> None:
    """Each folder with an __init__.py under a mapped top-level folder is in `packages`, and every listed one exists."""
    config = setuptools_config()
    mapping = config["package-dir"]
    assert isinstance(mapping, dict)
    found = set()
    for name, folder in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join([name, *relative]))
    assert sorted(found) == sorted(config["packages"])


def test_every_top_level_package_is_mapped() -> None:
    """A new top-level folder with an __init__.py is installed under aiwf.* (tests/ excepted), so none is forgotten."""
    mapping = setuptools_config()["package-dir"]
    assert isinstance(mapping, dict)
    tops = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests"}
    assert tops == set(mapping.values())
