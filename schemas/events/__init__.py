"""Every domain's event models; importing this package registers them all."""

from schemas.events import documents, llm, pipeline, tts

__all__ = ["documents", "llm", "pipeline", "tts"]
