"""Chunking: sizes, overlaps and boundaries, by example and by property."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiwf.workers.documents import Chunk, InvalidOptions, Kind, chunk_text, extract_text
from aiwf.workers.documents.samples import SAMPLES_DIR

SAMPLE_MD = SAMPLES_DIR / "sample.md"


def _check_invariants(text: str, chunks: list[Chunk], size: int, overlap: int) -> None:
    for i, chunk in enumerate(chunks):
        assert chunk.index == i
        assert chunk.text == text[chunk.start : chunk.end]
        assert 0 < len(chunk.text) <= size
        assert chunk.text == chunk.text.strip()
    for prev, nxt in itertools.pairwise(chunks):
        assert prev.start < nxt.start
        assert nxt.start <= prev.end or not text[prev.end : nxt.start].strip()  # no lost words
        assert prev.end - nxt.start <= overlap  # never more overlap than asked
    covered: set[int] = set()
    for chunk in chunks:
        covered.update(range(chunk.start, chunk.end))
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())


def test_short_text_is_one_chunk() -> None:
    """Text shorter than the size comes back as a single stripped chunk."""
    assert chunk_text("  Hello world.  ", size=100, overlap=10) == [Chunk(0, 2, 14, "Hello world.")]


def test_blank_text_has_no_chunks() -> None:
    """Empty or whitespace-only text yields no chunks."""
    assert chunk_text("", 10) == []
    assert chunk_text(" \n\t ", 10) == []


def test_prefers_paragraph_break() -> None:
    """A chunk ends at a paragraph break inside its window rather than mid-paragraph."""
    text = "First paragraph has words. More words here.\n\nSecond paragraph follows on."
    chunks = chunk_text(text, size=60, overlap=0)
    assert [c.text for c in chunks] == [
        "First paragraph has words. More words here.",
        "Second paragraph follows on.",
    ]


def test_prefers_sentence_end_over_space() -> None:
    """Without a paragraph break, a chunk ends after the last full sentence in its window."""
    text = "One two three four five six. Seven eight nine ten eleven twelve."
    chunks = chunk_text(text, size=40, overlap=0)
    assert [c.text for c in chunks] == ["One two three four five six.", "Seven eight nine ten eleven twelve."]


def test_falls_back_to_whitespace_then_hard_cut() -> None:
    """Without sentences a chunk ends at a space; a word longer than size is cut."""
    words = chunk_text("alpha beta gamma delta epsilon", size=12, overlap=0)
    assert [c.text for c in words] == ["alpha beta", "gamma delta", "epsilon"]
    cut = chunk_text("x" * 25, size=10, overlap=0)
    assert [c.text for c in cut] == ["x" * 10, "x" * 10, "x" * 5]


def test_overlap_repeats_whole_words() -> None:
    """Consecutive chunks share text from the end of the previous one, starting on a word."""
    text = " ".join(f"w{n:02d}" for n in range(40))
    chunks = chunk_text(text, size=40, overlap=12)
    assert len(chunks) > 2
    for prev, nxt in itertools.pairwise(chunks):
        shared = prev.end - nxt.start
        assert 0 < shared <= 12
        assert text[nxt.start - 1] == " "
        assert prev.text.endswith(text[nxt.start : prev.end])
    _check_invariants(text, chunks, 40, 12)


def test_sample_article_chunks() -> None:
    """The shipped article splits into bounded, overlapping chunks covering all of it."""
    text = extract_text(SAMPLE_MD.read_bytes(), Kind.MARKDOWN)
    chunks = chunk_text(text, size=500, overlap=80)
    assert 5 <= len(chunks) <= 12
    _check_invariants(text, chunks, 500, 80)
    for chunk in chunks:  # every chunk ends on a sentence or a paragraph, never mid-sentence
        assert chunk.text.endswith(".") or text.startswith("\n\n", chunk.end) or chunk.end == len(text)


@pytest.mark.parametrize(("size", "overlap"), [(0, 0), (-5, 0), (10, 10), (10, -1), (10, 11)])
def test_invalid_options(size: int, overlap: int) -> None:
    """size must be positive and overlap in [0, size)."""
    with pytest.raises(InvalidOptions):
        chunk_text("text", size=size, overlap=overlap)


@settings(max_examples=150, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from("ab .!\n\t"), max_size=400),
    size=st.integers(min_value=1, max_value=60),
    data=st.data(),
)
def test_chunk_invariants_hold_for_any_text(text: str, size: int, data: st.DataObject) -> None:
    """For any text and valid options: exact slices, bounded size and overlap, nothing lost."""
    overlap = data.draw(st.integers(min_value=0, max_value=size - 1))
    chunks = chunk_text(text, size, overlap)
    _check_invariants(text, chunks, size, overlap)
    assert len(chunks) <= max(len(text), 1)
