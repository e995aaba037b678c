"""Every domain's event models; importing this package registers them all."""

from schemas.events import auth, documents, llm, pipeline, tts

__all__ = ["auth", "documents", "llm", "pipeline", "tts"]
