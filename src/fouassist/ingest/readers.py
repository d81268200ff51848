"""Format readers: a file's bytes to pages of raw text and the title in its own metadata.

`extract_pages` checks the format named by the suffix against the bytes (`detect_format`), then
reads a PDF (pypdf), a DOCX (python-docx), an HTML page (`html_reader`) or text in any common
encoding (`decode_text`), counting the work against `ReadLimits` as it goes.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

from fouassist.ingest.html_reader import html_text
from fouassist.ingest.read_limits import DocumentError, ReadLimits

SUPPORTED_SUFFIXES = {".pdf": "pdf", ".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown",
                      ".html": "html", ".htm": "html", ".docx": "docx"}
_MIN_CHARS_PER_PAGE = 25  # below this a PDF page has no real text layer


def detect_format(name: str, data: bytes) -> str:
    """The format named by the file's suffix, checked against what its bytes really are."""
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        known = ", ".join(sorted(SUPPORTED_SUFFIXES))
        raise DocumentError(name, f"unsupported file type '{suffix or 'none'}'; supported: {known}", code="unsupported")
    declared = SUPPORTED_SUFFIXES[suffix]
    if not data.strip():
        raise DocumentError(name, "the file is empty", code="empty")
    is_pdf, is_zip = data[:5] == b"%PDF-", data[:4] == b"PK\x03\x04"
    if declared == "pdf" and not is_pdf:
        raise DocumentError(name, "the file is named .pdf but is not a PDF; check the file or rename it", code="wrong_type")
    if declared == "docx" and not is_zip:
        raise DocumentError(name, "the file is named .docx but is not a Word document; check the file or rename it", code="wrong_type")
    if declared in ("text", "markdown", "html") and (is_pdf or is_zip):
        actual = "a PDF" if is_pdf else "a ZIP or Office file"
        raise DocumentError(name, f"the file is named {suffix} but is {actual}; give it its real extension", code="wrong_type")
    return declared


