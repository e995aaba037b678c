"""The fingerprint of a failure: what makes two dead letters "the same bug".

A fingerprint is (service, event type, error type, failing frame). The service is the
consumer group that gave up; the failing frame is the innermost frame of the traceback that
is application code (not a library in site-packages, not the standard library), written as
`file.py:function: source line`. The line number is left out (an unrelated edit above would
split an incident), and so is the error message: it carries the variable parts (ids, names,
amounts) that make every letter of one bug look different. A letter without a traceback
falls back on its message with those variable parts replaced by placeholders.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiwf.dlq.letters import Letter

#: `  File "/x/y.py", line 12, in handle`, then optionally the source line under it.
_FRAME = re.compile(r'^  File "(?P<path>[^"]+)", line \d+, in (?P<function>.+)$')
#: Frames of these files are libraries: the bug is where the application called them.
_LIBRARY = re.compile(r"(site|dist)-packages/(?!aiwf/)|/lib/python3[.\d]*/(?!site-packages/)|^<frozen ")
#: Variable parts of a message: quoted text, UUIDs, hex and decimal numbers.
_VARIABLE = (
    (re.compile(r"'[^']*'|\"[^\"]*\""), "<str>"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.IGNORECASE), "<uuid>"),
    (re.compile(r"\b0x[0-9a-f]+\b|\b[0-9a-f]{16,}\b", re.IGNORECASE), "<hex>"),
    (re.compile(r"\d+(\.\d+)?"), "<n>"),
)
#: Hex digits of an incident id.
ID_LENGTH = 12
ID_PATTERN = re.compile(rf"^[0-9a-f]{{{ID_LENGTH}}}$")


@dataclass(frozen=True)
class Fingerprint:
    """What identifies one distinct failure; `id` is its short stable name."""

    service: str
    event_type: str
    error_type: str
    frame: str

    @property
    def id(self) -> str:
        """12 hex digits of a SHA-256 over the four parts: the same failure always has the same id."""
        text = "\x1f".join((self.service, self.event_type, self.error_type, self.frame))
        return hashlib.sha256(text.encode()).hexdigest()[:ID_LENGTH]


def of_letter(letter: Letter) -> Fingerprint:
    """The fingerprint of one dead letter."""
    frame = failing_frame(letter.traceback) or "message: " + without_variables(letter.error)
    return Fingerprint(letter.group or "?", letter.event_type or "?", letter.error_type or "?", frame)


def failing_frame(traceback: str) -> str | None:
    """The innermost application frame of a formatted traceback, without its line number; None if none."""
    frames: list[tuple[str, str, str]] = []
    lines = traceback.splitlines()
    for n, line in enumerate(lines):
        match = _FRAME.match(line)
        if match is None:
            continue
        following = lines[n + 1] if n + 1 < len(lines) else ""
        code = following.strip() if following.startswith("    ") and not _FRAME.match(following) else ""
        frames.append((match["path"], match["function"], code))
    if not frames:
        return None
    app = [f for f in frames if not _LIBRARY.search(f[0])]
    path, function, code = (app or frames)[-1]
    return f"{path.replace(chr(92), '/').rsplit('/', 1)[-1]}:{function}: {code}"


def without_variables(message: str) -> str:
    """A message with its variable parts (quoted text, ids, numbers) replaced by placeholders."""
    for pattern, placeholder in _VARIABLE:
        message = pattern.sub(placeholder, message)
    return message[:200]
