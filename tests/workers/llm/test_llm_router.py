"""FallbackRouter with a real remote primary (the testing server) and the extractive fallback."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from aiwf.bus.backoff import Backoff
from aiwf.workers.llm import (
    BackendUnavailable,
    ChatRequest,
    CircuitBreaker,
    ExtractiveSummarizer,
    FallbackRouter,
    OpenAIChatBackend,
    PermanentLLMError,
)
from aiwf.workers.llm.testing_server import ChatServer
from tests.clock import Clock

Factory = Callable[..., OpenAIChatBackend]
ARTICLE = (
    "Redis streams keep events in order. Consumer groups share the events of a stream between workers. "
    "Each worker acknowledges the events it has finished. Unacknowledged events stay pending until claimed."
)
REQUEST = ChatRequest.of([{"role": "system", "content": "Summarize."}, {"role": "user", "content": ARTICLE}])


def _router(server: ChatServer, make_backend: Factory, clock: Clock, **options: object) -> FallbackRouter:
    primary = make_backend(server.base_url, max_retries=0, **options)
    breaker = CircuitBreaker(failure_threshold=2, cool_down=Backoff(30.0, 60.0, jitter="none"), clock=clock)
    return FallbackRouter(primary, ExtractiveSummarizer(max_sentences=2), breaker=breaker)


@pytest.mark.asyncio
async def test_primary_answers_while_healthy(server: ChatServer, make_backend: Factory, clock: Clock) -> None:
    """With a healthy primary every answer comes from it."""
    router = _router(server, make_backend, clock)
    try:
        result = await router.complete(REQUEST)
    finally:
        await router.aclose()
    assert result.backend == "primary"
    assert result.text == f"echo: {ARTICLE}"


@pytest.mark.asyncio
async def test_outage_falls_back_then_returns_to_primary(
    server: ChatServer,
    make_backend: Factory,
    clock: Clock,
) -> None:
    """Primary down -> extractive answers; breaker opens and spares the primary; a probe brings it back."""
    router = _router(server, make_backend, clock)
    try:
        server.fail(503)
        for _ in range(2):  # each failure is tried on the primary, then answered by the fallback
            result = await router.complete(REQUEST)
            assert result.backend == "extractive"
        assert len(server.requests) == 2
        assert router.breaker.state.value == "open"

        result = await router.complete(REQUEST)  # breaker open: the primary is not even called
        assert result.backend == "extractive"
        assert len(server.requests) == 2

        server.recover()
        clock.advance(30)
        result = await router.complete(REQUEST)  # half-open probe succeeds
        assert result.backend == "primary"
        assert router.breaker.state.value == "closed"
        assert len(server.requests) == 3
    finally:
        await router.aclose()


@pytest.mark.asyncio
async def test_failed_probe_keeps_the_fallback(server: ChatServer, make_backend: Factory, clock: Clock) -> None:
    """A half-open probe that fails reopens the breaker and the fallback still answers."""
    router = _router(server, make_backend, clock)
    try:
        server.drop_connections()
        for _ in range(2):
            await router.complete(REQUEST)
        clock.advance(30)
        result = await router.complete(REQUEST)
        assert result.backend == "extractive"
        assert len(server.requests) == 3
        assert router.breaker.state.value == "open"
    finally:
        await router.aclose()


@pytest.mark.asyncio
async def test_failed_probes_space_out(server: ChatServer, make_backend: Factory, clock: Clock) -> None:
    """After a failed probe the primary is spared for a longer cool-down (30 s, then 60 s) before the next one."""
    router = _router(server, make_backend, clock)
    try:
        server.fail(503)
        for _ in range(2):
            await router.complete(REQUEST)
        clock.advance(30)
        await router.complete(REQUEST)  # the first probe fails
        assert len(server.requests) == 3
        clock.advance(30)
        result = await router.complete(REQUEST)  # 30 s is no longer enough: the primary is not called
        assert result.backend == "extractive"
        assert len(server.requests) == 3
        server.recover()
        clock.advance(30)
        result = await router.complete(REQUEST)  # 60 s after the failed probe: the next probe succeeds
        assert result.backend == "primary"
        assert len(server.requests) == 4
        assert router.breaker.status()["openings"] == 0
    finally:
        await router.aclose()


@pytest.mark.asyncio
async def test_permanent_error_is_not_hidden_by_fallback(
    server: ChatServer,
    make_backend: Factory,
    clock: Clock,
) -> None:
    """A 4xx from the primary propagates as PermanentLLMError; the fallback does not mask it."""
    router = _router(server, make_backend, clock)
    server.fail(400)
    try:
        with pytest.raises(PermanentLLMError, match="HTTP 400"):
            await router.complete(REQUEST)
    finally:
        await router.aclose()
    assert router.breaker.failures == 0  # it answered: a wrong request says nothing about its health


@pytest.mark.asyncio
async def test_all_backends_down_is_backend_unavailable(
    server: ChatServer,
    make_backend: Factory,
    clock: Clock,
) -> None:
    """When primary and fallback both fail, BackendUnavailable names both."""
    server.fail(502)
    primary = make_backend(server.base_url, max_retries=0)
    fallback = make_backend(server.base_url, name="secondary", max_retries=0)
    router = FallbackRouter(primary, fallback, breaker=CircuitBreaker(clock=clock))
    try:
        with pytest.raises(BackendUnavailable, match=r"all backends failed: primary: .*502.*; secondary: .*502"):
            await router.complete(REQUEST)
    finally:
        await router.aclose()


@pytest.mark.asyncio
async def test_stream_falls_back_before_any_fragment(
    server: ChatServer,
    make_backend: Factory,
    clock: Clock,
) -> None:
    """A streamed request whose primary fails before sending anything is streamed by the fallback."""
    router = _router(server, make_backend, clock)
    server.fail(503)
    fragments: list[str] = []

    async def on_delta(fragment: str) -> None:
        fragments.append(fragment)

    try:
        result = await router.complete(ChatRequest.of(REQUEST.messages, stream=True), on_delta=on_delta)
    finally:
        await router.aclose()
    assert result.backend == "extractive"
    assert "".join(fragments) == result.text


@pytest.mark.asyncio
async def test_stream_broken_midway_is_not_spliced(server: ChatServer, make_backend: Factory, clock: Clock) -> None:
    """Once the primary has streamed fragments, its failure is raised instead of splicing in the fallback."""
    router = _router(server, make_backend, clock)
    server.cut_streams(after_chunks=3)
    fragments: list[str] = []

    async def on_delta(fragment: str) -> None:
        fragments.append(fragment)

    try:
        with pytest.raises(BackendUnavailable, match=r"before \[DONE\]"):
            await router.complete(ChatRequest.of(REQUEST.messages, stream=True), on_delta=on_delta)
    finally:
        await router.aclose()
    assert fragments == ["echo: ", "Redis ", "streams "]
    assert router.breaker.failures == 1
