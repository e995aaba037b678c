"""The release gate of one worker, and the automatic fallback its warm fallback instances run.

    gate      every POLL_S: is my release the active one? (only then do my consumers read)
              is it retired? (then I stop)
    fallback  an instance of the release the active one replaced watches the active one's
              heartbeats: no live instance for `offline_after_s`, or more than `max_error_rate`
              of its handler calls failing (or `max_dead_letter_rate` of its events
              dead-lettered) over `window_s` -> switch back (one Lua call, so two watchers
              switch once) and publish `ops.release.fell_back`.

The watcher is the fallback's own instance, not the supervisor: it exists exactly when there is
something to fall back to, under `aiwf up`, compose or Kubernetes alike.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import cast

from aiwf.bus import chaos, keys, release
from aiwf.bus.config import BusConfig, ReleaseSettings
from aiwf.bus.connection import Redis
from aiwf.bus.health import STALE_AFTER_S
from aiwf.bus.publish import Publisher
from aiwf.schemas.events.ops import ReleaseFellBack

log = logging.getLogger("aiwf.release")
POLL_S = 0.5
Counters = tuple[int, int, int]
"""(processed, failed, dead_lettered) summed over a release's instances."""
COUNTED = ("processed", "failed", "dead_lettered")


class FallbackWatch:
    """Decides from heartbeats whether the active release must be replaced by its fallback."""

    def __init__(self, settings: ReleaseSettings) -> None:
        self.settings = settings
        self._watching = ""
        self._reset()

    def _reset(self) -> None:
        self._offline_since: float | None = None
        self._last: dict[str, Counters] = {}  # consumer -> its counters at the last look
        self._totals: Counters = (0, 0, 0)
        self._samples: deque[tuple[float, Counters]] = deque()

    def verdict(self, active: str, beats: list[dict[str, str]], now: float) -> str | None:
        """Why `active` must fall back now, or None."""
        if active != self._watching:  # a new release to watch: forget the old one's history
            self._reset()
            self._watching = active
        live = [
            b
            for b in beats
            if b.get("release") == active
            and b.get("state") != "stopped"
            and now - float(b.get("beat_at") or 0) <= STALE_AFTER_S
        ]
        if not live:
            self._offline_since = self._offline_since or now
            offline = now - self._offline_since
            return f"release {active} offline for {offline:.0f}s" if offline >= self.settings.offline_after_s else None
        self._offline_since = None
        self._count(live)
        return self._rates(active, now)

    def _count(self, live: list[dict[str, str]]) -> None:
        totals = list(self._totals)
        for beat in live:
            now_counts = cast(
                "Counters", tuple(int(beat.get(k) or 0) for k in ("processed", "failed", "dead_lettered"))
            )
            before = self._last.get(beat.get("consumer", ""), (0, 0, 0))
            for i, (new, old) in enumerate(zip(now_counts, before, strict=True)):
                totals[i] += new - old if new >= old else new  # a restarted instance counts from 0 again
            self._last[beat.get("consumer", "")] = now_counts
        self._totals = cast("Counters", tuple(totals))

    def _rates(self, active: str, now: float) -> str | None:
        self._samples.append((now, self._totals))
        while len(self._samples) > 1 and self._samples[1][0] <= now - self.settings.window_s:
            self._samples.popleft()
        processed, failed, dead = (a - b for a, b in zip(self._totals, self._samples[0][1], strict=True))
        calls, settled = processed + failed, processed + dead
        if calls >= self.settings.min_events and failed / calls > self.settings.max_error_rate:
            return f"release {active}: {failed} of {calls} handler calls failed in {self.settings.window_s:.0f}s"
        if settled >= self.settings.min_events and dead / settled > self.settings.max_dead_letter_rate:
            return f"release {active}: {dead} of {settled} events dead-lettered in {self.settings.window_s:.0f}s"
        return None


class ReleaseGate:
    """Tells this worker's consumers whether to read, and runs the fallback watch when it is the fallback."""

    def __init__(self, client: Redis, config: BusConfig, service: str, on_retired: Callable[[], None]) -> None:
        self.client, self.config, self.service = client, config, service
        self.release = config.release.name
        self.watch = FallbackWatch(config.release)
        self.state = release.ReleaseState(service)
        self._on_retired = on_retired

    @property
    def reading(self) -> bool:
        """True while this worker's release is the service's active one (a shadow always reads: its own groups)."""
        return self.config.release.shadow or self.state.active == self.release

    @property
    def role(self) -> str:
        """active | fallback (of the active release) | warm | retired | shadow."""
        if self.config.release.shadow:
            return "shadow"
        if self.release in self.state.retired:
            return "retired"
        if self.reading:
            return "active"
        return "fallback" if self.state.previous == self.release else "warm"

    async def prepare(self) -> None:
        """One claim and look before the worker's first heartbeat, so an instance of the active release
        starts as running, not warm for a poll. A Redis error leaves it to run()."""
        if self.config.release.shadow:
            return
        try:
            await release.claim_first(self.client, self.service, self.release)
            await self._look()
        except Exception as exc:  # noqa: BLE001 - run() keeps trying
            log.warning("%s: reading the release state failed: %s", self.service, exc)

    async def run(self) -> None:
        """Poll until cancelled; never ends on a Redis error. The gate stays closed until the first answer."""
        claimed = False
        task = asyncio.current_task()
        while task is None or not task.cancelling():  # redis-py's wait_for may swallow a cancel (3.11)
            try:
                if self.config.release.shadow:  # outside the service's releases: only the chaos hook
                    await self._chaos()
                elif not claimed:  # the first release of a service to run becomes its active one
                    await release.claim_first(self.client, self.service, self.release)
                    claimed = True
                if not self.config.release.shadow:
                    await self._look()
            except Exception as exc:  # noqa: BLE001 - the gate keeps its last answer until Redis answers
                log.warning("%s: reading the release state failed: %s", self.service, exc)
            await asyncio.sleep(POLL_S)

    async def _chaos(self) -> None:
        if chaos.enabled():
            raw = cast("dict[bytes, bytes]", await self.client.hgetall(keys.chaos(self.service)))
            chaos.current = chaos.Fault(int(raw.get(b"slow_ms") or 0), raw.get(b"fail") == b"1")

    async def _look(self) -> None:
        await self._chaos()
        was = self.state.active
        self.state = await release.read_state(self.client, self.service)
        if was and self.state.active != was:  # a switch, not the first look at start
            log.warning("%s: active release %s -> %s (this is %s)", self.service, was, self.state.active, self.release)
        if self.release in self.state.retired:
            log.warning("%s release %s is retired: stopping", self.service, self.release)
            self._on_retired()
            return
        if self.role == "fallback":
            beats = await _beats(self.client, self.service)
            why = self.watch.verdict(self.state.active, beats, time.time())
            if why:
                await self._fall_back(why)

    async def _fall_back(self, why: str) -> None:
        failing = self.state.active
        if not await release.fall_back(self.client, self.service, failing, why):
            return
        log.error("%s: fell back from %s to %s: %s", self.service, failing, self.release, why)
        event = ReleaseFellBack(service=self.service, from_release=failing, to_release=self.release, reason=why)
        await Publisher(self.client, self.config).publish(event)
        self.state = await release.read_state(self.client, self.service)


async def _beats(client: Redis, service: str) -> list[dict[str, str]]:
    rows = []
    async for key in client.scan_iter(match=keys.heartbeat(service, "*"), count=200):
        beat = cast("dict[bytes, bytes]", await client.hgetall(key))
        rows.append({k.decode(): v.decode() for k, v in beat.items()})
    return rows
