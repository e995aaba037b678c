"""`aiwf schemas ls | export | check`: the registry, its JSON Schema, and the breaking-change gate."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cli_checks import Aiwf, assert_one_error

SNAPSHOT = Path(__file__).resolve().parents[2] / "schemas" / "snapshot.json"
UPLOADED = "documents.document.uploaded"


@pytest.fixture
def snapshot(tmp_path: Path) -> Path:
    """A private copy of the committed snapshot, safe to edit."""
    copy = tmp_path / "snapshot.json"
    shutil.copy(SNAPSHOT, copy)
    return copy


def test_schemas_ls_lists_every_type_with_versions(aiwf: Aiwf) -> None:
    """ls --json names each registered type once with its versions and compat mode; the table names them too."""
    rows = json.loads(aiwf("schemas", "ls", "--json").stdout)
    types = [row["type"] for row in rows]
    assert len(types) == len(set(types))
    assert {UPLOADED, "llm.chat.requested", "tts.speech.requested"} <= set(types)
    assert all(row["compat"] in {"BACKWARD", "FORWARD", "FULL", "NONE"} for row in rows)
    table = aiwf("schemas", "ls")
    assert table.returncode == 0
    assert all(t in table.stdout for t in types)


def test_schemas_export_is_json_schema_of_envelope_and_events(aiwf: Aiwf, tmp_path: Path) -> None:
    """export prints valid JSON with the envelope and every event; --out writes the same to a file."""
    result = aiwf("schemas", "export")
    assert result.returncode == 0, result.stderr
    exported = json.loads(result.stdout)
    assert {"envelope", "events"} <= exported.keys()
    assert "document_id" in exported["events"][UPLOADED]["versions"]["1"]["properties"]
    out = tmp_path / "schemas.json"
    assert aiwf("schemas", "export", "--out", str(out)).returncode == 0
    assert json.loads(out.read_text()) == exported


def test_schemas_export_to_an_unwritable_path_fails_in_one_line(aiwf: Aiwf, tmp_path: Path) -> None:
    """--out into a missing directory is one line, exit 1."""
    assert_one_error(aiwf("schemas", "export", "--out", str(tmp_path / "no" / "such" / "x.json")))


def test_schemas_check_passes_on_the_committed_snapshot(aiwf: Aiwf, snapshot: Path) -> None:
    """The registry is compatible with schemas/snapshot.json, as committed."""
    result = aiwf("schemas", "check", "--snapshot", str(snapshot))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok:")
    assert snapshot.read_bytes() == SNAPSHOT.read_bytes()


def test_schemas_check_refuses_a_field_made_required(aiwf: Aiwf, snapshot: Path) -> None:
    """A field required now but optional in the snapshot is a breaking change named on stderr, exit 1."""
    data = json.loads(snapshot.read_text())
    v1 = data["events"][UPLOADED]["versions"]["1"]
    v1["required"] = [name for name in v1["required"] if name != "document_id"]
    snapshot.write_text(json.dumps(data))
    result = aiwf("schemas", "check", "--snapshot", str(snapshot))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"aiwf: breaking change: {UPLOADED} v1: field 'document_id' now required (breaks BACKWARD readers)"
    ]


def test_schemas_check_refuses_a_removed_type(aiwf: Aiwf, snapshot: Path) -> None:
    """A type in the snapshot that the registry no longer has is named as removed, exit 1."""
    data = json.loads(snapshot.read_text())
    data["events"]["documents.document.archived"] = data["events"][UPLOADED]
    snapshot.write_text(json.dumps(data))
    line = assert_one_error(aiwf("schemas", "check", "--snapshot", str(snapshot)))
    assert "documents.document.archived" in line
    assert "type removed" in line


def test_schemas_check_update_rewrites_the_snapshot(aiwf: Aiwf, snapshot: Path) -> None:
    """--update accepts the current schemas: the file is rewritten and a plain check passes again."""
    data = json.loads(snapshot.read_text())
    data["events"]["documents.document.archived"] = data["events"][UPLOADED]
    snapshot.write_text(json.dumps(data))
    result = aiwf("schemas", "check", "--update", "--snapshot", str(snapshot))
    assert result.returncode == 0, result.stderr
    assert "snapshot written" in result.stdout
    assert "documents.document.archived" not in json.loads(snapshot.read_text())["events"]
    assert aiwf("schemas", "check", "--snapshot", str(snapshot)).returncode == 0


@pytest.mark.parametrize("content", ["{", "[]", '{"events": 3}'])
def test_schemas_check_on_a_corrupt_snapshot_fails_in_one_line(aiwf: Aiwf, snapshot: Path, content: str) -> None:
    """A snapshot that is not a snapshot is one line and exit 1, and the file is left as it was."""
    snapshot.write_text(content)
    assert "snapshot" in assert_one_error(aiwf("schemas", "check", "--snapshot", str(snapshot)))
    assert snapshot.read_text() == content


def test_schemas_check_into_a_missing_directory_fails_in_one_line(aiwf: Aiwf, tmp_path: Path) -> None:
    """Writing a snapshot where none can be written is one line, exit 1."""
    assert_one_error(aiwf("schemas", "check", "--update", "--snapshot", str(tmp_path / "no" / "dir" / "s.json")))


def test_schemas_check_without_a_snapshot_fails_instead_of_passing(aiwf: Aiwf, tmp_path: Path) -> None:
    """A missing snapshot (a typo in --snapshot, a deleted file) is an error, not a silent pass."""
    missing = tmp_path / "snapshot.json"
    line = assert_one_error(aiwf("schemas", "check", "--snapshot", str(missing)))
    assert "--update" in line
    assert not missing.exists()
