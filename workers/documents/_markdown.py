"""Markdown to text, lightly: drop markup symbols, keep the words and the block structure.

Not a Markdown renderer: it removes what a reader would not say aloud (heading
hashes, emphasis marks, link targets, fences, list bullets, table pipes) line by
line, with regexes that run in linear time. HTML comments (`<!-- -->`, often notes to
editors) and template tags (`{{ }}`, `{% %}`, `{# #}` of Jinja, Liquid, Hugo) are no
prose either: they go first, across lines, outside code fences too (a reader would not
say them aloud there either).
"""

from __future__ import annotations

import re

from aiwf.workers.documents._html import html_to_text

__all__ = ["markdown_to_text"]

_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_HEADING = re.compile(r"^\s{0,3}#{1,6}(?:\s+|$)")
_SETEXT_UNDERLINE = re.compile(r"^\s{0,3}(=+|-+)\s*$")
_RULE = re.compile(r"^\s{0,3}([-*_])(?:\s*\1){2,}\s*$")
_QUOTE = re.compile(r"^\s{0,3}(?:>\s?)+")
_BULLET = re.compile(r"^(\s*)(?:[-*+]|\d{1,9}[.)])\s+(?:\[[ xX]\]\s+)?")
_REFERENCE_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s+\S+.*$")
# Inline spans are bounded ({1,500}) so a hostile line costs linear time, not quadratic.
_IMAGE = re.compile(r"!\[([^\]]{0,500})\]\([^)]{0,2000}\)")
_LINK = re.compile(r"\[([^\]]{1,500})\]\([^)]{0,2000}\)")
_REF_LINK = re.compile(r"\[([^\]]{1,500})\]\[[^\]]{0,500}\]")
_AUTOLINK = re.compile(r"<((?:https?|mailto):[^>\s]{1,2000})>")
_CODE_SPAN = re.compile(r"(`{1,3})([^`]{0,1000})\1")
_STRONG = re.compile(r"(\*\*|__)(?=\S)(.{1,500}?)(?<=\S)\1")
_EMPHASIS = re.compile(r"(?<![\w*])([*_])(?=\S)(.{1,500}?)(?<=\S)\1(?![\w*])")
_STRIKE = re.compile(r"~~(?=\S)(.{1,500}?)(?<=\S)~~")
_HTML_TAG = re.compile(r"</?[A-Za-z][^>\n]{0,1000}>")
_TABLE_DIVIDER_CHARS = frozenset("|:- \t")
#: Spans dropped before anything else: (opener, closer, an unclosed one runs to the end).
_NOT_PROSE = (("<!--", "-->", True), ("{{", "}}", False), ("{%", "%}", False), ("{#", "#}", False))


def markdown_to_text(source: str) -> str:
    """Return the prose of a Markdown document, blocks separated by blank lines."""
    for opener, closer, to_end in _NOT_PROSE:
        source = _drop_spans(source, opener, closer, to_end=to_end)
    out: list[str] = []
    in_fence: str | None = None
    for line in source.splitlines():
        fence = _FENCE.match(line)
        if fence:
            marker = fence.group(1)[0]
            if in_fence is None:
                in_fence = marker
            elif marker == in_fence:
                in_fence = None
            out.append("")
            continue
        if in_fence is not None:
            out.append(line)  # code stays verbatim
            continue
        out.append(_strip_line(line))
    return "\n".join(out)


def _drop_spans(text: str, opener: str, closer: str, *, to_end: bool) -> str:
    """`text` without its opener...closer spans; str.find, not a regex, so `{{` repeated stays linear."""
    kept: list[str] = []
    at = 0
    while (start := text.find(opener, at)) >= 0:
        end = text.find(closer, start + len(opener))
        if end < 0:
            if to_end:
                return "".join(kept) + text[at:start]
            break
        kept.append(text[at:start])
        at = end + len(closer)
    return "".join(kept) + text[at:]


def _strip_line(line: str) -> str:
    if _RULE.match(line) or _SETEXT_UNDERLINE.match(line) or _REFERENCE_DEF.match(line):
        return ""
    if "---" in line and set(line) <= _TABLE_DIVIDER_CHARS:
        return ""
    heading = _HEADING.match(line)
    if heading:
        line = line[heading.end() :].rstrip()
        closing = line.rstrip("#")
        if closing != line and (not closing or closing[-1].isspace()):
            line = closing.rstrip()
    line = _QUOTE.sub("", line)
    line = _BULLET.sub(r"\1", line)
    if line.lstrip().startswith("|") or line.count("|") >= 2:
        line = " ".join(cell.strip() for cell in line.strip().strip("|").split("|"))
    return _strip_inline(line)


def _strip_inline(text: str) -> str:
    text = _IMAGE.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _REF_LINK.sub(r"\1", text)
    text = _AUTOLINK.sub(r"\1", text)
    text = _CODE_SPAN.sub(r"\2", text)
    text = _STRONG.sub(r"\2", text)
    text = _EMPHASIS.sub(r"\2", text)
    text = _STRIKE.sub(r"\1", text)
    if "<" in text and _HTML_TAG.search(text):
        text = html_to_text(text).strip()
    return text
