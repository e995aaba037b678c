"""ExtractiveSummarizer: output made only of input sentences, in order, within budget."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiwf.workers.documents import Kind, extract_text
from aiwf.workers.documents.samples import SAMPLES_DIR
from aiwf.workers.llm import ChatRequest, ExtractiveSummarizer, InvalidChatRequest, split_sentences, summarize

SAMPLE_MD = SAMPLES_DIR / "sample.md"


def _article() -> str:
    return extract_text(SAMPLE_MD.read_bytes(), Kind.MARKDOWN)


def test_summary_is_made_of_input_sentences_in_order() -> None:
    """Every summary sentence is verbatim an input sentence, and they keep the input's order."""
    text = _article()
    sentences = split_sentences(text)
    summary = summarize(text, 3)
    assert len(summary) == 3
    positions = [sentences.index(s) for s in summary]
    assert positions == sorted(positions)


def test_summary_skips_headings_and_prefers_central_sentences() -> None:
    """Headings are not picked, and the sentence that names the topic is."""
    summary = summarize(_article(), 3)
    assert "Why teams choose it" not in summary
    assert "Event-driven architecture takes a different approach." in summary


def test_word_budget_is_respected() -> None:
    """With max_words the summary never exceeds the budget."""
    summary = summarize(_article(), 10, max_words=40)
    assert 1 <= len(summary) < 10
    assert sum(len(s.split()) for s in summary) <= 40


def test_budget_below_any_sentence_truncates_the_best_one() -> None:
    """If no sentence fits the budget, the best one is cut to max_words words."""
    summary = summarize("Alpha beta gamma delta epsilon zeta. Eta theta iota kappa lambda mu.", 2, max_words=3)
    assert len(summary) == 1
    assert len(summary[0].split()) == 3


def test_redundant_sentences_are_not_both_chosen() -> None:
    """A sentence repeating one already chosen is skipped in favour of new content."""
    text = "Cats chase mice at night. Cats chase mice at night! Dogs guard the house all day."
    assert summarize(text, 2) == ["Cats chase mice at night.", "Dogs guard the house all day."]


@pytest.mark.asyncio
async def test_backend_summarizes_last_user_message_with_whitespace_usage() -> None:
    """As a ChatBackend it summarizes the last user message, names itself, and counts whitespace tokens."""
    backend = ExtractiveSummarizer(max_sentences=2)
    request = ChatRequest.of(
        [{"role": "system", "content": "Summarize the document."}, {"role": "user", "content": _article()}],
    )
    result = await backend.complete(request)
    assert result.backend == "extractive"
    assert result.model == "extractive"
    assert all(s in split_sentences(_article()) for s in split_sentences(result.text))
    assert result.usage.completion_tokens == len(result.text.split())
    assert result.usage.prompt_tokens == 3 + len(_article().split())
    assert result.usage.estimated


@pytest.mark.asyncio
async def test_backend_streams_sentences() -> None:
    """Streaming passes the summary to on_delta sentence by sentence."""
    fragments: list[str] = []

    async def on_delta(fragment: str) -> None:
        fragments.append(fragment)

    result = await ExtractiveSummarizer(max_sentences=3).complete(
        ChatRequest.of([{"role": "user", "content": _article()}], stream=True),
        on_delta=on_delta,
    )
    assert len(fragments) == 3
    assert "".join(fragments) == result.text


@pytest.mark.asyncio
async def test_nothing_to_summarize_is_permanent() -> None:
    """A request without user text raises InvalidChatRequest."""
    with pytest.raises(InvalidChatRequest, match="nothing to summarize"):
        await ExtractiveSummarizer().complete(ChatRequest.of([{"role": "system", "content": "hi"}]))


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.text(alphabet=st.sampled_from("abcdefg xyz"), min_size=1, max_size=40),
        min_size=1,
        max_size=15,
    ),
    st.integers(min_value=1, max_value=5),
)
def test_summary_sentences_always_come_from_input(fragments: list[str], k: int) -> None:
    """For any text, the summary has at most k items, each one of the input's sentences."""
    text = " ".join(f.strip().capitalize() + "." for f in fragments if f.strip())
    summary = summarize(text, k)
    assert len(summary) <= k
    sentences = split_sentences(text)
    assert all(s in sentences for s in summary)
