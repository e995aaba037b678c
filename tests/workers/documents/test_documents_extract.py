"""Detection and extraction against real files: generated PDFs, shipped samples, hostile bytes."""

from __future__ import annotations

import io
import time

import pytest
from pypdf import PdfReader, PdfWriter

from aiwf.workers.documents import (
    CorruptDocument,
    DocumentTooLarge,
    EmptyDocument,
    ExtractLimits,
    InvalidOptions,
    Kind,
    UnsupportedDocument,
    detect_kind,
    extract_text,
)
from aiwf.workers.documents.samples import SAMPLES_DIR
from aiwf.workers.documents.samples.make_pdf import SAMPLE_PAGES, build_pdf


def _encrypt(pdf: bytes, user_password: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


# --- detection -------------------------------------------------------------------------


def test_pdf_detected_by_magic_whatever_the_label() -> None:
    """A PDF is recognised by its %PDF header even when name and type say otherwise."""
    assert detect_kind(build_pdf([["x"]]), "notes.txt", "text/plain") is Kind.PDF


@pytest.mark.parametrize(
    ("data", "filename", "content_type", "kind"),
    [
        (b"<!DOCTYPE html><html><body>x</body></html>", None, None, Kind.HTML),
        (b"<p>hi</p>", "page.htm", None, Kind.HTML),
        (b"<p>hi</p>", None, "text/html; charset=utf-8", Kind.HTML),
        (b"# Title\n\ntext", "readme.md", None, Kind.MARKDOWN),
        (b"# Title", None, "text/markdown", Kind.MARKDOWN),
        (b"just words", None, None, Kind.TEXT),
        (b"just words", "notes.txt", "application/octet-stream", Kind.TEXT),
    ],
)
def test_text_kinds_detected(data: bytes, filename: str | None, content_type: str | None, kind: Kind) -> None:
    """HTML, Markdown and text are told apart by content type, file name, then a sniff."""
    assert detect_kind(data, filename, content_type) is kind


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(64), "PNG image"),
        (b"PK\x03\x04" + bytes(64), "ZIP archive"),
        (bytes(range(256)) * 4, "binary data"),
    ],
)
def test_binary_input_is_unsupported(data: bytes, expected: str) -> None:
    """Images, archives and arbitrary binary are refused with a message naming what was sent."""
    with pytest.raises(UnsupportedDocument, match=expected):
        detect_kind(data, None, None)


def test_declared_image_type_is_unsupported() -> None:
    """A declared image/audio/video content type is refused even if the bytes look like text."""
    with pytest.raises(UnsupportedDocument, match="image/png"):
        detect_kind(b"hello", "x.png", "image/png")


def test_declared_pdf_without_header_is_corrupt() -> None:
    """Bytes named or typed as PDF but lacking the header are reported as a corrupt PDF."""
    with pytest.raises(CorruptDocument, match="no %PDF header"):
        detect_kind(b"hello world", "report.pdf", None)


# --- PDF -------------------------------------------------------------------------------


def test_shipped_sample_pdf_extracts_every_page() -> None:
    """The shipped three-page sample PDF yields the text of all its pages, in order."""
    data = (SAMPLES_DIR / "sample.pdf").read_bytes()
    assert len(PdfReader(io.BytesIO(data)).pages) == len(SAMPLE_PAGES) == 3
    text = extract_text(data, detect_kind(data, "sample.pdf", "application/pdf"))
    headings = [page[0] for page in SAMPLE_PAGES]
    positions = [text.index(heading) for heading in headings]
    assert positions == sorted(positions)
    assert "handlers must be safe to run again" in " ".join(text.split())


def test_generated_pdf_round_trips_text_with_special_characters() -> None:
    """Parentheses, backslashes and Latin-1 letters survive a PDF round trip."""
    data = build_pdf([["Café (draft) \\ v2", "Second paragraph."], ["Page two."]])
    text = extract_text(data, Kind.PDF)
    assert "Café (draft) \\ v2" in text
    assert "Page two." in text


def test_pdf_with_empty_user_password_opens() -> None:
    """A PDF encrypted with an empty user password (owner-only protection) is still read."""
    data = _encrypt(build_pdf([["Open sesame"]]), user_password="")
    assert "Open sesame" in extract_text(data, Kind.PDF)


def test_password_protected_pdf_is_corrupt() -> None:
    """A PDF that needs a user password is refused as CorruptDocument saying it is encrypted."""
    data = _encrypt(build_pdf([["Secret"]]), user_password="hunter2")
    with pytest.raises(CorruptDocument, match="encrypted"):
        extract_text(data, Kind.PDF)


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.4\n this is not a pdf at all",
        build_pdf([["Truncated document"]])[:120],
        b"%PDF-1.4\n" + bytes(range(256)) * 8,
    ],
)
def test_corrupt_pdf_raises_corrupt_document(data: bytes) -> None:
    """Garbage or truncated PDF bytes raise CorruptDocument (or EmptyDocument), never a crash."""
    with pytest.raises((CorruptDocument, EmptyDocument)) as info:
        extract_text(data, Kind.PDF)
    assert str(info.value)


