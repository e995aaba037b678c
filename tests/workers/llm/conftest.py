"""Fixtures for the llm engine tests: a real chat-completions server and a hand-driven clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from aiwf.workers.llm import OpenAIChatBackend
from aiwf.workers.llm.testing_server import ChatServer, serve_chat
from tests.clock import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def server() -> Iterator[ChatServer]:
    with serve_chat() as server:
        yield server


BackendFactory = Callable[..., OpenAIChatBackend]


@pytest.fixture
def make_backend() -> BackendFactory:
    """Build backends with fast retries (so failure tests stay quick): make_backend(url, **options)."""

    def build(base_url: str, **options: object) -> OpenAIChatBackend:
        settings: dict[str, object] = {
            "timeout_s": 2.0,
            "max_retries": 2,
            "retry_wait_s": 0.01,
            "retry_max_wait_s": 0.05,
        }
        settings.update(options)
        name = str(settings.pop("name", "primary"))
        api_key = settings.pop("api_key", None)
        assert api_key is None or isinstance(api_key, str)
        return OpenAIChatBackend(name, base_url, api_key, "test-model", **settings)  # type: ignore[arg-type]

    return build
