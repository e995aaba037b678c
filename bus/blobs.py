"""Claim-check storage: large payloads live in a blob store, events carry a BlobRef.

A ref names content by its sha256 only, so it is store-agnostic
(`blob:sha256:<hex>`), deduplicates equal payloads, and cannot name a path
outside the store. `FileBlobStore` keeps one file per hash under its root,
written atomically (temp file, fsync, os.replace) and verified on every read.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from aiwf.bus.config import BusConfig
from aiwf.bus.errors import AiwfError
from aiwf.schemas.blobref import BlobRef

__all__ = [
    "DEFAULT_MAX_BLOB_BYTES",
    "BlobCorrupt",
    "BlobError",
    "BlobNotFound",
    "BlobRef",
    "BlobStore",
    "BlobTooLarge",
    "FileBlobStore",
    "StoredBlob",
]

#: Largest payload a FileBlobStore accepts unless told otherwise (256 MiB).
DEFAULT_MAX_BLOB_BYTES = 256 * 1024 * 1024


_SHA256 = re.compile(r"[0-9a-f]{64}")
_SHARD_CHARS = 2


@dataclass(frozen=True)
class StoredBlob:
    """One blob as the store holds it: its hash, size and last put (modification time, epoch seconds)."""

    sha256: str
    size: int
    modified: float

    @property
    def uri(self) -> str:
        return f"blob:sha256:{self.sha256}"


class BlobError(AiwfError):
    """Raised when the blob store cannot serve a request; base of every blob error."""


class BlobNotFound(BlobError):
    """Raised when a ref names content the store does not hold (never stored, or deleted)."""


class BlobCorrupt(BlobError):
    """Raised when stored bytes no longer match their ref's sha256 or size."""


class BlobTooLarge(BlobError):
    """Raised when a payload exceeds the store's size limit."""


@runtime_checkable
class BlobStore(Protocol):
    """Content-addressed payload storage.

    put is idempotent (same bytes, same ref, stored once); get returns exactly
    the bytes the ref names or raises; delete removes the content for every
    ref naming it, and deleting what is absent is not an error.
    """

    def put(self, data: bytes, content_type: str) -> BlobRef:
        """Store `data` and return its ref."""
        ...

    def get(self, ref: BlobRef) -> bytes:
        """The bytes `ref` names; BlobNotFound or BlobCorrupt otherwise."""
        ...

    def exists(self, ref: BlobRef) -> bool:
        """True when the store holds the content `ref` names."""
        ...

    def delete(self, ref: BlobRef) -> None:
        """Remove the content `ref` names, if present."""
        ...


class FileBlobStore:
    """Blobs as files `<root>/<hex[:2]>/<hex>`; safe for several processes on one filesystem."""

    def __init__(self, root: Path, max_bytes: int = DEFAULT_MAX_BLOB_BYTES) -> None:
        if max_bytes < 1:
            msg = "max_bytes must be positive"
            raise ValueError(msg)
        self.root = Path(root)
        self.max_bytes = max_bytes

    def path_of(self, ref: BlobRef) -> Path:
        """Where the content of `ref` is (or would be) stored: for people and tools, read-only."""
        return self._path(ref)

    def _path(self, ref: BlobRef) -> Path:
        # ref.sha256 is validated as 64 hex digits: no separator, no '..'.
        return self.root / ref.sha256[:2] / ref.sha256

    def put(self, data: bytes, content_type: str) -> BlobRef:
        """Store `data` atomically unless already present; return its ref."""
        if len(data) > self.max_bytes:
            msg = f"blob of {len(data)} bytes exceeds the {self.max_bytes}-byte limit"
            raise BlobTooLarge(msg)
        ref = BlobRef.of(data, content_type)
        path = self._path(ref)
        if self._intact(path, ref):
            # A new put restarts its gc grace period: its event may be about to be published.
            with contextlib.suppress(FileNotFoundError):
                os.utime(path)
            return ref
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        _fsync_dir(path.parent)
        return ref

    def get(self, ref: BlobRef) -> bytes:
        """The stored bytes, checked against the ref's size and sha256."""
        path = self._path(ref)
        try:
            size = path.stat().st_size
            if size != ref.size:
                msg = f"{ref.uri} holds {size} bytes, the ref says {ref.size}"
                raise BlobCorrupt(msg)
            data = path.read_bytes()
        except FileNotFoundError as exc:
            msg = f"{ref.uri} is not in the blob store at {self.root}"
            raise BlobNotFound(msg) from exc
        if len(data) != ref.size or hashlib.sha256(data).hexdigest() != ref.sha256:
            msg = f"{ref.uri} is corrupt: its bytes no longer hash to the ref"
            raise BlobCorrupt(msg)
        return data

    def exists(self, ref: BlobRef) -> bool:
        """True when a file for the ref's hash exists (its content is checked by get)."""
        return self._path(ref).is_file()

    def delete(self, ref: BlobRef) -> None:
        """Remove the ref's file; every ref with the same hash loses its content too."""
        with contextlib.suppress(FileNotFoundError):
            self._path(ref).unlink()

    def stored(self) -> Iterator[StoredBlob]:
        """Every blob in the store (not partial writes), in no particular order."""
        if not self.root.is_dir():
            return
        for shard in self.root.iterdir():
            if not (len(shard.name) == _SHARD_CHARS and shard.is_dir()):
                continue
            for path in shard.iterdir():
                if _SHA256.fullmatch(path.name) and path.name.startswith(shard.name):
                    with contextlib.suppress(FileNotFoundError):
                        info = path.stat()
                        yield StoredBlob(path.name, info.st_size, info.st_mtime)

    def ref_for(self, sha256: str, content_type: str = "application/octet-stream") -> BlobRef:
        """The ref of the stored blob `sha256` (its size read from the store); BlobNotFound if absent."""
        path = self.root / sha256[:2] / sha256
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            msg = f"blob:sha256:{sha256} is not in the blob store at {self.root}"
            raise BlobNotFound(msg) from None
        return BlobRef(uri=f"blob:sha256:{sha256}", sha256=sha256, size=size, content_type=content_type)

    def delete_if_untouched(self, blob: StoredBlob) -> bool:
        """Delete `blob` unless it was put again since it was listed (its mtime moved); True if deleted."""
        path = self.root / blob.sha256[:2] / blob.sha256
        try:
            if path.stat().st_mtime != blob.modified:
                return False
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    @staticmethod
    def _intact(path: Path, ref: BlobRef) -> bool:
        """True when `path` already holds exactly the ref's content (dedupe; heals corruption)."""
        try:
            if path.stat().st_size != ref.size:
                return False
            return hashlib.sha256(path.read_bytes()).hexdigest() == ref.sha256
        except FileNotFoundError:
            return False


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable; some filesystems refuse to open a directory."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def store_for(config: BusConfig) -> FileBlobStore:
    """The blob store every service shares: `config.blob_path` (AIWF_BLOB_DIR, default `<AIWF_DATA_DIR>/blobs`)."""
    return FileBlobStore(config.blob_path)


def store_from_env(data_dir: Path) -> FileBlobStore:
    """The shared blob store for `data_dir`, AIWF_BLOB_DIR read now; prefer `store_for(config)` at start."""
    return store_for(BusConfig.from_env(data_dir=data_dir))
