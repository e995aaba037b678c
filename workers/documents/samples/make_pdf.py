"""A minimal PDF writer for samples and tests: text pages in Helvetica, Flate-compressed.

Run `python -m workers.documents.samples.make_pdf` to rebuild sample.pdf.
"""

from __future__ import annotations

import textwrap
import zlib
from collections.abc import Sequence
from pathlib import Path

__all__ = ["SAMPLE_PAGES", "build_inflating_pdf", "build_pdf"]

SAMPLE_PAGES: tuple[tuple[str, ...], ...] = (
    (
        "Streams, Groups and Acknowledgements",
        (
            "A stream is an append-only log of entries. Each entry has an id that grows with time,"
            " so readers can always tell which entries came first."
        ),
        (
            "A consumer group lets several workers share one stream. Every entry is delivered to one"
            " worker of the group, which must acknowledge it when the work is done."
        ),
    ),
    (
        "Pending Entries",
        (
            "An entry that was delivered but not acknowledged stays in the pending list of its group."
            " If a worker crashes, another worker can claim its pending entries after they sit idle"
            " for long enough."
        ),
        (
            "This is what makes delivery at-least-once: an entry is never forgotten, but it may be"
            " processed twice, so handlers must be safe to run again."
        ),
    ),
    (
        "Dead Letters",
        (
            "Some entries can never succeed, such as a payload that fails validation. After a fixed"
            " number of deliveries they move to a dead-letter stream with the error attached, so the"
            " rest of the stream keeps flowing."
        ),
    ),
)


def _escape(text: str) -> bytes:
    """Encode a PDF literal string: WinAnsi bytes with backslash, parens escaped."""
    raw = text.encode("cp1252", errors="replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def _content(paragraphs: Sequence[str], width: int) -> bytes:
    ops = [b"BT", b"72 720 Td"]
    for number, paragraph in enumerate(paragraphs):
        heading = number == 0
        ops.append(b"/F1 16 Tf 22 TL" if heading else b"/F1 11 Tf 15 TL")
        for line in textwrap.wrap(paragraph, width) or [""]:
            ops.append(b"(" + _escape(line) + b") Tj T*")
        ops.append(b"T*")
    ops.append(b"ET")
    return b"\n".join(ops)


def build_pdf(pages: Sequence[Sequence[str]], *, width: int = 80, compress: bool = True) -> bytes:
    """Return a valid PDF with one page per item; a page's first string is its heading."""
    return _assemble([_content(paragraphs, width) for paragraphs in pages], compress=compress)


def build_inflating_pdf(chars: int = 12_000_000) -> bytes:
    """A PDF of a few KiB whose one page draws `chars` characters: Flate packs the repeated lines ~1000:1."""
    line = b"(" + b"Inflate " * 12 + b"me) Tj T*"
    lines = max(1, chars // 98)
    return _assemble([b"BT /F1 1 Tf 1 TL 72 720 Td\n" + b"\n".join([line] * lines) + b"\nET"], compress=True)


def _assemble(contents: Sequence[bytes], *, compress: bool) -> bytes:
    objects: list[bytes] = [
        b"",
        b"",
        (b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"),
    ]
    kids: list[int] = []
    for content in contents:
        stream, extra = content, b""
        if compress:
            stream, extra = zlib.compress(content), b" /Filter /FlateDecode"
        objects.append(b"<< /Length %d%s >>\nstream\n%s\nendstream" % (len(stream), extra, stream))
        content_id = len(objects)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792]"
            b" /Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % content_id,
        )
        kids.append(len(objects))
    objects[0] = b"<< /Type /Catalog /Pages 2 0 R >>"
    kid_refs = b" ".join(b"%d 0 R" % kid for kid in kids)
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kid_refs, len(kids))

    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


if __name__ == "__main__":
    target = Path(__file__).with_name("sample.pdf")
    target.write_bytes(build_pdf(SAMPLE_PAGES))
    print(f"wrote {target} ({target.stat().st_size} bytes)")
