"""HTML to text with the stdlib parser: drop script/style and <head>, keep block breaks."""

from __future__ import annotations

from html.parser import HTMLParser

__all__ = ["html_to_text"]

# Elements whose content is never prose.
_SKIPPED = frozenset({"script", "style", "noscript", "template", "svg", "math", "iframe", "object"})
_PARAGRAPHS = frozenset(
    {
        "address",
        "article",
        "aside",
        "blockquote",
        "dd",
        "details",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "title",
        "ul",
    },
)
_LINES = frozenset({"br", "li", "tr", "option", "caption"})
_CELLS = frozenset({"td", "th"})


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0
        self._in_head = False
        self._in_title = False
        self._in_pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "head":
            self._in_head = True
        elif tag == "body":
            self._in_head = False
        elif tag == "title":
            self._in_title = True
        elif tag in _SKIPPED:
            self._skip_depth += 1
        elif tag == "pre":
            self._in_pre += 1
        self._break(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "head":
            self._in_head = False
        elif tag == "title":
            self._in_title = False
        elif tag in _SKIPPED and self._skip_depth:
            self._skip_depth -= 1
        elif tag == "pre" and self._in_pre:
            self._in_pre -= 1
        if tag in _PARAGRAPHS:  # a line item only needs a break before it, not after
            self._break(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._break(tag)

    def handle_data(self, data: str) -> None:
        if not self._visible():
            return
        if self._in_pre:
            self.parts.append(data)
        else:
            # Keep one space where the source had any, so inline tags do not glue words.
            lead = " " if data[:1].isspace() else ""
            trail = " " if data[-1:].isspace() else ""
            self.parts.append(lead + " ".join(data.split()) + trail)

    def _visible(self) -> bool:
        return not self._skip_depth and (self._in_title or not self._in_head)

    def _break(self, tag: str) -> None:
        if not self._visible() and tag != "title":
            return
        if tag in _PARAGRAPHS:
            self.parts.append("\n\n")
        elif tag in _LINES:
            self.parts.append("\n")
        elif tag in _CELLS:
            self.parts.append(" ")


def html_to_text(markup: str) -> str:
    """Return the visible text of `markup` (title first), one blank line between blocks."""
    collector = _TextCollector()
    collector.feed(markup)
    collector.close()
    return "".join(collector.parts)
