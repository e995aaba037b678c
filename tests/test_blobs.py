"""FileBlobStore: content-addressed, atomic, verified claim-check storage."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from aiwf.bus.blobs import (
    BlobCorrupt,
    BlobNotFound,
    BlobRef,
    BlobStore,
    BlobTooLarge,
    FileBlobStore,
)


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_round_trip(tmp_path: Path) -> None:
    """put returns a ref naming the bytes by sha256, and get returns exactly those bytes."""
    store = FileBlobStore(tmp_path)
    data = b"RIFF\x00\x01 some audio" * 100
    ref = store.put(data, "audio/wav")
    digest = hashlib.sha256(data).hexdigest()
    assert ref.sha256 == digest
    assert ref.uri == f"blob:sha256:{digest}"
    assert ref.size == len(data)
    assert ref.content_type == "audio/wav"
    assert store.exists(ref)
    assert store.get(ref) == data


def test_empty_payload_round_trips(tmp_path: Path) -> None:
    """An empty payload is a valid blob of size 0."""
    store = FileBlobStore(tmp_path)
    ref = store.put(b"", "application/octet-stream")
    assert ref.size == 0
    assert store.get(ref) == b""


def test_same_content_is_stored_once(tmp_path: Path) -> None:
    """Putting equal bytes twice gives the same ref and a single file."""
    store = FileBlobStore(tmp_path)
    first = store.put(b"same bytes", "text/plain")
    second = store.put(b"same bytes", "text/plain")
    other_type = store.put(b"same bytes", "application/octet-stream")
    assert first == second
    assert other_type.sha256 == first.sha256
    assert len(_files(tmp_path)) == 1


def test_corrupt_file_detected(tmp_path: Path) -> None:
    """Bytes changed on disk (same length) make get raise BlobCorrupt, not return them."""
    store = FileBlobStore(tmp_path)
    ref = store.put(b"original content", "text/plain")
    (path,) = _files(tmp_path)
    path.write_bytes(b"tampered content")
    with pytest.raises(BlobCorrupt):
        store.get(ref)


def test_truncated_file_detected(tmp_path: Path) -> None:
    """A stored file whose size differs from the ref raises BlobCorrupt."""
    store = FileBlobStore(tmp_path)
    ref = store.put(b"0123456789", "text/plain")
    (path,) = _files(tmp_path)
    path.write_bytes(b"01234")
    with pytest.raises(BlobCorrupt):
        store.get(ref)


def test_put_heals_corrupt_file(tmp_path: Path) -> None:
    """Putting the content again replaces a corrupt copy instead of trusting it."""
    store = FileBlobStore(tmp_path)
    ref = store.put(b"precious", "text/plain")
    (path,) = _files(tmp_path)
    path.write_bytes(b"garbage!")
    store.put(b"precious", "text/plain")
    assert store.get(ref) == b"precious"


def test_missing_ref(tmp_path: Path) -> None:
    """A ref never stored raises BlobNotFound and does not exist."""
    store = FileBlobStore(tmp_path)
    ref = BlobRef.of(b"never stored", "text/plain")
    assert not store.exists(ref)
    with pytest.raises(BlobNotFound):
        store.get(ref)


def test_delete_is_idempotent(tmp_path: Path) -> None:
    """delete removes the content, and deleting it again is not an error."""
    store = FileBlobStore(tmp_path)
    ref = store.put(b"short-lived", "text/plain")
    store.delete(ref)
    store.delete(ref)
    assert not store.exists(ref)
    with pytest.raises(BlobNotFound):
        store.get(ref)


def test_ref_cannot_name_a_path(tmp_path: Path) -> None:
    """A ref whose hash is not 64 hex digits, or whose uri disagrees with it, is refused."""
    good = BlobRef.of(b"x", "text/plain")
    with pytest.raises(ValidationError):
        BlobRef(uri="blob:sha256:../../etc/passwd", sha256="../../etc/passwd", size=1, content_type="text/plain")
    with pytest.raises(ValidationError):
        BlobRef(uri="file:///etc/passwd", sha256=good.sha256, size=1, content_type="text/plain")
    with pytest.raises(ValidationError):
        BlobRef(uri=good.uri, sha256="a" * 64, size=1, content_type="text/plain")


def test_ref_is_frozen_and_serializable() -> None:
    """A ref is immutable and survives a JSON round trip unchanged."""
    ref = BlobRef.of(b"payload", "audio/wav")
    with pytest.raises(ValidationError):
        setattr(ref, "size", 3)  # noqa: B010 - bypass static checks to hit the runtime guard
    assert BlobRef.model_validate_json(ref.model_dump_json()) == ref


def test_bad_content_type_refused() -> None:
    """A content type that is not `type/subtype` is refused."""
    with pytest.raises(ValidationError):
        BlobRef.of(b"x", "not a content type")


def test_too_large_refused(tmp_path: Path) -> None:
    """A payload over the store's limit raises BlobTooLarge and writes nothing."""
    store = FileBlobStore(tmp_path, max_bytes=8)
    with pytest.raises(BlobTooLarge):
        store.put(b"123456789", "text/plain")
    assert _files(tmp_path) == []


def test_failed_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """If the final rename fails, neither the blob nor a temp file is left behind."""
    store = FileBlobStore(tmp_path)

    def refuse(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        store.put(b"doomed", "text/plain")
    assert _files(tmp_path) == []


def test_file_store_is_a_blob_store(tmp_path: Path) -> None:
    """FileBlobStore satisfies the BlobStore protocol."""
    assert isinstance(FileBlobStore(tmp_path), BlobStore)


@settings(max_examples=25, deadline=None)
@given(data=st.binary(max_size=2048))
def test_any_bytes_round_trip(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    """Any payload comes back byte for byte."""
    store = FileBlobStore(tmp_path_factory.mktemp("blobs"))
    assert store.get(store.put(data, "application/octet-stream")) == data
