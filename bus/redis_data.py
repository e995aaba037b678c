"""What an embedded Redis's data dir holds: which server wrote it, and in which persistence files.

Redis 7 keeps its AOF in `appendonlydir/` (a manifest and its parts) and moves a 6.x
`appendonly.aof` into it on first start; 6.2 knows only `appendonly.aof` and, finding none,
starts empty. So a 6.2 server on a dir a 7.x server wrote sees none of its data and writes a
second history beside it, silently. `redis-server.json` records the server that last ran on
the dir; one older (major.minor) than that is refused, and so is a dir already holding both
histories.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from aiwf.bus.errors import ConfigError
from aiwf.bus.redis_binary import RedisBinary

__all__ = ["AOF_DIR", "AOF_FILE", "RECORD_FILE", "DataRecord", "check_opens", "read_record", "write_record"]

RECORD_FILE = "redis-server.json"
AOF_FILE = "appendonly.aof"  # Redis 6.x: one file
AOF_DIR = "appendonlydir"  # Redis 7.x: a manifest and its parts
_SEVEN = (7, 0)


@dataclass(frozen=True)
class DataRecord:
    """The server that last ran on a data dir and the persistence files it keeps there."""

    version: tuple[int, int, int]
    binary: str
    files: tuple[str, ...]

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.version))


def read_record(data_dir: Path) -> DataRecord | None:
    """The record `write_record` left in `data_dir`, or None (a new dir, or one from before records)."""
    try:
        raw = json.loads((data_dir / RECORD_FILE).read_text())
        major, minor, patch = (int(p) for p in str(raw["version"]).split(".")[:3])
        return DataRecord((major, minor, patch), str(raw["binary"]), tuple(raw["files"]))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"{data_dir / RECORD_FILE} is unreadable ({exc}); it names the redis-server that wrote this "
            "data dir: fix or remove it"
        ) from None


def check_opens(data_dir: Path, binary: RedisBinary) -> None:
    """ConfigError unless `binary` can read the data `data_dir` holds (or it holds none)."""
    present = [name for name in (AOF_FILE, AOF_DIR) if (data_dir / name).exists()]
    if len(present) == 2:
        raise ConfigError(
            f"{data_dir}/ holds two separate Redis histories, {AOF_FILE} (a 6.x server's) and {AOF_DIR}/ "
            f"(a 7.x server's): different servers ran on it; keep the one you want and move the other "
            f"out of {data_dir}/ before starting"
        )
    record = read_record(data_dir)
    if record:
        written, by = record.version[:2], f"redis-server {record.version_text} ({record.binary})"
    elif present == [AOF_DIR]:
        written, by = _SEVEN, "a redis-server 7.x"
    else:
        return  # nothing yet, or a 6.x file every supported server reads (7.x upgrades it)
    if binary.version[:2] >= written:
        return
    instead = f" such as {record.binary}" if record and Path(record.binary).is_file() else ""
    raise ConfigError(
        f"{data_dir}/ holds data written by {by}; {binary} is older and cannot read it: "
        f"set AIWF_REDIS_SERVER to a redis-server >= {written[0]}.{written[1]}{instead}, "
        "or use another AIWF_DATA_DIR"
    )


def write_record(data_dir: Path, binary: RedisBinary) -> None:
    """Record that `binary` runs on `data_dir` now (atomically: a reader never sees half a file)."""
    files = [AOF_DIR] if binary.version[:2] >= _SEVEN else [AOF_FILE]
    record = {
        "version": binary.version_text,
        "binary": binary.path,
        "source": binary.source,
        "files": files,
        "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    partial = data_dir / f".{RECORD_FILE}.{os.getpid()}"
    partial.write_text(json.dumps(record, indent=2) + "\n")
    partial.replace(data_dir / RECORD_FILE)
