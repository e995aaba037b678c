"""What a completion says about how it ended (llm.chat.completed v2), and streamed deltas."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
import redis.asyncio as aioredis
from llm_support import Serve, ask_existing, llm_service, request
from service_support import envelopes

from aiwf.bus import Publisher, keys
from aiwf.bus.config import BusConfig
from aiwf.bus.testing import wait_until
from aiwf.schemas import REGISTRY
from aiwf.workers.llm.testing_server import Answer, serve_chat

__all__ = ["llm_service"]  # the fixture, imported


def answering(answer: Answer) -> Any:
    """A reply function that always gives `answer`."""

    def reply(_messages: Sequence[dict[str, Any]]) -> Answer:
        return answer

    return reply


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (Answer(text=""), {"text": "", "finish_reason": "stop", "refusal": None, "tool_calls": []}),
        (
            Answer(refusal="I can't help with that."),
            {"text": "", "finish_reason": "stop", "refusal": "I can't help with that.", "tool_calls": []},
        ),
        (
            Answer(tool_calls=[("lookup", '{"q": "redis"}')]),
            {
                "text": "",
                "finish_reason": "tool_calls",
                "refusal": None,
                "tool_calls": [{"id": "call_0", "name": "lookup", "arguments": '{"q": "redis"}'}],
            },
        ),
    ],
)
async def test_empty_refused_and_tool_call_answers_say_so(
    client: aioredis.Redis,
    config: BusConfig,
    llm_service: Serve,
    answer: Answer,
    expected: dict[str, object],
    stream: bool,
) -> None:
    """An empty, a refused and a tool-call completion each arrive with their finish reason, refusal and calls."""
    with serve_chat(reply=answering(answer)) as server:
        async with llm_service({"AIWF_LLM_URL": server.base_url}):
            await Publisher(client, config).publish(request("r", stream=stream))
            done = await ask_existing(client, "r")
    assert done.version == 2
    assert {k: done.payload[k] for k in expected} == expected
    assert done.payload["backend"] == "primary"


async def test_a_truncated_answer_says_length(client: aioredis.Redis, config: BusConfig, llm_service: Serve) -> None:
    """An answer cut at max_tokens carries finish_reason=length."""
    with serve_chat(reply=lambda _m: "one two three four five six") as server:
        async with llm_service({"AIWF_LLM_URL": server.base_url}):
            await Publisher(client, config).publish(request("cut", max_tokens=3))
            done = await ask_existing(client, "cut")
    assert (done.payload["text"], done.payload["finish_reason"]) == ("one two three", "length")


def test_a_v1_completion_is_upcast_with_nothing_said_about_its_end() -> None:
    """A stored v1 llm.chat.completed reads as v2 with finish_reason and refusal None and no tool calls."""
    v1 = {
        "request_id": "old",
        "text": "hi",
        "backend": "b",
        "model": "m",
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
    version, payload = REGISTRY.upcast("llm.chat.completed", 1, v1)
    assert version == 2
    assert payload == v1 | {"finish_reason": None, "refusal": None, "tool_calls": []}


@pytest.mark.parametrize("done", [True, False])
async def test_a_streamed_request_publishes_its_text_in_deltas(
    client: aioredis.Redis, config: BusConfig, llm_service: Serve, done: bool
) -> None:
    """stream=true streams from the backend (with or without [DONE]) and publishes llm.chat.streamed
    deltas on the llm_deltas stream, in seq order, adding up to the completed text."""
    words = " ".join(f"w{n}" for n in range(40))
    with serve_chat(reply=lambda _m: words) as server:
        server.streams(done=done, chunk_delay_s=0.01)
        async with llm_service({"AIWF_LLM_URL": server.base_url}):
            await Publisher(client, config).publish(request("s", stream=True))
            completed = await ask_existing(client, "s")
    assert server.requests[0]["stream"] is True
    assert completed.payload["text"] == words
    deltas = [e for e in await envelopes(client, "llm_deltas") if e.type == "llm.chat.streamed"]
    assert len(deltas) > 1  # published progressively, not once at the end
    assert len(deltas) < 40  # coalesced, not one per fragment
    assert [d.payload["seq"] for d in deltas] == list(range(len(deltas)))
    assert {d.payload["attempt"] for d in deltas} == {1}
    assert "".join(str(d.payload["text"]) for d in deltas) == words
    assert all(d.correlation_id == completed.correlation_id for d in deltas)


async def test_an_unstreamed_request_publishes_no_deltas(
    client: aioredis.Redis, config: BusConfig, llm_service: Serve
) -> None:
    """Without stream=true the backend is asked for one JSON answer and nothing goes to llm_deltas."""
    with serve_chat() as server:
        async with llm_service({"AIWF_LLM_URL": server.base_url}):
            await Publisher(client, config).publish(request("plain"))
            await ask_existing(client, "plain")
    assert server.requests[0]["stream"] is False
    assert not await client.exists(keys.stream("llm_deltas"))


async def test_a_cut_stream_is_not_taken_for_a_finished_one(
    client: aioredis.Redis, config: BusConfig, llm_service: Serve
) -> None:
    """A stream cut before any finish_reason is a failed attempt (retried), never a short completion."""
    with serve_chat(reply=lambda _m: "a b c d e f") as server:
        server.cut_streams(after_chunks=2)
        async with llm_service({"AIWF_LLM_URL": server.base_url, "AIWF_LLM_FALLBACK_URL": server.base_url}) as w:
            await Publisher(client, config).publish(request("cut", stream=True))
            (consumer,) = w.consumers

            async def failed() -> bool:
                return consumer.stats.failed > 0

            await wait_until(failed, 20, "the cut stream to fail")
            server.recover()
            done = await ask_existing(client, "cut")
    assert done.payload["text"] == "a b c d e f"
