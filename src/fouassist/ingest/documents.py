"""Documents: reading files (PDF, text, Markdown, HTML, DOCX) and finding their metadata.

`read_document` turns one file (or uploaded bytes) into a `Document`: cleaned text, blocks with
offsets, sections, pages, and metadata found in the text (title, organisation, date, language),
then overridden by the manifest where it has an entry for the file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
import tomllib
import zipfile
from bisect import bisect_right
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from html.parser import HTMLParser
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from fouassist.config import Settings
from fouassist.ingest.cleaning import Block, clean_pages
from fouassist.language.analysis import Analyzer
from fouassist.language.words import (
    DATE_LABELS,
    MONTH_ABBREVIATIONS,
    MONTHS,
    ORGANISATION_PREFIXES,
    PLACEHOLDER_TITLES,
    one_of,
)

SUPPORTED_SUFFIXES = {".pdf": "pdf", ".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown",
                      ".html": "html", ".htm": "html", ".docx": "docx"}
_MIN_CHARS_PER_PAGE = 25  # below this a PDF page has no real text layer
# Terminal escapes (CSI "ESC [ ... m", OSC "ESC ] ... BEL") and other control characters
_CONTROL_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|[\x00-\x1f\x7f-\x9f]")


_SETTINGS = Settings.model_construct()  # the defaults, without reading the environment


@dataclass(frozen=True)
class ReadLimits:
    """How much work one document may cost, counted while it is extracted: its text (per page and
    in all), its pages, the elements and nesting of HTML, the paragraphs and XML elements of DOCX,
    and what a DOCX or HTML file may expand to (a small ZIP can hold gigabytes of XML).
    The defaults are the settings' defaults (the service passes its settings)."""

    max_chars: int = _SETTINGS.max_document_chars
    max_expanded_mb: int = _SETTINGS.max_expanded_mb
    max_pages: int = _SETTINGS.max_pages
    max_page_chars: int = _SETTINGS.max_page_chars
    max_html_nodes: int = _SETTINGS.max_html_nodes
    max_html_depth: int = _SETTINGS.max_html_depth
    max_docx_paragraphs: int = _SETTINGS.max_docx_paragraphs
    max_docx_elements: int = _SETTINGS.max_docx_elements
    max_chars_per_byte: int = _SETTINGS.max_chars_per_byte
    max_unpacked_ratio: int = _SETTINGS.max_unpacked_ratio
    file_bytes: int | None = None  # the size of the file being read, once known

    def sized(self, file_bytes: int) -> ReadLimits:
        return replace(self, file_bytes=file_bytes)

    def check_chars(self, name: str, characters: int) -> None:
        if characters > self.max_chars:
            raise DocumentError(name, f"the document has more than {self.max_chars:,} characters of text (the "
                                      "limit). Split it into smaller documents", code="too_large")
        # Work grows with the text: text far larger than its file is refused however small the file.
        if self.file_bytes is not None and characters > self.max_chars_per_byte * self.file_bytes:
            raise DocumentError(name, f"the file's {self.file_bytes:,} bytes hold more than "
                                      f"{self.max_chars_per_byte} characters of text per byte (the limit); so much "
                                      "text from so small a file comes from a damaged or crafted file. Save the "
                                      "text as a .txt file and upload that", code="too_large")

    def check_count(self, name: str, count: int, limit: int, what: str, advice: str) -> None:
        if count > limit:
            raise DocumentError(name, f"the document has more than {limit:,} {what} (the limit). {advice}",
                                code="too_large")


class DocumentError(Exception):
    """A file that cannot be read as a document; the message says which file and what to do.

    `code` names the kind of problem (for messages in the user's language): unsupported, empty,
    wrong_type, binary, encoding, encrypted, damaged, scan, no_text, unreadable, manifest, too_large.
    """

    def __init__(self, source: str, reason: str, code: str = "unreadable") -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason
        self.code = code


@dataclass
class Section:
    number: str | None
    title: str
    level: int
    start: int  # offset of the heading in the document text
    end: int  # where the next heading starts
    page: int | None = None

    @property
    def label(self) -> str:
        return f"{self.number} {self.title}" if self.number else self.title