def test_corrupt_content_stream_is_reported() -> None:
    """A PDF whose only content stream is broken raises CorruptDocument with pypdf's reason."""
    good = build_pdf([["Fine page"]], compress=True)
    start = good.index(b"stream\n") + len(b"stream\n")
    broken = good[: start + 2] + b"\x00" * 8 + good[start + 10 :]
    assert len(broken) == len(good)
    with pytest.raises(CorruptDocument, match="decompressing"):
        extract_text(broken, Kind.PDF)


def test_pdf_without_text_is_empty() -> None:
    """A PDF whose pages draw no text raises EmptyDocument."""
    writer = PdfWriter()
    writer.add_blank_page(612, 792)
    out = io.BytesIO()
    writer.write(out)
    with pytest.raises(EmptyDocument):
        extract_text(out.getvalue(), Kind.PDF)


def test_pdf_page_cap() -> None:
    """A PDF with more pages than max_pages is refused, not silently cut."""
    data = build_pdf([[f"Page {n}"] for n in range(5)])
    assert "Page 4" in extract_text(data, Kind.PDF, ExtractLimits(max_pages=5))
    with pytest.raises(DocumentTooLarge, match="5 pages; the limit is 4"):
        extract_text(data, Kind.PDF, ExtractLimits(max_pages=4))


def test_pdf_text_cap() -> None:
    """A PDF whose extracted text exceeds max_chars is refused."""
    data = build_pdf([["word " * 200]])
    with pytest.raises(DocumentTooLarge, match="characters"):
        extract_text(data, Kind.PDF, ExtractLimits(max_chars=100))


# --- HTML, Markdown, text ----------------------------------------------------------------


def test_html_sample_keeps_prose_and_blocks() -> None:
    """HTML loses script, style and head noise but keeps its title, prose, entities and breaks."""
    data = (SAMPLES_DIR / "sample.html").read_bytes()
    text = extract_text(data, detect_kind(data, "sample.html", None))
    assert text.startswith("Idempotent Handlers")
    assert "tracking code" not in text
    assert "font-family" not in text
    assert "enable JavaScript" not in text
    assert "events & skip repeats." in text
    assert "A handler is idempotent when running it twice" in text
    assert "Record the ids of processed events & skip repeats.\nWrite results" in text
    assert "Last reviewed in 2024.\nFeedback is welcome." in text


def test_html_inline_tags_do_not_glue_words() -> None:
    """Inline markup keeps the spaces between words and adds none inside them."""
    text = extract_text(b"<p>un<b>believ</b>able <i>and</i> fine</p>", Kind.HTML)
    assert text == "unbelievable and fine"


def test_markdown_sample_strips_markup() -> None:
    """The shipped Markdown article keeps its words and loses heading and emphasis marks."""
    data = (SAMPLES_DIR / "sample.md").read_bytes()
    text = extract_text(data, detect_kind(data, "sample.md", None))
    assert text.startswith("Event-Driven Architecture in Plain Words\n\n")
    assert "#" not in text
    assert "**" not in text
    assert "called an event, to a shared log" in text
    assert 350 < len(text.split()) < 500


def test_markdown_links_lists_code_and_tables() -> None:
    """Links keep their text, bullets and fences go, code and table cells stay."""
    source = (
        "## Setup ##\n\n"
        "See [the guide](https://example.com/g) and ![logo](l.png).\n\n"
        "- first `item`\n"
        "2. second\n\n"
        "> quoted *words*\n\n"
        "```python\nprint('kept')\n```\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        "snake_case_name stays\n"
    )
    text = extract_text(source.encode(), Kind.MARKDOWN)
    assert text.split("\n\n")[0] == "Setup"
    assert "See the guide and logo." in text
    assert "first item\nsecond" in text
    assert "quoted words" in text
    assert "print('kept')" in text
    assert "```" not in text
    assert "a b" in text
    assert "1 2" in text
    assert "snake_case_name stays" in text


def test_markdown_hostile_line_is_fast() -> None:
    """A long line of unmatched emphasis and brackets is processed in linear time."""
    hostile = ("*a " * 50_000 + "[x" * 50_000).encode()
    text = extract_text(hostile, Kind.MARKDOWN)
    assert text.startswith("*a")


def test_plain_text_decodes_utf8_and_tidies() -> None:
    """UTF-8 text (with a BOM) is decoded and its whitespace tidied."""
    data = "\ufeffHéllo   wörld\r\n\r\n\r\n\r\nsecond\tline  ".encode()
    assert extract_text(data, Kind.TEXT) == "Héllo wörld\n\nsecond line"


def test_plain_text_latin1_fallback() -> None:
    """Latin-1 bytes that are clearly text decode instead of failing."""
    assert extract_text("Café crème".encode("latin-1"), Kind.TEXT) == "Café crème"


def test_plain_text_utf16_with_bom() -> None:
    """UTF-16 text carrying a BOM is decoded."""
    assert extract_text("naïve text".encode("utf-16"), Kind.TEXT) == "naïve text"


