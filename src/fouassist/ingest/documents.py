"""Documents: one file (or uploaded bytes) read into a `Document`, and the manifest.

`read_document` turns one file into a `Document`: cleaned text, blocks with offsets, sections,
pages, and metadata found in the text (title, organisation, date, language), then overridden by
the manifest where it has an entry for the file. The format readers are in `readers`, the
metadata found in the text in `metadata`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import tomllib
from bisect import bisect_right
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from fouassist.ingest.cleaning import Block, clean_pages
from fouassist.ingest.metadata import clean_title, file_title, find_date, find_organisation, find_title
from fouassist.ingest.read_limits import DocumentError, ReadLimits
from fouassist.ingest.readers import extract_pages
from fouassist.language.analysis import Analyzer


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
    kind, pages, own_title = extract_pages(name, data, limits)
    text, blocks, page_starts = clean_pages(pages, paged=kind == "pdf")
    if len(text.strip()) < 20 or not re.search(r"[^\W\d_]{2,}", text):
        raise DocumentError(name, "the file contains no readable text", code="no_text")
    title_block = find_title(blocks)
    if title_block is not None:
        title_block.kind = "title"
    entry = (manifest or {}).get(Path(name).name) or ManifestEntry()
    found_title = title_block.text if title_block else file_title(own_title)
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
