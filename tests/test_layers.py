"""The library does not import its applications: imports flow schemas <- bus <- (dlq, workers) <- gateway <- cli.

Every module of every mapped package is parsed with `ast`; every import counts, including the
ones inside functions, under `if TYPE_CHECKING:` and through `importlib.import_module("...")`.
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Each layer, and the layers below it that it may import (it may always import itself).
ALLOWED: dict[str, frozenset[str]] = {
    "schemas": frozenset(),
    "bus": frozenset({"schemas"}),
    "dlq": frozenset({"schemas", "bus"}),
    "workers": frozenset({"schemas", "bus"}),
    "gateway": frozenset({"schemas", "bus", "dlq", "workers"}),
    "cli": frozenset({"schemas", "bus", "dlq", "workers", "gateway"}),
}


def mapped_folders() -> dict[str, str]:
    """pyproject's package-dir: layer name (`bus` of `aiwf.bus`) -> repository folder."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    mapping: dict[str, str] = config["tool"]["setuptools"]["package-dir"]
    return {name.removeprefix("aiwf."): folder for name, folder in mapping.items()}


def module_name(path: Path, layer: str, folder: Path) -> str:
    """The installed name of a source file: cli/support.py -> aiwf.cli.support."""
    parts = ["aiwf", layer, *path.relative_to(folder).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _dynamic_target(call: ast.Call) -> str | None:
    """The module of `importlib.import_module("a.b")` or `import_module(f"a.{x}")`, as far as it is literal."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    if name != "import_module" or not call.args:
        return None
    arg = call.args[0]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    if isinstance(arg, ast.JoinedStr) and arg.values and isinstance(arg.values[0], ast.Constant):
        return str(arg.values[0].value).rstrip(".")
    return None


def imported(tree: ast.AST, module: str, is_package: bool) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import anywhere in `tree`."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: climb level - 1 packages up from this module's own
                base = ".".join([*package[: len(package) - node.level + 1], *filter(None, [node.module])])
            else:
                base = node.module or ""
            # `from aiwf import bus` imports the package aiwf.bus, not just aiwf.
            yield from ((node.lineno, f"{base}.{a.name}" if base == "aiwf" else base) for a in node.names)
        elif isinstance(node, ast.Call) and (target := _dynamic_target(node)):
            yield node.lineno, target


def violations(source: str, module: str, layer: str, *, is_package: bool = False) -> list[str]:
    """Why each import in `source` (a module of `layer`) breaks the one-way rule; [] when none does."""
    found = []
    for line, name in sorted(imported(ast.parse(source), module, is_package)):
        parts = name.split(".")
        if parts[0] in ALLOWED:
            found.append(f"{line}: imports {name} by its folder name; use aiwf.{name}")
            continue
        if parts[0] != "aiwf" or len(parts) < 2:
            continue  # the standard library or a third-party package
        target = parts[1]
        if target != layer and target not in ALLOWED.get(layer, frozenset()):
            may = ", ".join(sorted(ALLOWED[layer])) or "nothing else"
            found.append(f"{line}: imports {name} ({layer} may import {may})")
    return found


def test_every_mapped_package_has_a_layer() -> None:
    """Every top-level folder pyproject installs under aiwf.* has a place in the layer rule, and no rule is stale."""
    assert set(mapped_folders()) == set(ALLOWED)


def test_imports_flow_one_way() -> None:
    """No module imports a layer above it: bus never imports dlq, workers or cli; dlq and workers never each other."""
    broken = []
    for layer, folder in mapped_folders().items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            module = module_name(path, layer, ROOT / folder)
            source = path.read_text(encoding="utf-8")
            found = violations(source, module, layer, is_package=path.name == "__init__.py")
            broken += [f"{path.relative_to(ROOT)}:{v}" for v in found]
    assert broken == []


def test_checker_sees_hidden_relative_and_dynamic_imports() -> None:
    """An import inside a function, a relative import that climbs out of its package and import_module all count."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "import redis\n"
        "from . import keys\n"
        "if TYPE_CHECKING:\n"
        "    from aiwf.cli.main import app\n"
        "def f():\n"
        "    from ..dlq import letters\n"
        "    importlib.import_module(f'aiwf.workers.{name}.service')\n"
        "    from aiwf import dlq\n"
        "    import schemas\n"
    )
    assert violations(source, "aiwf.bus.thing", "bus") == [
        "5: imports aiwf.cli.main (bus may import schemas)",
        "7: imports aiwf.dlq (bus may import schemas)",
        "8: imports aiwf.workers (bus may import schemas)",
        "9: imports aiwf.dlq (bus may import schemas)",
        "10: imports schemas by its folder name; use aiwf.schemas",
    ]
    assert violations(source.replace("aiwf.cli.main", "aiwf.bus.keys"), "aiwf.cli.thing", "cli") == [
        "10: imports schemas by its folder name; use aiwf.schemas",
    ]
