"""The Lua scripts: one bus/lua/*.lua file each, a KEYS/ARGV header on top, loaded by bus/scripts.py only."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiwf.bus import scripts

ROOT = Path(__file__).resolve().parents[1]
LUA = sorted((ROOT / "bus" / "lua").glob("*.lua"))
SERVICE_LUA = sorted((ROOT / "workers").glob("*/lua/*.lua"))


def test_every_known_script_is_a_file() -> None:
    """The scripts the bus, the store and dlq run are all files under bus/lua/."""
    assert {p.stem for p in LUA} >= {"append", "commit", "replay", "trim", "xadd_many"}


@pytest.mark.parametrize("path", LUA + SERVICE_LUA, ids=lambda p: p.name)
def test_each_script_documents_its_keys_and_argv_first(path: Path) -> None:
    """A script opens with a comment block naming its KEYS and ARGV, before its first line of code."""
    lines = path.read_text(encoding="utf-8").splitlines()
    header = [line for line in lines[: next(i for i, line in enumerate(lines) if not line.startswith("--"))]]
    assert any(line.startswith("-- KEYS") for line in header), path.name
    assert any(line.startswith("-- ARGV") for line in header), path.name
    package = "aiwf.bus" if path in LUA else f"aiwf.workers.{path.parent.parent.name}"
    assert scripts.source(path.stem, package) == path.read_text(encoding="utf-8")


def test_no_library_module_holds_inline_lua() -> None:
    """Outside the lua/ folders, no module of bus/, dlq/ or workers/ carries a script text or registers one."""
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("bus", "dlq", "workers")
        for path in (ROOT / folder).rglob("*.py")
        if path != ROOT / "bus" / "scripts.py"
        and any(s in path.read_text(encoding="utf-8") for s in ("redis.call(", "register_script(", ".eval("))
    ]
    assert offenders == []
