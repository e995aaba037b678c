"""`aiwf schemas show TYPE`: enough to publish without reading the source — fields, a valid example, versions."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
import redis
from cli_checks import Aiwf, assert_one_error

from aiwf.cli.support import load_events
from aiwf.schemas import REGISTRY
from aiwf.schemas.describe import describe


def _show(aiwf: Aiwf, event_type: str) -> dict[str, Any]:
    result = aiwf("schemas", "show", event_type, "--json")
    assert result.returncode == 0, result.stderr
    shown: dict[str, Any] = json.loads(result.stdout)
    return shown


def test_show_lists_fields_with_types_and_constraints_and_versions_with_upcasters(aiwf: Aiwf) -> None:
    """documents.document.uploaded: document_id is a required string with its length and pattern, password is
    sealed, and v1 names the upcaster that lifts it to v2; the table says the same to people."""
    shown = _show(aiwf, "documents.document.uploaded")
    assert (shown["type"], shown["version"]) == ("documents.document.uploaded", 2)
    by_name = {f["name"]: f for f in shown["fields"]}
    assert by_name["document_id"] == {
        "name": "document_id",
        "type": "string",
        "required": True,
        "constraints": {"minLength": 1, "maxLength": 128, "pattern": "^[A-Za-z0-9._:-]+$"},
        "description": "",
        "secret": False,
    }
    assert by_name["password"]["secret"] is True
    assert by_name["blob"]["type"] == "BlobRef | null"
    assert [(v["version"], v["upcaster"]) for v in shown["versions"]] == [
        (1, "aiwf.schemas.events.documents._uploaded_v1_to_v2"),
        (2, None),
    ]
    table = aiwf("schemas", "show", "documents.document.uploaded")
    assert table.returncode == 0, table.stderr
    for text in ("document_id", "pattern=^[A-Za-z0-9._:-]+$", "sealed", "_uploaded_v1_to_v2", "example payload:"):
        assert text in table.stdout


def test_every_example_is_valid_against_its_json_schema_and_its_model() -> None:
    """For each of the registered types, the example `show` gives passes the JSON Schema and the pydantic model."""
    load_events()
    for event_type in REGISTRY.types():
        model = REGISTRY.latest(event_type)
        example = describe(event_type)["example"]
        assert example is not None, event_type
        jsonschema.validate(example, model.model_json_schema())
        model.model_validate(example)


def test_the_example_publishes_as_printed(aiwf: Aiwf, r: redis.Redis) -> None:
    """The example of documents.document.uploaded, pasted into `aiwf publish`, is accepted: exit 0, an event id."""
    example = _show(aiwf, "documents.document.uploaded")["example"]
    published = aiwf("publish", "documents.document.uploaded", "--data", json.dumps(example))
    assert published.returncode == 0, published.stderr
    assert r.xlen("aiwf:ev:{documents}") == 1


@pytest.mark.parametrize("wrong", ["documents.document.uplaoded", "zzz"])
def test_show_of_an_unknown_type_is_one_line(aiwf: Aiwf, wrong: str) -> None:
    """An unknown type is one `aiwf:` line, exit 1 (naming the closest types when there are some)."""
    assert f"unknown event type {wrong!r}" in assert_one_error(aiwf("schemas", "show", wrong))