@dataclass
class Document:
    id: str  # content hash of the source bytes (16 hex digits)
    source: str  # file name, or the name given at upload
    format: str
    text: str  # cleaned text; every offset points into it
    title: str
    language: str
    organisation: str | None = None
    date: str | None = None  # ISO 8601
    sections: list[Section] = field(default_factory=list)
    page_starts: list[int] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)
    extra: dict[str, str] = field(default_factory=dict)  # manifest fields such as url

    def page_at(self, offset: int) -> int | None:
        if not self.page_starts:
            return None
        return max(1, bisect_right(self.page_starts, offset))

    def _section_index(self, offset: int) -> int:
        """Index of the last section starting at or before `offset`; -1 before the first."""
        return bisect_right(self.sections, offset, key=lambda section: section.start) - 1

    def section_at(self, offset: int) -> Section | None:
        index = self._section_index(offset)
        return self.sections[index] if index >= 0 else None

    def heading_path(self, offset: int) -> list[str]:
        """Labels of the section at `offset` and of the sections it belongs to."""
        index = self._section_index(offset)
        return [s.label for s in self._section_paths[index]] if index >= 0 else []

    @cached_property
    def _section_paths(self) -> list[list[Section]]:
        """For each section, the sections it belongs to and itself: one pass over the sections."""
        paths: list[list[Section]] = []
        path: list[Section] = []
        for section in self.sections:
            path = [s for s in path if s.level < section.level] + [section]
            paths.append(path)
        return paths

    def record(self) -> dict:
        """Metadata without the text, as listed by the API and the CLI."""
        return {
            "id": self.id, "source": self.source, "format": self.format, "title": self.title,
            "organisation": self.organisation, "date": self.date, "language": self.language,
            "sections": [asdict(s) for s in self.sections], "pages": len(self.page_starts) or None,
            "characters": len(self.text), **({"extra": self.extra} if self.extra else {}),
        }


class ManifestEntry(BaseModel):
    """What the manifest may say about one file; anything else is a typo and an error."""

    model_config = ConfigDict(extra="forbid")
    title: str | None = None
    organisation: str | None = None
    date: dt.date | None = None
    language: Literal["sv", "nb", "nn"] | None = None
    url: str | None = None
    kind: str | None = None
    description: str | None = None


def load_manifest(path: Path) -> dict[str, ManifestEntry]:
    """Read `[documents."file name"]` tables from a TOML manifest; a missing file is empty."""
    if not path.is_file():
        return {}
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        return {name: ManifestEntry.model_validate(entry) for name, entry in raw.get("documents", {}).items()}
    except (tomllib.TOMLDecodeError, ValidationError) as error:
        raise DocumentError(str(path), f"the manifest is not valid: {error}. Fix the entry and run again.", code="manifest") from None


# -- reading bytes ------------------------------------------------------------------------------

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


def clean_title(title: str) -> str:
    """A title as it may be stored and shown: no control characters or terminal escapes, one line."""
    return " ".join(_CONTROL_RE.sub(" ", title).split())[:500]


_HTML_BLOCKS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "td", "th", "pre", "blockquote", "dt", "dd",
                          "figcaption"})
_HTML_SKIPPED = frozenset({"script", "style", "nav", "header", "footer", "aside", "noscript", "form", "template"})
_HTML_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
                        "track", "wbr"})
# A start tag that ends an open element of its group, as browsers end an unclosed <li> or <td>;
# and those that end an unclosed <p>.
_HTML_ENDS_SIBLING = {"li": {"li"}, "dt": {"dt", "dd"}, "dd": {"dt", "dd"}, "td": {"td", "th"}, "th": {"td", "th"},
                      "tr": {"tr", "td", "th"}, "option": {"option"}}
_HTML_ENDS_P = frozenset({"address", "article", "aside", "blockquote", "details", "div", "dl", "fieldset", "figure",
                          "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "main", "nav", "ol",
                          "p", "pre", "section", "table", "ul"})


