"""Documents: reading files (PDF, text, Markdown, HTML, DOCX) and finding their metadata.

`read_document` turns one file (or uploaded bytes) into a `Document`: cleaned text, blocks with
offsets, sections, pages, and metadata found in the text (title, organisation, date, language),
then overridden by the manifest where it has an entry for the file.
"""

from __future__ import annotations

import hashlib
import io
import re
import tomllib
import zipfile
from dataclasses import asdict, dataclass, field
import datetime as dt
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from fouassist.analysis import Analyzer
from fouassist.cleaning import Block, clean_pages

SUPPORTED_SUFFIXES = {".pdf": "pdf", ".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown",
                      ".html": "html", ".htm": "html", ".docx": "docx"}
_MIN_CHARS_PER_PAGE = 25  # below this a PDF page has no real text layer
# Terminal escapes (CSI "ESC [ ... m", OSC "ESC ] ... BEL") and other control characters
_CONTROL_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class ReadLimits:
    """How much work one document may cost: its extracted text, and what a DOCX or HTML file
    may expand to before it is parsed (a small ZIP can hold gigabytes of XML)."""

    max_chars: int = 3_000_000
    max_expanded_mb: int = 100

    def check_chars(self, name: str, text: str) -> None:
        if len(text) > self.max_chars:
            raise DocumentError(name, f"the document has {len(text):,} characters of text; the limit is "
                                      f"{self.max_chars:,}. Split it into smaller documents", code="too_large")


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
        page = 1
        for number, start in enumerate(self.page_starts, start=1):
            if start <= offset:
                page = number
        return page

    def section_at(self, offset: int) -> Section | None:
        found = None
        for section in self.sections:
            if section.start <= offset:
                found = section
            else:
                break
        return found

    def heading_path(self, offset: int) -> list[str]:
        """Labels of the section at `offset` and of the sections it belongs to."""
        path: list[Section] = []
        for section in self.sections:
            if section.start > offset:
                break
            path = [s for s in path if s.level < section.level] + [section]
        return [s.label for s in path]

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


def _pdf_pages(name: str, data: bytes) -> tuple[list[str], str | None]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentError(name, "the PDF is encrypted with a password; save an unprotected copy and ingest that", code="encrypted")
        pages = [page.extract_text() or "" for page in reader.pages]
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


def clean_title(title: str) -> str:
    """A title as it may be stored and shown: no control characters or terminal escapes, one line."""
    return " ".join(_CONTROL_RE.sub(" ", title).split())[:500]


def _html_text(data: str) -> tuple[str, str | None]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(data, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else None
    for tag in soup(["script", "style", "nav", "header", "footer", "aside", "noscript", "form", "template"]):
        tag.decompose()
    blocks = ["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "td", "th", "pre", "blockquote", "dt", "dd", "figcaption"]
    lines: list[str] = []
    for element in soup.find_all(blocks):
        if element.find_parent(blocks):
            continue  # its text is part of the enclosing block
        text = " ".join(element.get_text(" ", strip=True).split())
        if not text:
            continue
        if element.name[0] == "h" and element.name[1:].isdigit():
            lines.append(f"{'#' * int(element.name[1:])} {text}")
        elif element.name == "li":
            lines.append(f"- {text}")
        else:
            lines.append(text)
    if not lines:
        lines = [soup.get_text("\n", strip=True)]
    return "\n\n".join(lines), title


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


def extract_pages(name: str, data: bytes, limits: ReadLimits) -> tuple[str, list[str], str | None]:
    """(format, pages of raw text, title from the file's own metadata)."""
    kind = detect_format(name, data)
    title = None
    if kind == "pdf":
        pages, title = _pdf_pages(name, data)
    elif kind == "docx":
        text, title = _docx_text(name, data, limits)
        pages = [text]
    else:
        text = decode_text(name, data)
        if kind == "html":
            if len(text) > limits.max_expanded_mb * 1024 * 1024:
                raise DocumentError(name, f"the page has {len(text) / 1024 / 1024:,.0f} MB of HTML; the limit is "
                                          f"{limits.max_expanded_mb} MB. Save its text instead", code="too_large")
            text, title = _html_text(text)
        pages = [text]
    limits.check_chars(name, "".join(pages))
    return kind, pages, title


# -- metadata found in the text -----------------------------------------------------------------

_MONTHS = {
    "januari": 1, "januar": 1, "jan": 1, "februari": 2, "februar": 2, "feb": 2, "mars": 3, "mar": 3,
    "april": 4, "apr": 4, "maj": 5, "mai": 5, "juni": 6, "jun": 6, "juli": 7, "jul": 7, "augusti": 8,
    "august": 8, "aug": 8, "september": 9, "sep": 9, "sept": 9, "oktober": 10, "okt": 10, "november": 11,
    "nov": 11, "december": 12, "desember": 12, "dec": 12, "des": 12,
}
_DATE_LABEL = (
    r"(?:datum|dato|publicerad|publicerat|publicerades|publisert|publisert den|beslutad|beslutat|beslutades|"
    r"fastställd|fastställt|antagen|antaget|godkänd|godkänt|vedtatt|vedteke|godkjent|uppdaterad|"
    r"senast uppdaterad|oppdatert|sist oppdatert|giltig från|gäller från)"
)
_DATE_VALUE = (
    r"(?P<iso>\d{4}-\d{2}-\d{2})|(?P<dmy>\d{1,2}\.\d{1,2}\.\d{4})|"
    r"(?P<day>\d{1,2})\.?\s+(?P<month>[a-zåäöæø]+)\.?\s+(?P<year>\d{4})"
)
_DATE_RE = re.compile(rf"\b{_DATE_LABEL}\b[\s:]*(?:den\s+|d\.\s*)?(?:{_DATE_VALUE})", re.IGNORECASE)
_ORG_RE = re.compile(
    r"\b(?:(?:Sjukvårdsregion|Region|Helse|Landstinget|Samverkansnämnden)\s+[A-ZÅÄÖÆØ][\wåäöæø]+(?:-[A-ZÅÄÖÆØ][\wåäöæø]+)?"
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
    return None if title.lower() in ("", "untitled", "untitled document", "document", "dokument", "namnlös") else title


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
