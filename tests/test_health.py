"""Service health is summarized from heartbeats: best instance wins, stale ones do not count."""

from __future__ import annotations

from aiwf.bus.health import STALE_AFTER_S, describe, summarize

NOW = 1_000_000.0


def beat(
    service: str, state: str = "running", age: float = 0.0, connected: str = "", **counters: int
) -> dict[str, str]:
    fields = {"service": service, "state": state, "beat_at": str(int(NOW - age)), "connected": connected}
    return fields | {k: str(v) for k, v in counters.items()}


def test_missing_service_is_offline_and_present_one_running() -> None:
    """A service without a heartbeat is offline; one with a fresh heartbeat is running."""
    rows = summarize([beat("llm", processed=3)], ["llm", "tts"], NOW)
    assert [(r["service"], r["state"], r["instances"], r["processed"]) for r in rows] == [
        ("llm", "running", 1, 3),
        ("tts", "offline", 0, 0),
    ]


def test_a_stale_heartbeat_is_unresponsive_not_running() -> None:
    """A worker still connected (or not known to be gone) that stopped beating shows as unresponsive."""
    for connected in ("1", ""):
        (row,) = summarize([beat("llm", age=STALE_AFTER_S + 2, connected=connected)], ["llm"], NOW)
        assert row["state"] == "unresponsive"
        assert row["instances"] == 0


def test_a_worker_whose_connection_is_gone_is_offline_after_one_and_a_half_beats() -> None:
    """No heartbeat connection in CLIENT LIST: offline once the beat is 1.5 intervals old (a fresh one still counts)."""
    every = 0.5
    gone = {"service": "tts", "state": "running", "connected": "0", "every_s": str(every)}
    (row,) = summarize([gone | {"beat_ms": str(int((NOW - 0.8) * 1000))}], ["tts"], NOW)
    assert (row["state"], row["instances"]) == ("offline", 0)
    (row,) = summarize([gone | {"beat_ms": str(int((NOW - 0.5) * 1000))}], ["tts"], NOW)
    assert row["state"] == "running"


def test_service_totals_replace_the_live_sums_and_instance_states_are_counted() -> None:
    """Given service totals, processed/failed/dead_lettered are those; pending stays live; each state is counted."""
    beats = [beat("tts", processed=1, pending=2), beat("tts", "degraded")]
    (row,) = summarize(beats, ["tts"], NOW, {"tts": {"processed": 40, "failed": 2}})
    assert (row["processed"], row["failed"], row["dead_lettered"], row["pending"]) == (40, 2, 0, 2)
    assert row["instance_states"] == {"running": 1, "degraded": 1}
    assert describe(row) == "running, 1 of 2 instances degraded"


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
