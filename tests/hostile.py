"""Uploads that are small but cost much to read (security issue 25, F7), built at any size.
Shared by tests/test_parse_bounds.py and bench/parse_bounds.py."""

from __future__ import annotations

import io
import zipfile
import zlib

WORD_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def hyphen_lines(size: int) -> bytes:
    """Lines ending in a hyphen: one paragraph whose lines all join ("ab-ab-ab-...")."""
    return b"ab-\n" * (size // 4)


def nested_html(size: int) -> bytes:
    """Elements nested as deep as the size allows, text at the bottom."""
    return b"<div><span>" * ((size - 40) // 11) + b"<p>Forskning i regionen.</p>"


def paragraph_flood(size: int) -> bytes:
    """Start tags of paragraphs that never close."""
    return b"<p>" * (size // 3)


def docx_with_body(body: bytes) -> bytes:
    """A Word document whose document.xml is `body` (compressed: a small file can hold a lot)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.'
                         'org/package/2006/content-types"><Override PartName="/word/document.xml" ContentType="'
                         'application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>')
        archive.writestr("_rels/.rels", '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/'
                         'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
                         'officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>'
                         '</Relationships>')
        archive.writestr("word/document.xml", body)
    return buffer.getvalue()


def word_body(paragraphs: bytes) -> bytes:
    return (f'<?xml version="1.0"?><w:document xmlns:w="{WORD_NS}"><w:body>'.encode() + paragraphs
            + b"</w:body></w:document>")


def empty_paragraphs_docx(size: int) -> bytes:
    """A Word document of nothing but empty paragraphs, compressed to about `size` bytes."""
    return docx_with_body(word_body(b"<w:p/>" * (size * 670 // 6)))


def numbered_paragraphs_docx(count: int) -> bytes:
    """A Word document of `count` short paragraphs that compress like text (within the unpacked ratio)."""
    return docx_with_body(word_body(b"".join(b"<w:p><w:r><w:t>%d</w:t></w:r></w:p>" % n for n in range(count))))


def pdf(pages: int, content: bytes, shared_resources: bool = True, compress: bool = True) -> bytes:
    """A PDF of `pages` pages that all draw the one content stream `content`. With shared
    resources they are the same page; without, each page has its own (equal) resource dictionary."""
    stream = zlib.compress(content, 9) if compress else content
    font = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [" + b" ".join(b"%d 0 R" % (6 + n) for n in range(pages))
               + b"] /Count %d >>" % pages,
               font, b"<< /Font << /F1 3 0 R >> >>",
               b"<< /Length %d%s >>\nstream\n" % (len(stream), b" /Filter /FlateDecode" if compress else b"")
               + stream + b"\nendstream"]
    resources = b"4 0 R" if shared_resources else b"<< /Font << /F1 3 0 R >> >>"
    objects += [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 5 0 R /Resources " + resources
                + b" >>"] * pages
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def text_lines(lines: int, text: str = "Forskning och innovation i regionen") -> bytes:
    """A content stream that writes `lines` lines of text."""
    return (b"BT /F1 10 Tf 40 780 Td 12 TL\n"
            + b"".join(b"(%s %d) '\n" % (text.encode("latin-1"), n) for n in range(lines)) + b"ET")


def drawing(operations: int) -> bytes:
    """A content stream of drawing operations and one line of text: long to parse, little text."""
    return b"q\n" + b"1 0 0 1 0 0 cm 0 0 m 1 1 l S\n" * operations + b"Q\n" + text_lines(1)


def shared_stream_pdf(size: int) -> bytes:
    """Pages sharing one content stream, about `size` bytes (the issue's 21 KB PDF: 62 s, 542 MB)."""
    return pdf(max(1, (size - 2000) // 110), text_lines(400))
