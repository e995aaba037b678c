"""Read the Dockerfile and .dockerignore the way `docker build` does, for tests that run without a Docker engine."""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Instruction:
    """One instruction: its keyword (upper case) and the rest of its logical line."""

    keyword: str
    args: str


@dataclass
class Stage:
    """One FROM ... AS name stage and its instructions."""

    name: str
    image: str
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        """The arguments of every `keyword` instruction of this stage, in order."""
        return [i.args for i in self.instructions if i.keyword == keyword]


def instructions(text: str) -> list[Instruction]:
    """Logical instructions: comments dropped, backslash continuations joined."""
    out: list[Instruction] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical = (pending + line).strip()
        pending = ""
        keyword, _, args = logical.partition(" ")
        out.append(Instruction(keyword.upper(), args.strip()))
    return out


def stages(path: Path = ROOT / "Dockerfile") -> list[Stage]:
    """The stages of a Dockerfile, in order (ARGs before the first FROM are dropped)."""
    out: list[Stage] = []
    for ins in instructions(path.read_text()):
        if ins.keyword == "FROM":
            words = ins.args.split()
            name = words[2] if len(words) > 2 and words[1].upper() == "AS" else str(len(out))
            out.append(Stage(name, words[0]))
        elif out:
            out[-1].instructions.append(ins)
    return out


def global_args(path: Path = ROOT / "Dockerfile") -> dict[str, str]:
    """The defaults of the ARGs declared before the first FROM."""
    out: dict[str, str] = {}
    for ins in instructions(path.read_text()):
        if ins.keyword == "FROM":
            break
        if ins.keyword == "ARG":
            name, _, default = ins.args.partition("=")
            out[name] = default
    return out


def key_values(args: str) -> dict[str, str]:
    """`ENV A=1 B="x y"` or `ARG A=1` -> {"A": "1", "B": "x y"}."""
    pairs = [w.partition("=") for w in shlex.split(args)]
    return {k: v for k, _, v in pairs}


def expand(text: str, env: dict[str, str]) -> str:
    """`$NAME` / `${NAME}` replaced from `env` (unknown names left as they are)."""
    return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: env.get(m[1], m[0]), text)


def ignore_patterns(path: Path = ROOT / ".dockerignore") -> list[tuple[bool, str]]:
    """(.dockerignore) patterns as (excluded?, cleaned pattern), in order."""
    out = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line.lstrip("!").strip().strip("/")
        out.append((not negated, pattern))
    return out


def _matches(pattern: str, path: str) -> bool:
    """Docker's matching: `*` stays within one path element, `**` spans any number."""
    regex = ""
    for part in re.split(r"(\*\*/?|\*|\?)", pattern):
        if part.startswith("**"):
            regex += ".*"
        elif part == "*":
            regex += "[^/]*"
        elif part == "?":
            regex += "[^/]"
        else:
            regex += re.escape(part)
    return re.fullmatch(regex, path) is not None or (fnmatch.fnmatchcase(path, pattern) and "/" not in path)


def excluded(relative: str, patterns: list[tuple[bool, str]]) -> bool:
    """Whether `relative` (a path in the context) is left out: the last pattern matching it or a parent decides."""
    parts = relative.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    verdict = False
    for exclude, pattern in patterns:
        if any(_matches(pattern, p) for p in prefixes):
            verdict = exclude
    return verdict


def build_context(root: Path = ROOT) -> list[str]:
    """Every file `docker build` would send from `root`, relative, sorted."""
    patterns = ignore_patterns(root / ".dockerignore")
    reincluded = [p for exclude, p in patterns if not exclude]
    out = []
    for here, dirs, files in os.walk(root):
        base = Path(here).relative_to(root).as_posix()
        rel = [f"{base}/{n}" if base != "." else n for n in dirs]
        # An excluded directory is skipped unless a `!pattern` could bring back something below it.
        dirs[:] = [
            n
            for n, r in zip(dirs, rel, strict=True)
            if not excluded(r, patterns) or any(p.startswith(r + "/") or p.startswith("**") for p in reincluded)
        ]
        out += [r for n in files if not excluded(r := (f"{base}/{n}" if base != "." else n), patterns)]
    return sorted(out)
