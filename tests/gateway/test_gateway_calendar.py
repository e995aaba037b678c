"""POST /api/v1/calendar/sync and GET /api/v1/calendar/{id}/agenda through the real calendar worker."""

from __future__ import annotations

from pathlib import Path

from http_support import Gateway, account
from service_support import serving

from aiwf.bus.config import BusConfig
from aiwf.workers.auth.service import SERVICE as AUTH
from aiwf.workers.calendar.service import SERVICE as CALENDAR

SAMPLE = (
    Path(__file__).resolve().parents[2] / "workers" / "calendar" / "samples" / "weekly_exceptions.ics"
).read_text()
WINDOW = {"window_start": "2025-03-01T00:00:00Z", "window_end": "2025-05-01T00:00:00Z"}
AGENDA = {"from": "2025-03-01T00:00:00Z", "to": "2025-05-01T00:00:00Z"}


async def test_sync_then_agenda_for_its_owner_only(gateway: Gateway, bus: BusConfig) -> None:
    """A synced calendar's agenda lists its occurrences by start; another user's calendar of the same name is empty."""
    async with serving(AUTH, bus), serving(CALENDAR, bus), gateway() as http:
        me = await account(http, "ada")
        synced = await http.post(
            "/api/v1/calendar/sync", json={"calendar_id": "work", "ics": SAMPLE, **WINDOW}, headers=me
        )
        assert synced.status_code == 200, synced.text
        assert synced.json()["calendar_id"] == "work"
        assert synced.json()["added"] > 0
        mine = await http.get("/api/v1/calendar/work/agenda", params=AGENDA, headers=me)
        other = await http.get("/api/v1/calendar/work/agenda", params=AGENDA, headers=await account(http, "bob"))
        bad_window = await http.get(
            "/api/v1/calendar/work/agenda", params={"from": AGENDA["to"], "to": AGENDA["from"]}, headers=me
        )
        naive = await http.get(
            "/api/v1/calendar/work/agenda", params={"from": "2025-03-01T00:00:00", "to": AGENDA["to"]}, headers=me
        )
        broken = await http.post("/api/v1/calendar/sync", json={"calendar_id": "work", "ics": "not ics"}, headers=me)
        no_source = await http.post("/api/v1/calendar/sync", json={"calendar_id": "work", "ics": None}, headers=me)
        colon = await http.post("/api/v1/calendar/sync", json={"calendar_id": "a:b", "ics": SAMPLE}, headers=me)
    items = mine.json()["items"]
    assert mine.status_code == 200
    assert len(items) == synced.json()["occurrences"]
    assert [i["start"] for i in items] == sorted(i["start"] for i in items)
    assert {i["summary"] for i in items} >= {"Team standup"}
    assert other.json()["items"] == []
    assert bad_window.status_code == 422
    assert naive.status_code == 422
    assert broken.status_code == 422
    assert broken.json()["error"] == "calendar_rejected"
    assert no_source.status_code == 422
    assert no_source.json()["error"] == "invalid_request"
    assert colon.status_code == 422
    assert colon.json()["message"].startswith("calendar_id:")
