"""Every domain's event models; importing this package registers them all."""

from aiwf.schemas.events import auth, calendar, documents, llm, ops, pipeline, tts

__all__ = ["auth", "calendar", "documents", "llm", "ops", "pipeline", "tts"]
