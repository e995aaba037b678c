"""The LLM API key from a mounted secret file (AIWF_LLM_API_KEY_FILE), as compose passes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiwf.schemas.secretfile import SecretFileError
from aiwf.workers.llm.chat import ChatMessage, ChatRequest
from aiwf.workers.llm.service import backend_from
from aiwf.workers.llm.settings import LLMSettings
from aiwf.workers.llm.testing_server import serve_chat


async def test_the_api_key_file_is_the_bearer_token(tmp_path: Path) -> None:
    """A server that wants `Bearer s3cret` answers a backend whose key came from a 0400 file."""
    key = tmp_path / "llm_api_key"
    key.write_text("s3cret\n")
    key.chmod(0o400)
    with serve_chat(api_key="s3cret") as server:
        backend = backend_from(LLMSettings(url=server.base_url, api_key_file=key))
        result = await backend.complete(ChatRequest(messages=(ChatMessage(role="user", content="hi"),)))
    assert result.backend == "primary"
    assert result.text


def test_an_api_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    """A key file with mode 0644 stops the service at start with one line naming the variable."""
    key = tmp_path / "llm_api_key"
    key.write_text("s3cret")
    key.chmod(0o644)
    with pytest.raises(SecretFileError, match=r"^AIWF_LLM_API_KEY_FILE .* has mode 0644"):
        backend_from(LLMSettings(url="http://127.0.0.1:9", api_key_file=key))