def decode_text(name: str, data: bytes) -> str:
    """Decode text in UTF-8 (with or without BOM), UTF-16 with BOM, or a legacy 8-bit encoding."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="strict")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    binary = DocumentError(name, "the file is binary, not text; upload a PDF, DOCX, HTML, Markdown or text file", code="binary")
    if b"\x00" in data[:4096]:
        raise binary
    try:
        # Windows-1252 is what legacy Swedish and Norwegian text files almost always are.
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        from charset_normalizer import from_bytes

        best = from_bytes(data).best()
        if best is None:
            raise DocumentError(name, "the file's text encoding could not be recognised; save it as UTF-8", code="encoding") from None
        text = str(best)
    controls = sum(1 for ch in text[:20_000] if ord(ch) < 32 and ch not in "\n\r\t\f")
    if controls > 0.05 * min(len(text), 20_000):
        raise binary
    return text


def _pdf_pages(name: str, data: bytes, limits: ReadLimits) -> tuple[list[str], str | None]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentError(name, "the PDF is encrypted with a password; save an unprotected copy and ingest that", code="encrypted")
        limits.check_count(name, len(reader.pages), limits.max_pages, "pages", "Split the PDF into smaller parts")
        pages = _pdf_texts(name, reader, limits)
        title = (reader.metadata or {}).get("/Title") if reader.metadata else None
    except DocumentError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError, RecursionError) as error:
        raise DocumentError(name, f"the PDF is damaged and cannot be read ({type(error).__name__}: {error})",
                            code="damaged") from None
    except Exception as error:  # pypdf raises many kinds of error on broken files
        if "crypt" in str(error).lower():
            raise DocumentError(name, "the PDF is encrypted and cannot be read; save an unprotected copy", code="encrypted") from None
        raise DocumentError(name, f"the PDF is damaged and cannot be read ({type(error).__name__}: {error})",
                            code="damaged") from None
    if not pages:
        raise DocumentError(name, "the PDF has no pages", code="no_text")
    if sum(len(p.strip()) for p in pages) < _MIN_CHARS_PER_PAGE * len(pages):
        raise DocumentError(
            name, f"the PDF has no extractable text on its {len(pages)} page(s); it looks like a scan. "
            "Run OCR on it first (for example ocrmypdf) and ingest the result", code="scan",
        )
    return pages, str(title).strip() if title else None


def _pdf_texts(name: str, reader, limits: ReadLimits) -> list[str]:
    """The text of each page, counted as it is extracted, as are the bytes of drawing instructions
    read to extract it. Pages that share their content stream and resources have the same text,
    which is extracted once."""
    texts: list[str] = []
    extracted: dict[tuple, str] = {}
    characters = content_bytes = 0
    for page in reader.pages:
        key = _pdf_content_key(page)
        text = extracted.get(key) if key else None
        if text is None:
            content_bytes += _pdf_content_bytes(page)
            if content_bytes > limits.max_unpacked_ratio * (limits.file_bytes or 0):
                raise DocumentError(name, f"the PDF's pages hold more than {limits.max_unpacked_ratio} times its "
                                          "size in drawing instructions (the limit); such a PDF is damaged or crafted. "
                                          "Print it to a new PDF, or save its text as a .txt file", code="too_large")
            text = page.extract_text() or ""
            if key:
                extracted[key] = text
        limits.check_count(name, len(text), limits.max_page_chars, f"characters on page {len(texts) + 1}",
                           "Check that the PDF holds real text, or split it")
        characters += len(text)
        limits.check_chars(name, characters)
        texts.append(text)
    return texts


def _pdf_content_bytes(page) -> int:
    contents = page.get("/Contents")
    streams = contents if isinstance(contents, list) else [contents]
    return sum(len(stream.get_object().get_data()) for stream in streams if stream is not None)


def _pdf_content_key(page) -> tuple | None:
    """What decides a page's text, as object numbers: its content streams and its resources.
    None when either is not an indirect object (then it is not shared)."""
    from pypdf.generic import ArrayObject, IndirectObject

    contents = page.raw_get("/Contents") if "/Contents" in page else None
    resources = page.raw_get("/Resources") if "/Resources" in page else page.raw_get("/Parent")
    parts = list(contents) if isinstance(contents, ArrayObject) else [contents]
    if not all(isinstance(part, IndirectObject) for part in [*parts, resources]):
        return None
    return tuple((part.idnum, part.generation) for part in [*parts, resources])


def _docx_text(name: str, data: bytes, limits: ReadLimits) -> tuple[str, str | None]:
    import docx

    try:
        expanded = sum(info.file_size for info in zipfile.ZipFile(io.BytesIO(data)).infolist())
    except (zipfile.BadZipFile, ValueError) as error:
        raise DocumentError(name, f"the Word document is damaged and cannot be read ({error})", code="damaged") from None
    if expanded > limits.max_expanded_mb * 1024 * 1024:
        raise DocumentError(name, f"the Word document expands to {expanded / 1024 / 1024:,.0f} MB when unpacked; the "
                                  f"limit is {limits.max_expanded_mb} MB. Save it again without embedded objects, "
                                  "or split it", code="too_large")
    if expanded > limits.max_unpacked_ratio * len(data):
        raise DocumentError(name, f"the Word document expands to {expanded / len(data):,.0f} times its size when "
                                  f"unpacked; the limit is {limits.max_unpacked_ratio} times. Save it again as a plain "
                                  "Word document", code="too_large")
    _count_docx(name, data, limits)
    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError, SyntaxError) as error:  # lxml's XMLSyntaxError is a SyntaxError
        raise DocumentError(name, f"the Word document is damaged and cannot be read ({type(error).__name__}: {error})",
                            code="damaged") from None
    lines: list[str] = []
    for paragraph in document.paragraphs:
        text = paragraph.text.strip()
        if not text:
            continue
        style = (paragraph.style.name if paragraph.style is not None else "").lower()
        level = re.search(r"heading (\d)|rubrik (\d)|overskrift (\d)", style)
        if level:
            lines.append(f"{'#' * int(next(g for g in level.groups() if g))} {text}")
        elif style == "title":
            lines.append(f"# {text}")
        elif "list" in style:
            lines.append(f"- {text}")
        else:
            lines.append(text)
    for table in document.tables:
        for row in table.rows:
            cells = [c.text.strip() for c in row.cells if c.text.strip()]
            if cells:
                lines.append(" | ".join(dict.fromkeys(cells)))
    title = document.core_properties.title or None
    return "\n\n".join(lines), title


_WORD_PARAGRAPH = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}p"


def _count_docx(name: str, data: bytes, limits: ReadLimits) -> None:
    """Count the paragraphs and XML elements of every XML part in one streaming pass, keeping no
    tree, so that python-docx (which builds one in memory) only reads documents within the limits."""
    from lxml import etree

    paragraphs = elements = 0
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for member in archive.namelist():
                if not member.endswith((".xml", ".rels")):
                    continue
                with archive.open(member) as xml:
                    for _, element in etree.iterparse(xml, events=("end",), resolve_entities=False,
                                                      no_network=True, load_dtd=False):
                        elements += 1
                        paragraphs += element.tag == _WORD_PARAGRAPH
                        element.clear(keep_tail=True)
                        while element.getprevious() is not None:
                            del element.getparent()[0]
                        limits.check_count(name, elements, limits.max_docx_elements, "XML elements",
                                           "Save it again as a plain Word document, or split it")
                        limits.check_count(name, paragraphs, limits.max_docx_paragraphs, "paragraphs",
                                           "Remove empty paragraphs, or split the document")
    except (zipfile.BadZipFile, KeyError, ValueError, SyntaxError) as error:  # lxml's XMLSyntaxError is a SyntaxError
        raise DocumentError(name, f"the Word document is damaged and cannot be read ({type(error).__name__}: {error})",
                            code="damaged") from None


def extract_pages(name: str, data: bytes, limits: ReadLimits) -> tuple[str, list[str], str | None]:
    """(format, pages of raw text, title from the file's own metadata)."""
    kind = detect_format(name, data)
    limits = limits.sized(len(data))
    title = None
    if kind == "pdf":
        pages, title = _pdf_pages(name, data, limits)
    elif kind == "docx":
        text, title = _docx_text(name, data, limits)
        pages = [text]
    else:
        text = decode_text(name, data)
        if kind == "html":
            if len(text) > limits.max_expanded_mb * 1024 * 1024:
                raise DocumentError(name, f"the page has {len(text) / 1024 / 1024:,.0f} MB of HTML; the limit is "
                                          f"{limits.max_expanded_mb} MB. Save its text instead", code="too_large")
            text, title = html_text(name, text, limits)
        pages = [text]
    limits.check_chars(name, sum(len(page) for page in pages))
    return kind, pages, title