class _HtmlText(HTMLParser):
    """The text of a web page as lines, one per outermost block element (headings as Markdown,
    list items with a dash), in one pass over the page, without building a tree: the elements,
    their nesting and the text are counted as they come, against `limits`."""

    def __init__(self, name: str, limits: ReadLimits) -> None:
        super().__init__(convert_charrefs=True)
        self.name, self.limits = name, limits
        self.stack: list[str] = []
        self.nodes = self.characters = self.skipping = 0
        self.block_at: int | None = None  # stack depth of the open outermost block element
        self.block: list[str] = []
        self.lines: list[str] = []
        self.loose: list[str] = []  # all text, for a page without block elements
        self.title: list[str] | None = None

    def handle_starttag(self, tag: str, attrs) -> None:
        self._count_node()
        if self.stack and (self.stack[-1] in _HTML_ENDS_SIBLING.get(tag, ())
                           or (self.stack[-1] == "p" and tag in _HTML_ENDS_P)):
            self._close_to(len(self.stack) - 1)
        if tag in _HTML_VOID:
            return
        self.stack.append(tag)
        self.limits.check_count(self.name, len(self.stack), self.limits.max_html_depth, "levels of nested HTML "
                                "elements", "Save the page's text as a .txt file and upload that")
        self.skipping += tag in _HTML_SKIPPED
        if tag in _HTML_BLOCKS and self.block_at is None and not self.skipping:
            self.block_at = len(self.stack) - 1
        if tag == "title" and self.title is None:
            self.title = []

    def handle_startendtag(self, tag: str, attrs) -> None:
        self._count_node()

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, -1, -1):  # at most max_html_depth steps
            if self.stack[depth] == tag:
                self._close_to(depth)
                return

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        self.characters += len(data)
        self.limits.check_chars(self.name, self.characters)
        if self.stack and self.stack[-1] == "title" and self.title is not None:
            self.title.append(data)
        if self.block_at is not None:
            self.block.append(data)
        elif not self.lines:
            self.loose.append(data)

    def close(self) -> None:
        super().close()
        self._close_to(0)

    def text(self) -> tuple[str, str | None]:
        lines = self.lines or ["\n".join(part.strip() for part in self.loose if part.strip())]
        title = " ".join(" ".join(self.title).split()) if self.title else None
        return "\n\n".join(lines), title or None

    def _count_node(self) -> None:
        self.nodes += 1
        self.limits.check_count(self.name, self.nodes, self.limits.max_html_nodes, "HTML elements",
                                "Save the page's text as a .txt file and upload that")

    def _close_to(self, depth: int) -> None:
        """End the elements from `depth` up."""
        while len(self.stack) > depth:
            tag = self.stack.pop()
            self.skipping -= tag in _HTML_SKIPPED
            if self.block_at == len(self.stack):
                self._end_block(tag)

    def _end_block(self, tag: str) -> None:
        text = " ".join(" ".join(self.block).split())
        self.block_at, self.block = None, []
        if not text:
            return
        if tag[0] == "h" and tag[1:].isdigit():
            self.lines.append(f"{'#' * int(tag[1:])} {text}")
        elif tag == "li":
            self.lines.append(f"- {text}")
        else:
            self.lines.append(text)
        self.loose = []


def _html_text(name: str, data: str, limits: ReadLimits) -> tuple[str, str | None]:
    parser = _HtmlText(name, limits)
    parser.feed(data)
    parser.close()
    return parser.text()


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
            text, title = _html_text(name, text, limits)
        pages = [text]
    limits.check_chars(name, sum(len(page) for page in pages))
    return kind, pages, title


# -- metadata found in the text -----------------------------------------------------------------

_MONTHS = {**MONTHS, **MONTH_ABBREVIATIONS}
_DATE_VALUE = (
    r"(?P<iso>\d{4}-\d{2}-\d{2})|(?P<dmy>\d{1,2}\.\d{1,2}\.\d{4})|"
    r"(?P<day>\d{1,2})\.?\s+(?P<month>[a-zåäöæø]+)\.?\s+(?P<year>\d{4})"
)
_DATE_RE = re.compile(rf"\b{one_of(DATE_LABELS)}\b[\s:]*(?:den\s+|d\.\s*)?(?:{_DATE_VALUE})", re.IGNORECASE)
_ORG_RE = re.compile(
    rf"\b(?:{one_of(ORGANISATION_PREFIXES)}\s+[A-ZÅÄÖÆØ][\wåäöæø]+(?:-[A-ZÅÄÖÆØ][\wåäöæø]+)?"
    r"|[A-ZÅÄÖ][\wåäö]+ läns landsting|Västra Götalandsregionen|[A-ZÆØÅ][\wæøå]+ universitetssykehus"
    r"|Helse [A-ZÆØÅ][\wæøå]+ HF|St\. Olavs hospital)"
)
_LOGO_RE = re.compile(r"^\s*logo\s+(.+?)\s*$", re.IGNORECASE | re.MULTILINE)


def find_date(text: str) -> str | None:
    """The first date the text states with a label ("Datum 2025-05-22", "Publisert 13.06.2023")."""
    for match in _DATE_RE.finditer(text):
        try:
            if match.group("iso"):
                return dt.date.fromisoformat(match.group("iso")).isoformat()
            if match.group("dmy"):
                day, month, year = (int(p) for p in match.group("dmy").split("."))
                return dt.date(year, month, day).isoformat()
            month = _MONTHS.get(match.group("month").lower())
            if month:
                return dt.date(int(match.group("year")), month, int(match.group("day"))).isoformat()
        except ValueError:
            continue
    return None


