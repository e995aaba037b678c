"""`aiwf tts voices`: the espeak-ng voices this machine can speak with."""

from __future__ import annotations

from typing import Annotated

import typer

from aiwf.cli.support import emit_json, emit_table, fail, plural


def register(app: typer.Typer) -> None:
    """Add `aiwf tts voices` to the main app."""
    tts_app = typer.Typer(no_args_is_help=True, help="Speech synthesis (espeak-ng).")
    app.add_typer(tts_app, name="tts")

    @tts_app.command("voices")
    def voices(
        as_json: Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")] = False,
        language: Annotated[str | None, typer.Option("--language", help="Only voices for this language.")] = None,
    ) -> None:
        """List installed voices (name, identifier, language, gender); exit 1 if espeak-ng cannot load."""
        from aiwf.workers.tts import EngineUnavailable, SpeechEngine  # noqa: PLC0415 - loads a C library

        try:
            found = SpeechEngine().voices()
        except EngineUnavailable as exc:
            fail(str(exc))
        rows = [v for v in found if language is None or language.lower() in (lang.lower() for lang in v.languages)]
        if as_json:
            emit_json(
                [
                    {
                        "name": v.name,
                        "identifier": v.identifier,
                        "language": v.language,
                        "languages": list(v.languages),
                        "gender": v.gender,
                    }
                    for v in rows
                ]
            )
        else:
            emit_table(
                plural(len(rows), "voice"),
                ["name", "identifier", "language", "gender"],
                [[v.name, v.identifier, v.language, v.gender or ""] for v in rows],
            )
