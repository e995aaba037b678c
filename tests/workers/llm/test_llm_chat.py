"""ChatRequest validation: bad requests are refused at construction with InvalidChatRequest."""

from __future__ import annotations

from typing import Any

import pytest

from aiwf.workers.llm import ChatMessage, ChatRequest, InvalidChatRequest, PermanentLLMError, Usage


def test_request_from_dicts() -> None:
    """Mappings become ChatMessages and options are kept."""
    request = ChatRequest.of([{"role": "user", "content": "hi there"}], temperature=0.0, max_tokens=5)
    assert request.messages == (ChatMessage("user", "hi there"),)
    assert request.prompt_tokens() == 2


@pytest.mark.parametrize(
    ("messages", "options", "match"),
    [
        ([], {}, "at least one message"),
        ([{"role": "robot", "content": "x"}], {}, "role"),
        ([{"content": "x"}], {}, "'role' and 'content'"),
        ([{"role": "user", "content": 3}], {}, "content must be a string"),
        ([{"role": "user", "content": "x"}], {"temperature": 2.5}, "temperature"),
        ([{"role": "user", "content": "x"}], {"temperature": "hot"}, "temperature"),
        ([{"role": "user", "content": "x"}], {"max_tokens": 0}, "max_tokens"),
        ([{"role": "user", "content": "x" * 2_000_001}], {}, "characters"),
    ],
)
def test_invalid_requests_are_refused(messages: list[dict[str, Any]], options: dict[str, Any], match: str) -> None:
    """Each malformed request raises InvalidChatRequest, a permanent error, naming the problem."""
    with pytest.raises(InvalidChatRequest, match=match) as info:
        ChatRequest.of(messages, **options)
    assert isinstance(info.value, PermanentLLMError)


def test_usage_totals() -> None:
    """Usage computes its total and renders the OpenAI mapping."""
    assert Usage(3, 4).as_dict() == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
