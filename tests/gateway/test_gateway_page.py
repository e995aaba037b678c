"""The page at `/` in a real browser: Debian's chromium driven by Playwright, against `aiwf gateway` and real workers.

Skipped when /usr/bin/chromium (apt-get install chromium; .ci/run does it) or playwright is missing.
With AIWF_GATEWAY_SCREENSHOT=path the finished page is saved there (docs/gateway-page.png).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, cast

import pytest
import redis.asyncio as aioredis
from http_support import gateway_process
from service_support import serving

from aiwf.bus.config import BusConfig
from aiwf.workers.auth.service import SERVICE as AUTH
from aiwf.workers.documents.service import SERVICE as DOCUMENTS
from aiwf.workers.llm.service import SERVICE as LLM
from aiwf.workers.pipeline.service import SERVICE as PIPELINE
from aiwf.workers.tts.service import SERVICE as TTS

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTICLE = (
    "Redis streams keep every event in order. Consumer groups share the work between workers. "
    "A dead letter keeps the error of a poison event. The gateway turns requests into events."
)
#: The audio element's duration once its metadata loaded: the browser decoded the WAV.
LOADED_DURATION = (
    "a => new Promise(r => a.readyState >= 1 ? r(a.duration)"
    " : a.addEventListener('loadedmetadata', () => r(a.duration)))"
)
playwright = pytest.importorskip("playwright.async_api")
if TYPE_CHECKING:
    from playwright.async_api import FilePayload, Page
pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install -y chromium)"),
    pytest.mark.timeout(180),
]


@pytest.fixture(autouse=True)
def extractive(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AIWF_LLM_URL", "AIWF_LLM_FALLBACK_URL"):
        monkeypatch.delenv(name, raising=False)


@contextlib.asynccontextmanager
async def browser_page(url: str) -> AsyncIterator[Page]:
    async with playwright.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1100, "height": 1000})
            await page.goto(url)
            yield page
        finally:
            await browser.close()


async def test_board_upload_audio_and_tts_offline(bus: BusConfig, client: aioredis.Redis) -> None:
    """Sign up, see tts go offline and back on the board, summarize with audio, and with tts off read the message."""
    expect = playwright.expect
    async with contextlib.AsyncExitStack() as stack:
        for service in (AUTH, DOCUMENTS, LLM, PIPELINE):
            await stack.enter_async_context(serving(service, bus))
        tts = contextlib.AsyncExitStack()
        await tts.enter_async_context(serving(TTS, bus))
        url = await stack.enter_async_context(gateway_process(bus))
        page = await stack.enter_async_context(browser_page(url))

        await page.get_by_label("Username").fill("ada")
        await page.get_by_label("Password").fill("Correct-Horse-Battery-42")
        await page.get_by_role("button", name="Create account").click()
        await expect(page.locator("#who")).to_have_text("Signed in as ada")
        tts_state = page.locator('tr[data-service="tts"] .state')
        await expect(tts_state).to_have_text("running", timeout=10_000)

        # tts stops: offline on the board within a few seconds, back once it restarts.
        await tts.aclose()
        await expect(tts_state).to_have_text("offline", timeout=8_000)
        await tts.enter_async_context(serving(TTS, bus))
        await expect(tts_state).to_have_text("running", timeout=8_000)

        # The upload flow ends with a playable audio element.
        await page.get_by_label("Document (text, Markdown, HTML or PDF)").set_input_files(
            files=[cast("FilePayload", {"name": "streams.txt", "mimeType": "text/plain", "buffer": ARTICLE.encode()})]
        )
        await page.get_by_role("button", name="Summarize").click()
        audio = page.locator("#player audio")
        await expect(audio).to_have_count(1, timeout=30_000)
        duration = await audio.evaluate(LOADED_DURATION)
        assert duration > 0.5
        await expect(page.locator("#summary")).not_to_have_text("Waiting for the summary…")
        await expect(page.locator('#steps li[data-step="speech"]')).to_have_attribute("data-state", "done")

        # tts offline: summary still there, the message replaces the player, then audio once tts returns.
        await tts.aclose()
        await expect(tts_state).to_have_text("offline", timeout=8_000)
        await page.get_by_label("Document (text, Markdown, HTML or PDF)").set_input_files([])
        await page.get_by_label("…or paste text").fill(ARTICLE + " Speech comes later.")
        await page.get_by_role("button", name="Summarize").click()
        message = page.locator("#player .offline-message")
        await expect(message).to_have_text("Text-to-speech temporarily offline", timeout=30_000)
        await expect(page.locator("#player audio")).to_have_count(0)
        await expect(page.locator('#steps li[data-step="summary"]')).to_have_attribute("data-state", "done")
        await expect(page.locator('#steps li[data-step="speech"]')).to_have_attribute(
            "data-state", "waiting: tts offline"
        )
        await expect(page.locator("#summary")).not_to_have_text("Waiting for the summary…")
        await page.get_by_role("button", name="Summarize").focus()  # keyboard reachable
        shot = os.environ.get("AIWF_GATEWAY_SCREENSHOT")
        if shot:
            await page.screenshot(path=shot, full_page=True)
        await tts.enter_async_context(serving(TTS, bus))
        await expect(page.locator("#player audio")).to_have_count(1, timeout=30_000)
        await tts.aclose()
