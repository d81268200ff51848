"""Metadata found in a document's text: its date, its organisation and its title."""

from __future__ import annotations

import datetime as dt
import re

from fouassist.ingest.cleaning import Block
from fouassist.language.words import (
    DATE_LABELS,
    MONTH_ABBREVIATIONS,
    MONTHS,
    ORGANISATION_PREFIXES,
    PLACEHOLDER_TITLES,
    one_of,
)

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


def find_title(blocks: list[Block]) -> Block | None:
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


def file_title(title: str | None) -> str | None:
    """A title from a file's own metadata, unless it is a placeholder a program left there."""
    if not title:
        return None
    title = re.sub(r"^Microsoft (?:Word|PowerPoint) - ", "", title.strip())
    title = re.sub(r"\.(?:docx?|pptx?|pdf)$", "", title, flags=re.IGNORECASE).strip()
    return None if not title or title.lower() in PLACEHOLDER_TITLES else title


# Terminal escapes (CSI "ESC [ ... m", OSC "ESC ] ... BEL") and other control characters
_CONTROL_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|[\x00-\x1f\x7f-\x9f]")


def clean_title(title: str) -> str:
    """A title as it may be stored and shown: no control characters or terminal escapes, one line."""
    return " ".join(_CONTROL_RE.sub(" ", title).split())[:500]
