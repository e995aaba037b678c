"""The gateway itself: /health, /api/v1/status, unknown requests, and bodies refused before any parsing."""

from __future__ import annotations

import redis.asyncio as aioredis
from http_support import Gateway, account
from service_support import serving

from aiwf.bus import keys
from aiwf.bus.config import BusConfig
from aiwf.workers.auth.service import SERVICE as AUTH
from aiwf.workers.llm.service import SERVICE as LLM


async def test_health_is_200_while_redis_answers(gateway: Gateway) -> None:
    """GET /health answers 200 with redis true on a reachable Redis."""
    async with gateway() as http:
        response = await http.get("/health")
    assert response.status_code == 200
    assert response.json()["redis"] is True


async def test_health_is_503_without_redis(gateway: Gateway) -> None:
    """A gateway whose Redis does not answer still starts, and /health says 503."""
    async with gateway(url="redis://127.0.0.1:1/0") as http:
        response = await http.get("/health")
    assert response.status_code == 503
    assert response.json()["redis"] is False


async def test_status_shows_every_service_from_heartbeats(gateway: Gateway, bus: BusConfig) -> None:
    """With llm running and tts not: llm is online with one instance, tts offline, every service listed."""
    async with serving(AUTH, bus), serving(LLM, bus), gateway() as http:
        response = await http.get("/api/v1/status", headers=await account(http, "ada"))
    assert response.status_code == 200
    rows = {r["service"]: r for r in response.json()["services"]}
    assert {"auth", "calendar", "documents", "llm", "tts", "pipeline"} <= set(rows)
    assert response.json()["alarms"] == []
    assert (rows["llm"]["state"], rows["llm"]["online"], rows["llm"]["instances"]) == ("running", True, 1)
    assert (rows["tts"]["state"], rows["tts"]["online"]) == ("offline", False)
    assert set(rows["llm"]) >= {"backlog", "pending", "dead_letters", "last_error", "reason", "alarms"}


async def test_unknown_and_malformed_request_ids_are_404(gateway: Gateway, bus: BusConfig) -> None:
    """An id the gateway never made, or one that is no UUIDv7, is 404 in the error shape."""
    async with serving(AUTH, bus), gateway() as http:
        me = await account(http, "ada")
        unknown = await http.get("/api/v1/requests/0190f7e6-8b7a-7cc1-9f00-000000000000", headers=me)
        malformed = await http.get("/api/v1/requests/..%2f..%2fetc", headers=me)
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "not_found"
    assert malformed.status_code == 404


async def test_oversized_and_deeply_nested_bodies_are_refused_unread(gateway: Gateway, client: aioredis.Redis) -> None:
    """A body over the size limit is 413; JSON nested past the bus's depth cap is 400; none published."""
    big = {"messages": [{"role": "user", "content": "x" * 5000}]}
    bomb = b"[" * 100_000 + b"]" * 100_000
    async with gateway(max_body_bytes=4096) as small, gateway() as http:
        too_large = await small.post("/api/v1/llm/chat", json=big, headers={"Prefer": "respond-async"})
        nested = await http.post(
            "/api/v1/llm/chat", content=bomb, headers={"content-type": "application/json", "Prefer": "respond-async"}
        )
        alive = await http.get("/health")
    assert too_large.status_code == 413
    assert too_large.json()["error"] == "too_large"
    assert nested.status_code == 400
    assert "nested deeper" in nested.json()["message"]
    assert alive.status_code == 200
    assert await client.exists(keys.stream("llm")) == 0
