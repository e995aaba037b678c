"""The API against its own OpenAPI document: schemathesis (its CLI) over a running `aiwf gateway` and real workers.

Checks: no 5xx, and every documented response matches its schema. The endless SSE feed of the
status board is left out (a fuzzer cannot wait for the end of a stream that has none).
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from http_support import account, gateway_process
from service_support import serving

from aiwf.bus.config import BusConfig
from aiwf.workers.auth.service import SERVICE as AUTH
from aiwf.workers.calendar.service import SERVICE as CALENDAR
from aiwf.workers.documents.service import SERVICE as DOCUMENTS
from aiwf.workers.llm.service import SERVICE as LLM
from aiwf.workers.tts.service import SERVICE as TTS

pytestmark = pytest.mark.timeout(300)
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


@pytest.fixture(autouse=True)
def extractive(monkeypatch: pytest.MonkeyPatch) -> None:
    """No LLM URL: the llm service answers with its extractive summarizer."""
    for name in ("AIWF_LLM_URL", "AIWF_LLM_FALLBACK_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.skipif(not SCHEMATHESIS.exists(), reason="schemathesis is not installed (pip install -e '.[test]')")
async def test_no_5xx_and_responses_match_the_schema(bus: BusConfig, client: aioredis.Redis, tmp_path: Path) -> None:
    """Schemathesis' generated requests, signed in, get no 5xx and only responses their schema describes."""
    settings = {
        "AIWF_GATEWAY_RATE_LIMIT_ADDRESS": "100000/minute",
        "AIWF_GATEWAY_RATE_LIMIT_USER": "100000/minute",
        "AIWF_GATEWAY_LLM_TIMEOUT": "5",
        "AIWF_GATEWAY_TTS_TIMEOUT": "5",
        "AIWF_GATEWAY_AUTH_TIMEOUT": "5",
        "AIWF_GATEWAY_DOCUMENTS_TIMEOUT": "5",
    }
    async with contextlib.AsyncExitStack() as stack:
        for service in (AUTH, CALENDAR, DOCUMENTS, LLM, TTS):  # every service a route asks: none answers 503
            await stack.enter_async_context(serving(service, bus))
        url = await stack.enter_async_context(gateway_process(bus, **settings))
        async with httpx.AsyncClient(timeout=30) as http:
            bearer = (await account(http, "schema-user", base=url))["Authorization"]
        cmd = [
            str(SCHEMATHESIS),
            "run",
            f"{url}/openapi.json",
            "--checks",
            "not_a_server_error,response_schema_conformance",
            "--max-examples",
            "10",
            "--phases",
            "examples,coverage,fuzzing",
            "--exclude-path",
            "/api/v1/status/events",
            "--request-timeout",
            "20",
            "--header",
            f"Authorization: {bearer}",
            "--workers",
            "1",
            "--no-color",
        ]
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp_path
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 280)
    report = out.decode(errors="replace")
    assert proc.returncode == 0, report[-6000:]
    assert "No issues found" in report or "passed" in report, report[-3000:]
