"""ExtractiveSummarizer: picks the input's most representative sentences. Not a language model.

It writes nothing new: every sentence of its output is a sentence of the input,
scored by how often its content words recur in the whole text and by how early
it appears, then returned in original order. It ignores instructions and always
summarizes the last user message, which makes it a dependable embedded default
and a fallback that needs no network, no weights and no GPU.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from dataclasses import dataclass

from aiwf.workers.llm.chat import ChatRequest, ChatResult, DeltaCallback, Usage, whitespace_tokens
from aiwf.workers.llm.errors import InvalidChatRequest, LLMConfigError

__all__ = ["ExtractiveSummarizer", "split_sentences", "summarize"]

MAX_SENTENCES_SCORED = 20_000
_POSITION_WEIGHT = 0.25  # how much an early sentence gains over a late one
_TITLE_WEIGHT = 0.5  # how much a sentence gains for sharing all the title's words
_REDUNDANCY = 0.6  # share of content words already chosen that makes a sentence redundant
_FULL_LENGTH_WORDS = 8  # sentences shorter than this are damped
_HEADING_WORDS = 8  # an unpunctuated line shorter than this is a heading, not a sentence

_CLOSERS = (".", "!", "?", "\u2026", '"', "'", "\u201d", "\u2019", ")", ":", ";", ",")
_PARAGRAPHS = re.compile(r"\n\s*\n|\n(?=\s*(?:[-*+•]|\d{1,3}[.)])\s)")
# Quotes: \u201c \u201d \u2018 \u2019 are the typographic double and single quotes.
_SENTENCE_END = re.compile("[.!?\u2026][\"'\u201d\u2019)\\]]*(?=\\s+[\"'\u201c\u2018(\\[]?[A-Z0-9])")
_WORD = re.compile("[a-z0-9][a-z0-9'\u2019-]*")
_STOPWORDS_TEXT = """a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each even ever every few for from
    further had has have having he her here hers herself him himself his how i if in into is it its itself
    just let like may me might more most much must my myself no nor not now of off often on once one only
    or other our ours ourselves out over own same shall she should so some such than that the their theirs
    them themselves then there these they this those through to too under until up upon us very was we
    well were what when where which while who whom why will with within without would yet you your yours
    yourself yourselves"""
_STOPWORDS = frozenset(_STOPWORDS_TEXT.split())


@dataclass(frozen=True, slots=True)
class _Sentence:
    index: int
    text: str
    words: tuple[str, ...]
    is_heading: bool


def split_sentences(text: str) -> list[str]:
    """Split text into sentences and headings, whitespace collapsed.

    A short unpunctuated line stands alone (a heading), so it does not glue onto
    the sentence after it, as happens with text extracted from PDFs.
    """
    out: list[str] = []
    for block in _blocks(text):
        cuts = [0, *(m.end() for m in _SENTENCE_END.finditer(block)), len(block)]
        for start, end in itertools.pairwise(cuts):
            piece = block[start:end]
            sentence = " ".join(piece.split())
            if sentence:
                out.append(sentence)
                if len(out) >= MAX_SENTENCES_SCORED:
                    return out
    return out


def _blocks(text: str) -> list[str]:
    blocks: list[str] = []
    for paragraph in _PARAGRAPHS.split(text):
        lines: list[str] = []
        for line in paragraph.split("\n"):
            if _looks_like_heading(line.strip()):
                blocks.extend(["\n".join(lines), line])
                lines = []
            else:
                lines.append(line)
        blocks.append("\n".join(lines))
    return blocks


def _looks_like_heading(line: str) -> bool:
    return bool(line) and not line.endswith(_CLOSERS) and whitespace_tokens(line) < _HEADING_WORDS


def summarize(text: str, max_sentences: int = 3, *, max_words: int | None = None) -> list[str]:
    """Return up to `max_sentences` of the input's sentences, best-scored, in original order.

    With `max_words`, sentences are added best-first while they fit the budget; if
    not even the best one fits, its first `max_words` words are returned.
    """
    if max_sentences < 1:
        msg = f"max_sentences must be >= 1, got {max_sentences}"
        raise LLMConfigError(msg)
    sentences = [_analyse(i, s) for i, s in enumerate(split_sentences(text))]
    candidates = [s for s in sentences if not s.is_heading and s.words] or sentences
    if not candidates:
        return []
    freqs = _frequencies(sentences)
    title = frozenset(sentences[0].words) if sentences[0].is_heading else frozenset()
    ranked = sorted(candidates, key=lambda s: (-_score(s, freqs, title, len(sentences)), s.index))
    chosen: list[_Sentence] = []
    used = 0
    for sentence in ranked:
        size = whitespace_tokens(sentence.text)
        if (max_words is not None and used + size > max_words) or _redundant(sentence, chosen):
            continue
        chosen.append(sentence)
        used += size
        if len(chosen) == max_sentences:
            break
    if not chosen:  # max_words is set and smaller than every sentence
        return [" ".join(ranked[0].text.split()[: max_words or None])]
    return [s.text for s in sorted(chosen, key=lambda s: s.index)]


def _analyse(index: int, text: str) -> _Sentence:
    words = tuple(w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS and len(w) > 2)
    is_heading = _looks_like_heading(text)
    return _Sentence(index=index, text=text, words=words, is_heading=is_heading)


def _frequencies(sentences: list[_Sentence]) -> dict[str, float]:
    """Each content word's weight: log count over the top word's, so one word cannot dominate."""
    counts = Counter(w for s in sentences for w in s.words)
    top = math.log1p(max(counts.values(), default=1))
    return {w: math.log1p(c) / top for w, c in counts.items()}


def _score(sentence: _Sentence, freqs: dict[str, float], title: frozenset[str], total: int) -> float:
    """Word-frequency density, damped for short sentences, plus bonuses for title words and position."""
    if not sentence.words:
        return 0.0
    density = sum(freqs.get(w, 0.0) for w in sentence.words) / len(sentence.words)
    length = min(1.0, len(sentence.words) / _FULL_LENGTH_WORDS)
    in_title = len(title.intersection(sentence.words)) / len(title) if title else 0.0
    position = 1.0 - sentence.index / max(total, 1)
    return density * length + _TITLE_WEIGHT * in_title + _POSITION_WEIGHT * position


def _redundant(sentence: _Sentence, chosen: list[_Sentence]) -> bool:
    """True when most of the sentence's content words already appear in one chosen sentence."""
    words = set(sentence.words)
    return any(len(words & set(c.words)) > _REDUNDANCY * len(words) for c in chosen)


