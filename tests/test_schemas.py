"""Schemas: the envelope, the registry, upcasting and the breaking-change check."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from aiwf.bus import codec
from aiwf.schemas import (
    REGISTRY,
    Envelope,
    Event,
    InvalidPayload,
    MalformedEvent,
    Registry,
    RegistryConflict,
    UnknownEventType,
    UnsupportedVersion,
    new_id,
)
from aiwf.schemas.compat import check
from aiwf.schemas.export import export
from aiwf.schemas.registry import Compat, check_type_name
from tests.events import ItemCreated


def test_every_envelope_field_round_trips_through_the_wire() -> None:
    """encode -> decode returns an equal envelope, every field included."""
    env = Envelope(
        id=new_id(),
        type="testing.item.created",
        version=2,
        occurred_at=datetime(2026, 1, 2, 3, 4, 5, 678000, UTC),
        producer="p",
        correlation_id="corr",
        causation_id="cause",
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        headers={"tenant": "t1"},
        payload={"title": "t", "quantity": 3},
    )
    fields = {k.encode(): v if isinstance(v, bytes) else v.encode() for k, v in codec.encode(env).items()}
    back = codec.decode(fields, 10_000)
    assert back == env
    assert set(Envelope.model_fields) == {
        "id",
        "type",
        "version",
        "occurred_at",
        "producer",
        "correlation_id",
        "causation_id",
        "traceparent",
        "headers",
        "payload",
    }


def test_ids_are_uuid7_and_sort_by_time() -> None:
    """Event ids are UUIDv7 strings that sort in creation order."""
    ids = [new_id() for _ in range(200)]
    assert all(i[14] == "7" for i in ids)
    assert ids == sorted(ids)


def test_v1_payload_is_upcast_to_v2_before_validation() -> None:
    """A v1 item reads back as the v2 model, through the registered upcaster."""
    event = REGISTRY.parse("testing.item.created", 1, {"name": "old"})
    assert event == ItemCreated(title="old", quantity=1)


def test_an_unknown_type_names_at_most_the_three_closest_not_the_registry() -> None:
    """A typo is answered with up to three close types; a name close to nothing with how many exist, never all."""
    with pytest.raises(UnknownEventType) as typo:
        REGISTRY.latest("testing.item.craeted")
    assert "did you mean testing.item.created" in str(typo.value)
    assert str(typo.value).count(", ") <= 2
    with pytest.raises(UnknownEventType) as far:
        REGISTRY.latest("zzz")
    assert (
        str(far.value)
        == f"unknown event type 'zzz'; {len(REGISTRY.types())} types are registered (see `aiwf schemas ls`)"
    )


def test_unknown_type_and_version_are_refused_with_typed_errors() -> None:
    """Unknown type -> UnknownEventType; a version newer than known -> UnsupportedVersion; both say what to do."""
    with pytest.raises(UnknownEventType, match=r"unknown event type 'testing\.nothing\.happened'"):
        REGISTRY.parse("testing.nothing.happened", 1, {})
    with pytest.raises(UnsupportedVersion, match=r"v9 is not supported.*upgrade this reader"):
        REGISTRY.parse("testing.item.created", 9, {})


def test_invalid_payload_names_the_field() -> None:
    """A payload that fails validation raises InvalidPayload naming the field and the reason."""
    with pytest.raises(InvalidPayload, match="quantity: Input should be a valid integer"):
        REGISTRY.parse("testing.item.created", 2, {"title": "t", "quantity": "many"})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b"[" * 100 + b"]" * 100, "nested deeper than 64"),
        (b'{"id": "x"}', "bad envelope"),
        (b'{"a": "' + b"x" * 2000 + b'"}', "over the 1024-byte limit"),
    ],
)
def test_hostile_bodies_are_one_malformed_event_error(body: bytes, message: str) -> None:
    """Bad JSON, wrong shape, deep nesting, missing fields and oversize all raise MalformedEvent."""
    with pytest.raises(MalformedEvent, match=message):
        codec.loads(body, 1024)


def test_type_names_must_be_domain_entity_past_tense() -> None:
    """Event types that are not `<domain>.<entity>.<past-tense verb>` are refused at registration."""
    check_type_name("documents.document.uploaded")
    check_type_name("mail.message.sent")
    for bad in ("documents.upload", "Documents.document.uploaded", "documents.document.upload"):
        with pytest.raises(RegistryConflict):
            check_type_name(bad)


def test_two_models_for_one_type_and_version_conflict() -> None:
    """Registering a second, different model under an existing (type, version) is refused."""
    registry = Registry()

    class A(Event):
        x: int

    class B(Event):
        y: int

    registry.register(A, "testing.thing.happened", 1, Compat.BACKWARD)
    with pytest.raises(RegistryConflict, match="already registered by"):
        registry.register(B, "testing.thing.happened", 1, Compat.BACKWARD)


def test_compat_check_passes_an_unchanged_registry() -> None:
    """The committed registry compared with itself has no breaking change."""
    assert check(export(), export()) == []


def _with_field(snapshot: dict[str, Any], type_: str, name: str, schema: dict[str, Any], required: bool) -> None:
    version = snapshot["events"][type_]["versions"]["2" if type_ == "testing.item.created" else "1"]
    version["properties"][name] = schema
    if required:
        version.setdefault("required", []).append(name)


def test_adding_a_required_field_breaks_backward_readers() -> None:
    """A new required field in a published version is refused."""
    old, new = export(), export()
    _with_field(new, "testing.item.created", "owner", {"type": "string"}, required=True)
    problems = [str(p) for p in check(old, new)]
    assert problems == ["testing.item.created v2: field 'owner' added required (breaks BACKWARD readers)"]


def test_adding_an_optional_field_is_backward_compatible() -> None:
    """A new optional field breaks no BACKWARD reader."""
    old, new = export(), export()
    _with_field(new, "testing.item.created", "note", {"type": "string", "default": ""}, required=False)
    assert check(old, new) == []


def test_widening_a_bound_is_backward_compatible_and_narrowing_is_not() -> None:
    """maxLength raised: fine for BACKWARD; lowered: refused."""
    old = export()
    props = old["events"]["testing.item.created"]["versions"]["2"]["properties"]
    props["title"]["maxLength"] = 100
    wider, narrower = copy.deepcopy(old), copy.deepcopy(old)
    wider["events"]["testing.item.created"]["versions"]["2"]["properties"]["title"]["maxLength"] = 200
    narrower["events"]["testing.item.created"]["versions"]["2"]["properties"]["title"]["maxLength"] = 50
    assert check(old, wider) == []
    assert [p.message for p in check(old, narrower)] == ["field 'title' bounds narrowed (breaks BACKWARD readers)"]


def test_new_version_needs_an_upcaster_and_removed_types_break() -> None:
    """A new version without an upcaster from the previous one is refused; so is removing a type."""
    new = export()
    old = copy.deepcopy(new)
    del old["events"]["testing.item.created"]["versions"]["2"]
    new["events"]["testing.item.created"]["upcasters"] = []
    assert [str(p) for p in check(old, new)] == ["testing.item.created v2: new version needs an @upcaster from v1"]
    gone = copy.deepcopy(old)
    del gone["events"]["testing.item.created"]
    assert any("type removed" in str(p) for p in check(old, gone))


def test_forward_types_refuse_new_versions() -> None:
    """For a FORWARD type, a new version is refused: old readers could not read it."""
    new = export()
    new["events"]["testing.item.created"]["compat"] = "FORWARD"
    old = copy.deepcopy(new)
    del old["events"]["testing.item.created"]["versions"]["2"]
    assert [p.message for p in check(old, new)] == ["new version of a FORWARD type: old readers cannot read it"]


def test_wrapped_envelope_equals_a_pydantic_constructed_one() -> None:
    """Envelope.wrap's fast constructor builds exactly what model_construct and model_validate build."""
    env = Envelope.wrap(ItemCreated(title="t", quantity=2), producer="p", correlation_id="c", causation_id="x")
    values = {name: getattr(env, name) for name in Envelope.model_fields}
    assert env == Envelope.model_construct(**values)
    assert env == Envelope.model_validate(values)
    assert env.model_fields_set == set(Envelope.model_fields)
    assert env.model_dump() == Envelope.model_validate(values).model_dump()
    assert codec.loads(codec.dumps(env), 10_000) == env
