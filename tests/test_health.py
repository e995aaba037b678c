"""Service health is summarized from heartbeats: best instance wins, stale ones do not count."""

from __future__ import annotations

from aiwf.bus.health import STALE_AFTER_S, summarize

NOW = 1_000_000.0


def beat(service: str, state: str = "running", age: float = 0.0, **counters: int) -> dict[str, str]:
    fields = {"service": service, "state": state, "beat_at": str(int(NOW - age))}
    return fields | {k: str(v) for k, v in counters.items()}


def test_missing_service_is_offline_and_present_one_running() -> None:
    """A service without a heartbeat is offline; one with a fresh heartbeat is running."""
    rows = summarize([beat("llm", processed=3)], ["llm", "tts"], NOW)
    assert [(r["service"], r["state"], r["instances"], r["processed"]) for r in rows] == [
        ("llm", "running", 1, 3),
        ("tts", "offline", 0, 0),
    ]


def test_a_stale_heartbeat_is_unresponsive_not_running() -> None:
    """A worker killed before its heartbeat expired shows as unresponsive."""
    (row,) = summarize([beat("llm", age=STALE_AFTER_S + 1)], ["llm"], NOW)
    assert row["state"] == "unresponsive"
    assert row["instances"] == 0


def test_replicas_sum_counters_and_best_state_wins() -> None:
    """Two replicas: counters add up; one running beats one paused; a stopped one is ignored."""
    beats = [
        beat("documents", "paused", processed=1, pending=2),
        beat("documents", processed=5, pending=1),
        beat("documents", "stopped", processed=100),
    ]
    (row,) = summarize(beats, ["documents"], NOW)
    assert row["state"] == "running"
    assert row["instances"] == 2
    assert (row["processed"], row["pending"]) == (6, 3)
