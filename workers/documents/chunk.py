"""Split text into overlapping chunks that end on natural boundaries.

Each chunk ends at the last paragraph break, else sentence end, else whitespace
inside its window, and only hard-cuts a word when the window holds none of them.
A chunk never ends before half its window (so chunks stay useful), and the next
chunk starts `overlap` characters earlier, moved forward to a word start.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aiwf.workers.documents.errors import InvalidOptions

__all__ = ["Chunk", "chunk_text"]


@dataclass(frozen=True, slots=True)
class Chunk:
    """One slice of the source: `text == source[start:end]`."""

    index: int
    start: int
    end: int
    text: str


_PARAGRAPH = re.compile(r"\n[^\S\n]*\n")
_SENTENCE = re.compile("[.!?\u2026][\"'\u201d\u2019)\\]]*(?=\\s)")  # closing quotes: \u201d \u2019
_SPACE = re.compile(r"\s")


def chunk_text(text: str, size: int, overlap: int = 0) -> list[Chunk]:
    """Return chunks of at most `size` characters, consecutive ones sharing up to `overlap`."""
    if size <= 0:
        msg = f"chunk size must be > 0, got {size}"
        raise InvalidOptions(msg)
    if not 0 <= overlap < size:
        msg = f"chunk overlap must satisfy 0 <= overlap < size ({size}), got {overlap}"
        raise InvalidOptions(msg)

    chunks: list[Chunk] = []
    n = len(text)
    pos = _skip_space(text, 0, n)
    while pos < n:
        end = _chunk_end(text, pos, size, overlap)
        stop = end
        while stop > pos and text[stop - 1].isspace():
            stop -= 1
        chunks.append(Chunk(index=len(chunks), start=pos, end=stop, text=text[pos:stop]))
        if end >= n:
            break
        pos = _skip_space(text, _next_start(text, pos, end, overlap), n)
    return chunks


def _chunk_end(text: str, pos: int, size: int, overlap: int) -> int:
    """End of the chunk starting at `pos`: the best boundary in (floor, pos + size]."""
    hard = min(pos + size, len(text))
    if hard == len(text):
        return hard
    # Ending after pos + overlap guarantees the next chunk starts further on.
    floor = pos + max(overlap + 1, size // 2)
    for pattern in (_PARAGRAPH, _SENTENCE):
        best = _last_match_end(pattern, text, floor, hard)
        if best is not None:
            return best
    if text[hard].isspace():
        return hard
    best = _last_match_end(_SPACE, text, floor, hard)
    return best if best is not None else hard


def _last_match_end(pattern: re.Pattern[str], text: str, floor: int, hard: int) -> int | None:
    """End of the last match of `pattern` ending within [floor, hard]."""
    best = None
    # Search one char past `hard` so lookaheads can see what follows the window.
    for match in pattern.finditer(text, max(floor - 2, 0), min(hard + 1, len(text))):
        if floor <= match.end() <= hard:
            best = match.end()
    return best


def _next_start(text: str, pos: int, end: int, overlap: int) -> int:
    """Start of the next chunk: `overlap` back from `end`, moved forward to a word start."""
    start = max(end - overlap, pos + 1)
    if 0 < start < end and not text[start - 1].isspace() and not text[start].isspace():
        space = _SPACE.search(text, start, end)
        if space is not None:
            return space.end()
    return start


def _skip_space(text: str, pos: int, n: int) -> int:
    while pos < n and text[pos].isspace():
        pos += 1
    return pos
