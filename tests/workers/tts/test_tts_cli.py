"""`aiwf tts voices` lists the installed espeak-ng voices."""

from __future__ import annotations

import orjson
import typer
from typer.testing import CliRunner

from aiwf.cli.tts import register


def app() -> typer.Typer:
    main = typer.Typer()
    register(main)
    return main


def test_voices_json_lists_english() -> None:
    """--json prints every voice with its identifier; an English voice is among them."""
    result = CliRunner().invoke(app(), ["tts", "voices", "--json"])
    assert result.exit_code == 0
    voices = orjson.loads(result.stdout)
    assert len(voices) > 50
    assert any("en" in v["languages"] for v in voices)
    assert all(v["identifier"] for v in voices)


def test_language_filter_keeps_only_that_language() -> None:
    """--language de keeps German voices only."""
    result = CliRunner().invoke(app(), ["tts", "voices", "--json", "--language", "de"])
    assert result.exit_code == 0
    voices = orjson.loads(result.stdout)
    assert voices
    assert all("de" in [lang.lower() for lang in v["languages"]] for v in voices)