class ExtractiveSummarizer:
    """A ChatBackend that answers with an extractive summary of the last user message."""

    model = "extractive"

    def __init__(self, max_sentences: int = 3, *, name: str = "extractive") -> None:
        if max_sentences < 1:
            msg = f"max_sentences must be >= 1, got {max_sentences}"
            raise LLMConfigError(msg)
        self.max_sentences = max_sentences
        self._name = name

    @property
    def name(self) -> str:
        """Reported in ChatResult.backend; says plainly that no model wrote the text."""
        return self._name

    async def complete(self, request: ChatRequest, *, on_delta: DeltaCallback | None = None) -> ChatResult:
        """Summarize the last user message; `max_tokens` caps its words; usage counts whitespace tokens."""
        source = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
        sentences = summarize(source, self.max_sentences, max_words=request.max_tokens)
        if not sentences:
            msg = "nothing to summarize: the last user message has no text"
            raise InvalidChatRequest(msg)
        if request.stream and on_delta is not None:
            for i, sentence in enumerate(sentences):
                await on_delta(sentence if i == 0 else " " + sentence)
        text = " ".join(sentences)
        return ChatResult(
            text=text,
            usage=Usage(request.prompt_tokens(), whitespace_tokens(text), estimated=True),
            backend=self._name,
            model=self.model,
            finish_reason="stop",
        )

    async def health(self) -> str | None:
        """Always healthy: it needs nothing but the request."""
        return None

    async def aclose(self) -> None:
        """Nothing to release."""