@pytest.mark.parametrize(
    "data",
    [
        b"\x01\x02\xfd\x00\x03\x04" * 100,  # NULs, invalid UTF-8
        b"\x01\x02\x03\x04abcd" * 100,  # valid UTF-8, but control characters
        b"\xff\xfe" + b"\x00\xd8\x01\x00" * 100,  # UTF-16 BOM, unpaired surrogates and controls
    ],
)
def test_binary_labelled_text_is_unsupported(data: bytes) -> None:
    """Binary bytes passed as TEXT are refused instead of decoded to mojibake."""
    with pytest.raises(UnsupportedDocument):
        extract_text(data, Kind.TEXT)


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"   \n\n\t  ", Kind.TEXT),
        (b"<html><head><title></title><script>x()</script></head><body> </body></html>", Kind.HTML),
        (b"---\n\n   \n", Kind.MARKDOWN),
        (b"", Kind.TEXT),
    ],
)
def test_no_text_is_empty_document(data: bytes, kind: Kind) -> None:
    """Input that holds no visible text raises EmptyDocument."""
    with pytest.raises(EmptyDocument, match="no extractable text"):
        extract_text(data, kind)


def test_oversized_input_is_refused_before_parsing() -> None:
    """Input larger than max_bytes raises DocumentTooLarge with both sizes in the message."""
    with pytest.raises(DocumentTooLarge, match="1001 bytes; the limit is 1000"):
        extract_text(b"a" * 1001, Kind.TEXT, ExtractLimits(max_bytes=1000))


def test_limits_are_validated() -> None:
    """A non-positive limit is a configuration error."""
    with pytest.raises(InvalidOptions, match="max_pages"):
        ExtractLimits(max_pages=0)


# --- bounds, passwords, what the model must not see -----------------------------------------


def test_inflating_pdf_is_stopped_at_its_time_bound_with_a_readable_reason() -> None:
    """A 45 KB PDF whose text inflates to 12 MB is refused at pdf_seconds, not after its full extraction."""
    from aiwf.workers.documents.samples.make_pdf import build_inflating_pdf

    data = build_inflating_pdf(12_000_000)
    assert len(data) < 100_000
    began = time.monotonic()
    with pytest.raises(DocumentTooLarge, match=r"PDF extraction took longer than 1 s"):
        extract_text(data, Kind.PDF, ExtractLimits(pdf_seconds=1))
    assert time.monotonic() - began < 5


def test_pdf_reader_memory_is_bounded() -> None:
    """The PDF reader's process stays under pdf_memory_bytes: an inflating PDF is refused, an ordinary one is not."""
    from aiwf.workers.documents.samples.make_pdf import build_inflating_pdf

    limits = ExtractLimits(pdf_seconds=60, pdf_memory_bytes=128 * 2**20)
    with pytest.raises(DocumentTooLarge, match="more than 128 MiB"):
        extract_text(build_inflating_pdf(12_000_000), Kind.PDF, limits)
    assert "Dead Letters" in extract_text((SAMPLES_DIR / "sample.pdf").read_bytes(), Kind.PDF, limits)


def test_password_opens_an_encrypted_pdf_and_a_wrong_one_says_so() -> None:
    """The right password opens a protected PDF; a wrong one is refused naming the password, not as garbage."""
    data = _encrypt(build_pdf([["Secret plans"]]), user_password="hunter2")
    assert "Secret plans" in extract_text(data, Kind.PDF, password="hunter2")
    with pytest.raises(CorruptDocument, match="the password given does not open it"):
        extract_text(data, Kind.PDF, password="wrong")
    with pytest.raises(CorruptDocument, match="send it in the upload's `password` field"):
        extract_text(data, Kind.PDF)


def test_markdown_comments_and_template_tags_never_reach_the_text() -> None:
    """HTML comments (also multi-line or unclosed) and {{ }}, {% %}, {# #} tags are dropped; prose stays."""
    source = (
        "# Title {{ page.title }}\n\n<!-- TODO: ask legal\nbefore publishing -->Plain prose stays.\n\n"
        "{% if draft %}Drafted text.{% endif %} {# reviewer note #}Done.\n\n"
        "```\ncode {{ kept? }}\n```\n\nTail <!-- never closed"
    )
    text = extract_text(source.encode(), Kind.MARKDOWN)
    assert text == "Title\n\nPlain prose stays.\n\nDrafted text. Done.\n\ncode\n\nTail"
    for fragment in ("TODO", "legal", "page.title", "draft %", "reviewer", "never closed", "{", "<!--"):
        assert fragment not in text


def test_template_stripping_stays_linear_on_hostile_input() -> None:
    """A megabyte of unclosed `{{` and `<!--` openers is read in well under a second."""
    began = time.perf_counter()
    extract_text(("{{" * 300_000 + " words " + "<!--" * 100_000).encode(), Kind.MARKDOWN)
    assert time.perf_counter() - began < 2
