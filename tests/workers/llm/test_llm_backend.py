"""OpenAIChatBackend against a real chat-completions server: success, retries, typed failures."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import pytest

from aiwf.workers.llm import (
    BackendUnavailable,
    ChatRequest,
    InvalidResponse,
    LLMConfigError,
    OpenAIChatBackend,
    PermanentLLMError,
)
from aiwf.workers.llm.testing_server import ChatServer, serve_chat

Factory = Callable[..., OpenAIChatBackend]
HELLO = ChatRequest.of([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello big world"}])


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.asyncio
async def test_plain_completion(server: ChatServer, make_backend: Factory) -> None:
    """A non-streamed request returns the server's text, usage, model and the backend's name."""
    async with make_backend(server.base_url) as backend:
        result = await backend.complete(ChatRequest.of(HELLO.messages, temperature=0.7, max_tokens=50))
    assert result.text == "echo: hello big world"
    assert result.backend == "primary"
    assert result.model == "test-model"
    assert result.finish_reason == "stop"
    assert result.usage.as_dict() == {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}
    assert not result.usage.estimated
    sent = server.requests[-1]
    assert sent["messages"][1] == {"role": "user", "content": "hello big world"}
    assert (sent["temperature"], sent["max_tokens"], sent["stream"]) == (0.7, 50, False)


@pytest.mark.asyncio
async def test_streaming_completion_delivers_fragments_in_order(server: ChatServer, make_backend: Factory) -> None:
    """A streamed request passes each SSE fragment to on_delta and returns the joined text with usage."""
    fragments: list[str] = []

    async def on_delta(fragment: str) -> None:
        fragments.append(fragment)

    async with make_backend(server.base_url) as backend:
        result = await backend.complete(ChatRequest.of(HELLO.messages, stream=True), on_delta=on_delta)
    assert fragments == ["echo: ", "hello ", "big ", "world"]
    assert result.text == "".join(fragments)
    assert result.usage.total_tokens == 9
    assert not result.usage.estimated
    assert server.requests[-1]["stream_options"] == {"include_usage": True}


@pytest.mark.asyncio
async def test_max_tokens_reports_length_finish(server: ChatServer, make_backend: Factory) -> None:
    """A completion cut by max_tokens reports finish_reason 'length'."""
    async with make_backend(server.base_url) as backend:
        result = await backend.complete(ChatRequest.of(HELLO.messages, max_tokens=2))
    assert result.text == "echo: hello"
    assert result.finish_reason == "length"


@pytest.mark.asyncio
async def test_api_key_is_sent_and_wrong_key_is_permanent(make_backend: Factory) -> None:
    """The key goes out as a Bearer token; a refused key is a PermanentLLMError (401), not retried."""
    with serve_chat(api_key="right") as keyed:
        async with make_backend(keyed.base_url, api_key="right") as good:
            assert (await good.complete(HELLO)).text.startswith("echo:")
        async with make_backend(keyed.base_url, api_key="wrong") as bad:
            with pytest.raises(PermanentLLMError, match="invalid api key") as info:
                await bad.complete(HELLO)
        assert info.value.status == 401
        assert len(keyed.requests) == 2
        assert "wrong" not in repr(bad)


@pytest.mark.asyncio
async def test_transient_errors_are_retried_until_success(server: ChatServer, make_backend: Factory) -> None:
    """Two 503s followed by success cost three requests and return the answer."""
    server.fail(503, times=2)
    async with make_backend(server.base_url, max_retries=2) as backend:
        result = await backend.complete(HELLO)
    assert result.text == "echo: hello big world"
    assert len(server.requests) == 3


@pytest.mark.asyncio
async def test_5xx_after_retries_is_backend_unavailable(server: ChatServer, make_backend: Factory) -> None:
    """A backend that keeps answering 500 raises BackendUnavailable after max_retries + 1 attempts."""
    server.fail(500)
    async with make_backend(server.base_url, max_retries=3) as backend:
        with pytest.raises(BackendUnavailable, match=r"HTTP 500.*after 4 attempts"):
            await backend.complete(HELLO)
    assert len(server.requests) == 4


@pytest.mark.asyncio
async def test_429_retry_after_is_honoured(server: ChatServer, make_backend: Factory) -> None:
    """A 429 with Retry-After is retried no sooner than the server asked."""
    server.fail(429, times=1, retry_after=0.3)
    async with make_backend(server.base_url, retry_max_wait_s=1.0) as backend:
        started = time.monotonic()
        result = await backend.complete(HELLO)
    assert time.monotonic() - started >= 0.3
    assert result.text.startswith("echo:")
    assert len(server.requests) == 2


@pytest.mark.asyncio
@pytest.mark.parametrize("status", [400, 404, 422])
async def test_4xx_is_permanent_and_not_retried(server: ChatServer, status: int, make_backend: Factory) -> None:
    """Any 4xx other than 429 raises PermanentLLMError with the status after a single request."""
    server.fail(status)
    async with make_backend(server.base_url) as backend:
        with pytest.raises(PermanentLLMError, match=f"HTTP {status}") as info:
            await backend.complete(HELLO)
    assert info.value.status == status
    assert len(server.requests) == 1


@pytest.mark.asyncio
async def test_connection_refused_is_backend_unavailable(make_backend: Factory) -> None:
    """A backend nobody listens for raises BackendUnavailable naming the connect error."""
    async with make_backend(f"http://127.0.0.1:{_dead_port()}/v1", max_retries=1) as backend:
        with pytest.raises(BackendUnavailable, match=r"ConnectError.*after 2 attempts"):
            await backend.complete(HELLO)


@pytest.mark.asyncio
async def test_dropped_connections_are_backend_unavailable(server: ChatServer, make_backend: Factory) -> None:
    """A server that closes connections without answering raises BackendUnavailable after retries."""
    server.drop_connections()
    async with make_backend(server.base_url, max_retries=1) as backend:
        with pytest.raises(BackendUnavailable, match="RemoteProtocolError"):
            await backend.complete(HELLO)
    assert len(server.requests) == 2


@pytest.mark.asyncio
async def test_slow_backend_times_out(server: ChatServer, make_backend: Factory) -> None:
    """A backend slower than timeout_s raises BackendUnavailable saying it timed out."""
    server.slow(1.0)
    async with make_backend(server.base_url, timeout_s=0.2, max_retries=0) as backend:
        with pytest.raises(BackendUnavailable, match=r"timed out after 0\.2s"):
            await backend.complete(HELLO)


@pytest.mark.asyncio
async def test_stream_cut_after_fragments_is_not_retried(server: ChatServer, make_backend: Factory) -> None:
    """A stream that breaks after fragments reached the caller fails at once, without a replay."""
    server.cut_streams(after_chunks=2)
    fragments: list[str] = []

    async def on_delta(fragment: str) -> None:
        fragments.append(fragment)

    async with make_backend(server.base_url) as backend:
        with pytest.raises(BackendUnavailable, match=r"before \[DONE\]"):
            await backend.complete(ChatRequest.of(HELLO.messages, stream=True), on_delta=on_delta)
    assert fragments == ["echo: ", "hello "]
    assert len(server.requests) == 1


@pytest.mark.asyncio
async def test_stream_cut_without_listener_is_retried(server: ChatServer, make_backend: Factory) -> None:
    """A broken stream nobody has seen yet is retried, then reported as unavailable."""
    server.cut_streams(after_chunks=1)
    async with make_backend(server.base_url, max_retries=2) as backend:
        with pytest.raises(BackendUnavailable):
            await backend.complete(ChatRequest.of(HELLO.messages, stream=True))
    assert len(server.requests) == 3


@pytest.mark.asyncio
async def test_oversized_response_is_invalid(server: ChatServer, make_backend: Factory) -> None:
    """A response body past max_response_bytes is refused as InvalidResponse."""
    async with make_backend(server.base_url, max_response_bytes=64, max_retries=0) as backend:
        with pytest.raises(InvalidResponse, match="passed 64 bytes"):
            await backend.complete(ChatRequest.of([{"role": "user", "content": "word " * 100}]))


@pytest.mark.parametrize(
    "options",
    [{"base_url": "ftp://x"}, {"max_retries": 11}, {"timeout_s": 0}, {"retry_wait_s": 2, "retry_max_wait_s": 1}],
)
def test_invalid_settings_are_refused(options: dict[str, object]) -> None:
    """Out-of-range backend settings raise LLMConfigError."""
    settings: dict[str, object] = {"base_url": "http://127.0.0.1:1/v1"} | options
    with pytest.raises(LLMConfigError):
        OpenAIChatBackend("b", str(settings.pop("base_url")), None, "m", **settings)  # type: ignore[arg-type]