def find_organisation(raw_text: str) -> str | None:
    """The organisation behind a document: its logo line, else the most named organisation."""
    logo = _LOGO_RE.search(raw_text)
    if logo and _ORG_RE.fullmatch(logo.group(1)):
        return logo.group(1)
    counts: dict[str, int] = {}
    for match in _ORG_RE.finditer(raw_text):
        name = match.group(0)
        counts[name] = counts.get(name, 0) + 1
    # Fold genitives ("Region Stockholms") into the base form when the text uses both.
    for name in list(counts):
        if name.endswith("s") and name[:-1] in counts:
            counts[name[:-1]] += counts.pop(name)
    return max(counts, key=lambda n: counts[n]) if counts else None


def _find_title(blocks: list[Block]) -> Block | None:
    """The first unnumbered heading near the start of the text, before any real paragraph; or a
    short first line right before the first numbered heading (PDFs lose the blank line after it)."""
    for index, block in enumerate(blocks[:6]):
        words = block.text.split()
        if block.kind == "heading" and block.number is None and (len(words) >= 2 or block.level >= 1):
            return block
        following = blocks[index + 1] if index + 1 < len(blocks) else None
        if (block.kind == "paragraph" and 2 <= len(words) <= 14 and block.text[0].isupper()
                and not block.text.endswith((".", ":", ";", ",")) and following is not None
                and following.kind == "heading" and following.number):
            return block
        if block.kind in ("heading", "item") or (block.kind == "paragraph" and len(block.text) > 120):
            return None
    return None


def _file_title(title: str | None) -> str | None:
    """A title from a file's own metadata, unless it is a placeholder a program left there."""
    if not title:
        return None
    title = re.sub(r"^Microsoft (?:Word|PowerPoint) - ", "", title.strip())
    title = re.sub(r"\.(?:docx?|pptx?|pdf)$", "", title, flags=re.IGNORECASE).strip()
    return None if not title or title.lower() in PLACEHOLDER_TITLES else title


def _sections(blocks: list[Block], text_length: int) -> list[Section]:
    headings = [b for b in blocks if b.kind == "heading"]
    numbered = any(b.number for b in headings)
    sections: list[Section] = []
    depth = 0
    for block in headings:
        if block.number:
            level = depth = block.level
        elif block.level:  # Markdown, HTML and DOCX headings carry their level
            level = block.level
        else:
            level = depth + 1 if numbered else 1
        sections.append(Section(block.number, block.text, level, block.start, text_length, block.page))
    for section, following in zip(sections, sections[1:]):
        section.end = following.start
    return sections


def content_id(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def read_document(
    name: str,
    data: bytes,
    analyzer: Analyzer,
    manifest: dict[str, ManifestEntry] | None = None,
    title: str | None = None,
    limits: ReadLimits = ReadLimits(),
) -> Document:
    """Read one file's bytes into a Document. Raises DocumentError with a reason to show."""
    kind, pages, file_title = extract_pages(name, data, limits)
    text, blocks, page_starts = clean_pages(pages, paged=kind == "pdf")
    if len(text.strip()) < 20 or not re.search(r"[^\W\d_]{2,}", text):
        raise DocumentError(name, "the file contains no readable text", code="no_text")
    title_block = _find_title(blocks)
    if title_block is not None:
        title_block.kind = "title"
    entry = (manifest or {}).get(Path(name).name) or ManifestEntry()
    found_title = title_block.text if title_block else _file_title(file_title)
    document = Document(
        id=content_id(data),
        source=Path(name).name,
        format=kind,
        text=text,
        title=clean_title(title or entry.title or found_title or "") or clean_title(Path(name).stem) or "Dokument",
        language=entry.language or analyzer.detect_language(text),
        organisation=entry.organisation or find_organisation("\n".join(pages)),
        date=entry.date.isoformat() if entry.date else find_date(text),
        sections=_sections(blocks, len(text)),
        page_starts=page_starts,
        blocks=blocks,
        extra={k: v for k, v in {"url": entry.url, "kind": entry.kind, "description": entry.description}.items() if v},
    )
    return document


def read_file(path: Path, analyzer: Analyzer, manifest: dict[str, ManifestEntry] | None = None) -> Document:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DocumentError(path.name, f"the file cannot be read ({error.strerror}); check its permissions") from None
    return read_document(path.name, data, analyzer, manifest)
