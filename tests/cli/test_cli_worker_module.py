"""`aiwf worker package.module:service` runs a user's own Service, found from the current directory."""

from __future__ import annotations

import json
import signal
import textwrap
from pathlib import Path
from typing import Any, cast

import orjson
import pytest
import redis
from cli_checks import Aiwf, Spawn, assert_one_error, wait_for

pytestmark = pytest.mark.slow

HANDLERS = '''
from __future__ import annotations  # string annotations: the handler's model is still found

from aiwf.bus import Context, Service, Subscription
from aiwf.schemas import Event, event
from aiwf.schemas.events.documents import DocumentUploaded


@event("myapp.note.written", version=1)
class NoteWritten(Event):
    """What this worker returns for every upload it sees."""

    document_id: str


uploads = Subscription(stream="documents", group="myapp")


@uploads.handler
async def on_upload(event: DocumentUploaded, ctx: Context) -> list[Event]:
    return [NoteWritten(document_id=event.document_id)]


service = Service("myapp", [uploads])
'''


def notes(r: redis.Redis) -> list[dict[str, Any]]:
    """The envelopes on the user's own `myapp` stream."""
    rows = cast("list[tuple[str, dict[str, str]]]", r.xrange("aiwf:ev:{myapp}"))
    return [orjson.loads(fields["body"]) for _, fields in rows]


def test_worker_runs_a_service_from_a_users_module(aiwf: Aiwf, spawn: Spawn, r: redis.Redis, tmp_path: Path) -> None:
    """A module written next to where the command runs: its handler's outputs land, and `aiwf health` lists it."""
    (tmp_path / "myapp").mkdir()
    (tmp_path / "myapp" / "__init__.py").write_text("")
    (tmp_path / "myapp" / "handlers.py").write_text(textwrap.dedent(HANDLERS))
    worker = spawn("worker", "myapp.handlers:service")
    published = aiwf("publish", "documents.document.uploaded", "--data", '{"document_id": "d-9", "text": "hi"}')
    assert published.returncode == 0, published.stderr
    (note,) = wait_for(lambda: notes(r), 20, "the user's handler to write its output")
    assert (note["type"], note["payload"], note["causation_id"]) == (
        "myapp.note.written",
        {"document_id": "d-9"},
        published.stdout.strip(),
    )
    assert note["producer"] == "myapp"
    wait_for(lambda: _state(aiwf, "myapp") == "running", 10, "aiwf health to list myapp as running")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(15) == 0


@pytest.mark.parametrize(
    ("target", "says"),
    [
        ("nosuch.module:service", "cannot import 'nosuch.module': ModuleNotFoundError"),
        ("json:nothing", "module 'json' has no attribute 'nothing'"),
        ("json:dumps", "json:dumps is a function, not an aiwf.bus.Service"),
        ("json:", "give a worker name or `package.module:service`"),
        ("nosuch", "unknown worker 'nosuch'"),
    ],
)
def test_worker_with_a_bad_target_fails_in_one_line(aiwf: Aiwf, target: str, says: str) -> None:
    """An import path that is not a Service, or a name that is no worker, exits 1 with one line saying why."""
    assert says in assert_one_error(aiwf("worker", target))


def _state(aiwf: Aiwf, service: str) -> str | None:
    rows = json.loads(aiwf("health", "--json").stdout)
    return next((str(row["state"]) for row in rows if row["service"] == service), None)
