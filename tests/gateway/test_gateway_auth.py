"""The auth routes through the real auth worker, and bearer tokens at the edge: 401 for any token not good."""

from __future__ import annotations

import base64
import json
import time

import pytest
import redis.asyncio as aioredis
from http_support import PASSWORD, Gateway, account
from service_support import serving

from aiwf.bus import keys
from aiwf.bus.config import BusConfig
from aiwf.workers.auth.service import SERVICE as AUTH
from aiwf.workers.auth.tokens import KeyRing, issue_access_token


async def test_register_login_refresh_logout(gateway: Gateway, bus: BusConfig) -> None:
    """Register is 201, login gives tokens that open /api/v1/status, refresh gives a new pair, logout revokes it."""
    async with serving(AUTH, bus), gateway() as http:
        created = await http.post("/api/v1/auth/register", json={"username": "ada", "password": PASSWORD})
        assert created.status_code == 201, created.text
        assert created.json()["username"] == "ada"
        again = await http.post("/api/v1/auth/register", json={"username": "ada", "password": PASSWORD})
        assert again.status_code == 409
        weak = await http.post("/api/v1/auth/register", json={"username": "bob", "password": "short"})
        assert weak.status_code == 422
        wrong = await http.post("/api/v1/auth/login", json={"username": "ada", "password": "not-the-password-1"})
        assert wrong.status_code == 401
        assert wrong.json()["error"] == "invalid_credentials"
        login = await http.post("/api/v1/auth/login", json={"username": "ada", "password": PASSWORD})
        assert login.status_code == 200, login.text
        tokens = login.json()
        assert tokens["token_type"] == "bearer"
        assert login.headers["cache-control"] == "no-store"
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        assert (await http.get("/api/v1/status", headers=bearer)).status_code == 200
        renewed = await http.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert renewed.status_code == 200, renewed.text
        out = await http.post(
            "/api/v1/auth/logout", json={"refresh_token": renewed.json()["refresh_token"]}, headers=bearer
        )
        assert out.status_code == 200, out.text
        unauthenticated = await http.post("/api/v1/auth/logout", json={"refresh_token": "x"})
        assert unauthenticated.status_code == 401


def _tampered(token: str) -> str:
    head, body, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["sub"] = "someone-else"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{forged}.{signature}"


async def test_missing_tampered_expired_and_wrong_audience_tokens_are_401(
    gateway: Gateway, bus: BusConfig, client: aioredis.Redis
) -> None:
    """Tampered, expired, wrong-audience and unknown-key tokens are 401; a key published after caching is found."""
    async with serving(AUTH, bus), gateway() as http:
        good = (await account(http, "ada"))["Authorization"].removeprefix("Bearer ")
        # The gateway caches the JWKS now; a key published later (a rotation) must still be found.
        assert (await http.get("/api/v1/status", headers={"Authorization": f"Bearer {good}"})).status_code == 200
        # Tokens the test signs itself with a key it publishes, as the auth service would.
        ring = KeyRing.generate(time.time())
        published = json.loads(await client.get(keys.AUTH_JWKS) or b"{}")
        published["keys"] += ring.public_jwks(time.time())["keys"]
        await client.set(keys.AUTH_JWKS, json.dumps(published))
        issuer, audience = published["issuer"], published["audience"]
        signed = issue_access_token(ring, subject="ada", issuer=issuer, audience=audience, now=time.time())
        expired = issue_access_token(ring, subject="ada", issuer=issuer, audience=audience, now=time.time() - 7200)
        other = issue_access_token(ring, subject="ada", issuer=issuer, audience="elsewhere", now=time.time())
        stranger = KeyRing.generate(time.time())
        unknown = issue_access_token(stranger, subject="ada", issuer=issuer, audience=audience, now=time.time())
        status = {}
        for name, token in {
            "good": good,
            "signed": signed.token,
            "tampered": _tampered(good),
            "expired": expired.token,
            "audience": other.token,
            "unknown key": unknown.token,
            "garbage": "not-a-jwt",
        }.items():
            response = await http.get("/api/v1/status", headers={"Authorization": f"Bearer {token}"})
            status[name] = response.status_code
            if response.status_code == 401:
                assert response.headers["www-authenticate"].startswith("Bearer")
                assert response.json()["error"] == "unauthorized"
        missing = await http.get("/api/v1/status")
    assert status == {
        "good": 200,
        "signed": 200,
        "tampered": 401,
        "expired": 401,
        "audience": 401,
        "unknown key": 401,
        "garbage": 401,
    }
    assert missing.status_code == 401


@pytest.mark.parametrize("route", ["/api/v1/status", "/api/v1/summaries/x", "/api/v1/requests/x"])
async def test_routes_need_a_token(gateway: Gateway, route: str) -> None:
    """Every API route but register/login/refresh answers 401 without a bearer token."""
    async with gateway() as http:
        response = await http.get(route)
    assert response.status_code == 401
