"""The workers run as compose runs them: the whole filesystem read-only but a scratch dir and the blob volume.

Each `aiwf worker NAME` starts in its own mount namespace (util-linux `unshare`, as root) where
`/` is remounted read-only and only the blob directory and a TMPDIR are writable, the same
surface compose's `read_only: true` + tmpfs `/tmp` + `blobs` volume leave. A document then goes
documents -> llm -> tts -> pipeline and ends as a WAV in the blob store.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
import redis.asyncio as aioredis

from aiwf.bus import Publisher, keys
from aiwf.bus.config import BusConfig
from aiwf.bus.testing import wait_until
from aiwf.schemas import new_id
from aiwf.schemas.events.documents import DocumentUploaded
from aiwf.schemas.keyring import generate
from tests.containers.dockerfile import ROOT

AIWF = str(Path(sys.executable).parent / "aiwf")
WORKERS = ("documents", "llm", "tts", "pipeline")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root and unshare"),
]


def read_only_command(writable: list[Path], argv: list[str]) -> list[str]:
    """`argv` in a private mount namespace where `/` is read-only and only `writable` can be written."""
    # A bind of a path under the read-only root starts read-only too: remount each one rw.
    binds = " && ".join(
        f"mount --bind {q} {q} && mount -o remount,bind,rw {q}" for q in (shlex.quote(str(p)) for p in writable)
    )
    script = f"mount --bind / / && mount -o remount,bind,ro / && {binds} && exec {shlex.join(argv)}"
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script]


@pytest.fixture
def read_only_workers(redis_url: str, tmp_path: Path) -> Iterator[tuple[Path, list[subprocess.Popen[bytes]]]]:
    """The four workers under a read-only root; (blob dir, processes). Stopped with SIGTERM afterwards."""
    blobs, scratch, keys_dir = tmp_path / "blobs", tmp_path / "scratch", tmp_path / "keys"
    blobs.mkdir()
    scratch.mkdir()
    generate(keys_dir, ["auth", "documents", "gateway"])  # compose mounts them read-only, made by init
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AIWF_", "REDIS_URL"))},
        "REDIS_URL": redis_url,
        "AIWF_DATA_DIR": str(tmp_path / "data-that-is-never-written"),
        "AIWF_BLOB_DIR": str(blobs),
        "AIWF_KEYS_DIR": str(keys_dir),
        "AIWF_DRAIN_TIMEOUT": "5",
        "AIWF_LOG_LEVEL": "WARNING",
        "TMPDIR": str(scratch),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    logs = [(tmp_path / f"{name}.log").open("wb") for name in WORKERS]
    processes = [
        subprocess.Popen(
            read_only_command([blobs, scratch], [AIWF, "worker", name]),
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        for name, log in zip(WORKERS, logs, strict=True)
    ]
    try:
        yield blobs, processes
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(20)
        for log in logs:
            log.close()


async def test_the_summary_chain_completes_with_a_read_only_root(
    client: aioredis.Redis,
    config: BusConfig,
    read_only_workers: tuple[Path, list[subprocess.Popen[bytes]]],
    tmp_path: Path,
) -> None:
    """An upload ends in pipeline.summary.completed and a WAV in the blob dir; no worker died, none dead-lettered."""
    blobs, processes = read_only_workers
    correlation = new_id()
    text = (ROOT / "workers" / "documents" / "samples" / "sample.md").read_text()
    await Publisher(client, config).publish(
        DocumentUploaded(document_id="ro-1", filename="sample.md", text=text), correlation_id=correlation
    )

    async def completed() -> bool:
        entries = cast("list[tuple[bytes, dict[bytes, bytes]]]", await client.xrange(keys.stream("pipeline")))
        return any(b"pipeline.summary.completed" in fields[b"body"] for _, fields in entries)

    def logs() -> str:
        return "\n".join((tmp_path / f"{n}.log").read_text() for n in WORKERS)

    try:
        await wait_until(completed, 90, "pipeline.summary.completed")
    except AssertionError:
        raise AssertionError(logs()) from None
    assert [p.poll() for p in processes] == [None] * len(WORKERS), logs()
    assert [p for p in blobs.rglob("*") if p.is_file()], "no blob was written"
    for domain in WORKERS:
        assert await client.xlen(keys.dead_letters(domain)) == 0, logs()
    assert "Read-only file system" not in logs()
