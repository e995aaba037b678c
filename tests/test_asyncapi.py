"""The AsyncAPI document (built with faststream) covers every worker subscription and every event type."""

from __future__ import annotations

import aiwf.schemas.events  # noqa: F401 - registers every domain's models
from aiwf.bus import keys
from aiwf.cli.asyncapi import document
from aiwf.schemas import REGISTRY
from aiwf.workers import WORKERS, load


def test_every_subscription_and_event_type_is_documented() -> None:
    """One receive channel per (service, stream) with its group, one send channel per registered event type."""
    services = [load(name) for name in WORKERS]
    doc = document(services)
    assert doc["asyncapi"].startswith("3.")
    channels = doc["channels"]
    for service in services:
        for sub in service.subscriptions:
            channel = channels[f"{service.name} <- {sub.stream}"]
            assert channel["address"] == keys.stream(sub.stream)
            assert channel["bindings"]["redis"]["groupName"] == sub.group
    for type_ in REGISTRY.types():
        assert f"{type_} v{REGISTRY.latest(type_).event_version}" in channels


def test_message_schemas_are_the_event_models() -> None:
    """The documents subscriber's message schema is DocumentUploaded, with its fields."""
    doc = document([load("documents")])
    schema = doc["components"]["schemas"]["DocumentUploaded"]
    assert {"document_id", "text", "content_base64", "blob"} <= set(schema["properties"])
