"""The LLM API keys can come from mounted secret files (AIWF_LLM_API_KEY_FILE), as compose and Kubernetes give them."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiwf.bus.errors import ConfigError
from aiwf.workers.llm.settings import LLMSettings


def test_the_key_is_read_from_its_file_when_the_variable_is_unset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AIWF_LLM_API_KEY_FILE and AIWF_LLM_FALLBACK_API_KEY_FILE give the tokens, stripped of the trailing newline."""
    (tmp_path / "primary").write_text("sk-primary\n")
    (tmp_path / "fallback").write_text("sk-fallback")
    monkeypatch.setenv("AIWF_LLM_API_KEY_FILE", str(tmp_path / "primary"))
    monkeypatch.setenv("AIWF_LLM_FALLBACK_API_KEY_FILE", str(tmp_path / "fallback"))
    monkeypatch.delenv("AIWF_LLM_API_KEY", raising=False)
    monkeypatch.delenv("AIWF_LLM_FALLBACK_API_KEY", raising=False)
    settings = LLMSettings.from_env()
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == "sk-primary"
    assert settings.fallback_api_key is not None
    assert settings.fallback_api_key.get_secret_value() == "sk-fallback"
    assert "sk-primary" not in repr(settings)


def test_the_variable_wins_over_the_file(tmp_path: Path) -> None:
    """A key set directly is kept; the file is not read (it may not even exist)."""
    settings = LLMSettings(api_key="sk-direct", api_key_file=tmp_path / "missing")
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == "sk-direct"


def test_an_unreadable_key_file_is_one_clear_config_error(tmp_path: Path) -> None:
    """A missing file names the variable and the path, never a traceback of pydantic internals."""
    with pytest.raises(ConfigError, match=r"AIWF_LLM_API_KEY_FILE .*missing cannot be read"):
        LLMSettings(api_key_file=tmp_path / "missing")
