"""Reading the collected logs: every service's files merged in time order, filtered, followed.

A service's lines are in time order across its rotated files (`x.log.5` ... `x.log.1`, `x.log`),
so the services are merged with heapq.merge rather than sorted whole: memory stays flat over
the full bound of the files.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from aiwf.dlq.errors import BadArgument

LEVELS = ("debug", "info", "warning", "error", "critical")
FOLLOW_EVERY_S = 0.25


@dataclass(frozen=True)
class Line:
    """One log line: its time, the service whose file holds it, the raw text and its fields."""

    at: datetime
    service: str
    text: str
    fields: dict[str, Any]


@dataclass(frozen=True)
class LogFilter:
    """Which lines `aiwf logs` prints; every set condition must hold."""

    services: frozenset[str] | None = None
    correlation_id: str | None = None
    min_level: int = 0
    since: datetime | None = None

    @staticmethod
    def level_index(level: str) -> int:
        """The rank of a level name (debug 0 ... critical 4); BadArgument for any other name."""
        name = level.strip().lower()
        if name == "warn":
            name = "warning"
        if name not in LEVELS:
            raise BadArgument(f"bad --level {level!r}: use one of {', '.join(LEVELS)}")
        return LEVELS.index(name)

    def matches(self, line: Line) -> bool:
        """Whether `line` passes every condition."""
        if self.services is not None and line.service not in self.services:
            return False
        if self.correlation_id is not None and line.fields.get("correlation_id") != self.correlation_id:
            return False
        level = str(line.fields.get("level") or "info").lower()
        if self.min_level and (LEVELS.index(level) if level in LEVELS else 1) < self.min_level:
            return False
        return self.since is None or line.at >= self.since


def services_in(directory: Path) -> list[str]:
    """The services that have a log file in `directory`, sorted."""
    return sorted({p.name.split(".log", 1)[0] for p in directory.glob("*.log*") if ".log" in p.name})


def files_of(directory: Path, service: str) -> list[Path]:
    """A service's files, oldest first: the highest-numbered rotation first, the live file last."""
    rotated = [p for p in directory.glob(f"{service}.log.*") if p.suffix[1:].isdigit()]
    rotated.sort(key=lambda p: int(p.suffix[1:]), reverse=True)
    live = directory / f"{service}.log"
    return [*rotated, *([live] if live.exists() else [])]


def parse(text: str, service: str) -> Line | None:
    """A line of a log file; None for one that is not a JSON object with a timestamp."""
    try:
        fields = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(fields, dict):
        return None
    try:
        at = datetime.fromisoformat(str(fields.get("timestamp")))
    except ValueError:
        return None
    return Line(at if at.tzinfo else at.replace(tzinfo=UTC), service, text.rstrip("\n"), fields)


def _read_service(directory: Path, service: str, live_upto: int | None) -> Iterator[Line]:
    live = directory / f"{service}.log"
    for path in files_of(directory, service):
        try:
            with path.open("rb") as handle:
                if path == live and live_upto is not None:
                    data = handle.read(live_upto)
                    texts: Iterator[bytes] = iter(data.splitlines())
                else:
                    texts = iter(handle)
                for raw in texts:
                    line = parse(raw.decode("utf-8", errors="replace"), service)
                    if line is not None:
                        yield line
        except FileNotFoundError:  # rotated away while we read: its lines are in the next file
            continue


def history(directory: Path, flt: LogFilter, upto: dict[str, int] | None = None) -> Iterator[Line]:
    """Every line passing `flt`, all services merged in time order; `upto` stops each live file at a
    byte offset (where a Follower started), so a follow neither repeats nor loses a line."""
    services = [s for s in services_in(directory) if flt.services is None or s in flt.services]
    readers = (_read_service(directory, s, (upto or {}).get(s)) for s in services)
    merged = heapq.merge(*readers, key=lambda line: line.at)
    return (line for line in merged if flt.matches(line))


class Follower:
    """New lines of every live file, as they are written; a rotated (or truncated) file is read anew."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._at: dict[str, tuple[int, int]] = {}  # service -> (inode, offset) read up to

    def skip_to_end(self) -> dict[str, int]:
        """Start after what is there now; returns each live file's size (for `history(upto=...)`)."""
        for service in services_in(self.directory):
            path = self.directory / f"{service}.log"
            if path.exists():
                stat = path.stat()
                self._at[service] = (stat.st_ino, _line_end(path, stat.st_size))
        return {service: offset for service, (_, offset) in self._at.items()}

    def poll(self) -> list[Line]:
        """Lines written since the last poll, in time order."""
        found: list[Line] = []
        for service in services_in(self.directory):
            path = self.directory / f"{service}.log"
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            inode, offset = self._at.get(service, (stat.st_ino, 0))
            if inode != stat.st_ino or stat.st_size < offset:
                offset = 0  # rotated: the new live file from its start
            with path.open("rb") as handle:
                handle.seek(offset)
                data = handle.read()
            complete = data[: data.rfind(b"\n") + 1]  # a half-written last line waits for the next poll
            self._at[service] = (stat.st_ino, offset + len(complete))
            for raw in complete.decode(errors="replace").splitlines():
                line = parse(raw, service)
                if line is not None:
                    found.append(line)
        return sorted(found, key=lambda line: line.at)

    def follow(self, flt: LogFilter) -> Iterator[Line]:
        """Lines passing `flt` as they come, until interrupted."""
        while True:
            yield from (line for line in self.poll() if flt.matches(line))
            time.sleep(FOLLOW_EVERY_S)


def _line_end(path: Path, size: int) -> int:
    """The offset just after the last complete line within `size` bytes (a line being written waits)."""
    start = max(0, size - 65_536)
    with path.open("rb") as handle:
        handle.seek(start)
        tail = handle.read(size - start)
    return start + tail.rfind(b"\n") + 1 if b"\n" in tail else start


def human(line: Line) -> str:
    """`2024-05-01 10:00:00.123 llm      warning  handler failed  event_type=... error=...`."""
    f = line.fields
    stamp = line.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    level = str(f.get("level") or "info")
    extra = " ".join(
        f"{k}={v}"
        for k, v in f.items()
        if k not in {"timestamp", "level", "service", "message", "logger"} and v not in (None, "")
    )
    return f"{stamp} {line.service:<10} {level:<8} {f.get('message', '')}  {extra}".rstrip()
