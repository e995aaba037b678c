"""The web page at `/`: static HTML, JavaScript and CSS from gateway/static (no build step)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["STATIC", "router", "static_files"]

STATIC = Path(__file__).resolve().parent / "static"
router = APIRouter(include_in_schema=False)


@router.get("/")
async def page() -> FileResponse:
    """The status board and the summarize-a-document flow."""
    return FileResponse(STATIC / "index.html", media_type="text/html")


def static_files() -> StaticFiles:
    """The page's scripts and styles under /static."""
    return StaticFiles(directory=STATIC)
