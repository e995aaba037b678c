"""Where `aiwf up` puts its children's output: one rotated, bounded JSON-lines file per service.

Each child's stdout and stderr go into one pipe; a reader thread per child writes every line
to `<data dir>/logs/<service>.log` through the standard library's RotatingFileHandler
(AIWF_LOG_FILE_BYTES per file, AIWF_LOG_FILE_BACKUPS older files: a bounded total). Workers
already log JSON lines (bus/logs.py); a line that is not one (a crash before logging was set
up, a stray print) is wrapped into one, with the time it was read, so every line of every
file has a timestamp and `aiwf logs` can merge them. Sealed values are masked in wrapped lines
as bus/logs.py masks them in its own.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import IO

import orjson

from aiwf.schemas.masking import mask_sealed_text

#: A line longer than this is cut (a runaway print must not fill the bound in a few lines).
MAX_LINE_CHARS = 16_000


def log_dir(data_dir: Path) -> Path:
    """The directory of the collected logs."""
    return data_dir / "logs"


def timestamp() -> str:
    """Now as bus/logs.py's structlog TimeStamper writes it (ISO 8601, UTC, `Z`), so lines sort as text."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def as_json_line(line: str, service: str) -> str:
    """The line if it is a JSON object already; else a JSON line wrapping it, stamped now."""
    text = line.rstrip("\r\n")[:MAX_LINE_CHARS]
    if text.startswith("{"):
        try:
            if isinstance(orjson.loads(text), dict):
                return text
        except orjson.JSONDecodeError:
            pass
    wrapped = {"timestamp": timestamp(), "level": "info", "service": service, "message": mask_sealed_text(text)}
    return orjson.dumps(wrapped).decode()


class LogCollector:
    """Per-service rotating files under `directory`, fed by one reader thread per child pipe."""

    def __init__(self, directory: Path, max_bytes: int, backups: int) -> None:
        self.directory, self.max_bytes, self.backups = directory, max_bytes, backups
        self.directory.mkdir(parents=True, exist_ok=True)
        self._files: dict[str, RotatingFileHandler] = {}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def _file(self, service: str) -> RotatingFileHandler:
        with self._lock:
            handler = self._files.get(service)
            if handler is None:
                path = self.directory / f"{service}.log"
                handler = RotatingFileHandler(path, maxBytes=self.max_bytes, backupCount=self.backups, encoding="utf-8")
                handler.setFormatter(logging.Formatter("%(message)s"))
                self._files[service] = handler
            return handler

    def write(self, service: str, line: str) -> None:
        """Append one line to the service's file (rotating it first when it is full)."""
        record = logging.makeLogRecord({"msg": as_json_line(line, service), "levelno": logging.INFO})
        self._file(service).handle(record)

    def collect(self, service: str, pipe: IO[bytes]) -> None:
        """Copy `pipe` line by line into the service's file until the child closes it."""

        def copy() -> None:
            with pipe:
                for raw in iter(pipe.readline, b""):
                    self.write(service, raw.decode(errors="replace"))

        thread = threading.Thread(target=copy, name=f"logs {service}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def close(self, timeout_s: float = 5.0) -> None:
        """Wait for the readers to reach the end of their pipes, then close the files."""
        for thread in self._threads:
            thread.join(timeout_s)
        for handler in self._files.values():
            handler.close()
