"""What the demo says while it waits: which step it waits on, for how long, and which service is not up and why.

Read from the heartbeats while the system still runs (bus/health.py), so a degraded or offline
service is named with its reason at once, not after Redis has been stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from aiwf.bus.connection import Redis
from aiwf.bus.health import heartbeats, summarize

#: Each event of the pipeline, the service that produces it and the event that comes next.
NEXT_STEP = {
    "documents.document.uploaded": ("documents", "documents.document.processed"),
    "documents.document.processed": ("pipeline", "llm.chat.requested"),
    "llm.chat.requested": ("llm", "llm.chat.completed"),
    "llm.chat.completed": ("pipeline", "tts.speech.requested"),
    "tts.speech.requested": ("tts", "tts.speech.synthesized"),
    "tts.speech.synthesized": ("pipeline", "pipeline.summary.completed"),
}
SERVICES = ("documents", "llm", "tts", "pipeline")
#: Say where the demo stands after this long without an event, and again as often.
PROGRESS_EVERY_S = 5.0
#: A service without a heartbeat this early is starting, not offline.
STARTING_FOR_S = 15.0


class Watch:
    """Tracks the last event and the services' states; `tick()` says what changed or how long it waits."""

    def __init__(self, client: Redis, say: Callable[[str], None]) -> None:
        self.client, self.say = client, say
        self.started = self.last_event_at = self._said_at = time.monotonic()
        self.last_type = "documents.document.uploaded"
        self._told: dict[str, str] = {}  # service -> the state line already said

    def saw(self, event_type: str) -> None:
        """An event of this run arrived."""
        self.last_type, self.last_event_at = event_type, time.monotonic()

    def waiting_for(self) -> tuple[str, str]:
        """(service, event type) the demo waits on now."""
        return NEXT_STEP.get(self.last_type, ("pipeline", "pipeline.summary.completed"))

    async def problems(self) -> dict[str, str]:
        """Each of the demo's services that is not running, with why (an empty dict when all run)."""
        try:
            rows = summarize(await heartbeats(self.client), list(SERVICES))
        except Exception as exc:  # noqa: BLE001 - the demo goes on; the reader learns Redis is the problem
            return {"redis": f"unreachable ({exc})"}
        young = time.monotonic() - self.started < STARTING_FOR_S
        out = {}
        for row in rows:
            if row["state"] == "running" or (young and row["state"] == "offline"):
                continue
            why = row["reason"] or row["last_error"] or {"offline": "no live worker"}.get(row["state"], "")
            out[row["service"]] = f"{row['state']}" + (f": {why}" if why else "")
        return out

    async def tick(self) -> None:
        """Name services whose state changed; every PROGRESS_EVERY_S without an event, say what it waits for."""
        problems = await self.problems()
        for service, line in problems.items():
            if self._told.get(service) != line:
                self.say(f"  ! {service} is {line}")
        for service in set(self._told) - set(problems):
            self.say(f"  ✓ {service} is running again")
        self._told = problems
        now = time.monotonic()
        if now - self.last_event_at >= PROGRESS_EVERY_S and now - self._said_at >= PROGRESS_EVERY_S:
            service, event_type = self.waiting_for()
            self.say(f"  … {now - self.started:.0f}s: waiting for {service} ({event_type})")
            self._said_at = now

    async def diagnosis(self, timeout_s: float) -> str:
        """The error line for a demo that timed out: which step, and which services are not up and why."""
        service, event_type = self.waiting_for()
        problems = await self.problems()
        status = "; ".join(f"{s} is {line}" for s, line in problems.items()) or f"{service} is running but silent"
        return f"no {event_type} from {service} within {timeout_s:.0f}s: {status} (see `aiwf health`)"
