"""Clean-up of extracted text: from the raw lines of PDF pages or web pages to typed blocks.

Extraction leaves artefacts that hurt both reading and retrieval: lines hard-wrapped at the
page width, words hyphenated across line ends, private-use bullet glyphs, running headers and
page numbers. `clean_pages` turns the pages of one document into `Block`s (title, heading,
paragraph, list item) and the cleaned text they are cut from, with character offsets, so that
everything later (chunks, citations) can point into one canonical text.

Two layouts occur. *Wrapped* text (from PDFs) breaks lines at the page width, so consecutive
lines are one paragraph unless a heading or a list item starts. *Web* text puts each paragraph
on one line, so consecutive lines are separate paragraphs unless a line plainly continues the
previous one. The layout is detected per document from how often a line continues in lower case.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

import wordfreq

from fouassist.language.lemmas import MAX_WORD_CHARS
from fouassist.language.words import NAVIGATION_LINES, PAGE_OF_WORDS, PAGE_WORDS, SUSPENSION_WORDS, one_of

# Bullet glyphs seen in extracted PDFs and web pages (private-use Symbol/Wingdings glyphs such as
# U+F0B7 become "•" in normalize_characters).
_BULLETS = "•▪◦●·‣⁃■□◆◇➢➤✓✔"
_BULLET_RE = re.compile(rf"^(?:[{_BULLETS}]|[-*](?=\s))\s*")
_NUMBERED_HEADING_RE = re.compile(r"^(\d{1,2}(?:\.\d{1,2}){0,4})(\.?)\s+(?=[A-ZÅÄÖÆØÉÜ])(\S.*)$")
_MD_HEADING_RE = re.compile(r"^#{1,6}\s+(\S.*)$")
# Neither part may hold a bracket: each "[" then starts a scan that ends at the next one (linear time).
_MD_LINK_RE = re.compile(r"\[([^\[\]\n]+)\]\((?:#|[a-z]+://[^()\[\]\s]*|/[^()\[\]\s]*)\)")
_TERMINAL = (".", "!", "?", ":", ";", "…")
_SPACES_RE = re.compile(r"[ \u00a0\u2000-\u200a\u202f\u205f\u3000\t]+")
_INVISIBLE_RE = re.compile(r"[\u00ad\u200b\u200c\u200d\u2060\ufeff]")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_PRIVATE_BULLET_RE = re.compile(r"^([ \t]*)[\ue000-\uf8ff][ \t]*", re.MULTILINE)
_PRIVATE_RE = re.compile(r"[\ue000-\uf8ff]")
_PAGE_NUMBER_RE = re.compile(rf"^(?:{one_of(PAGE_WORDS)}\s*)?[-–]?\s*\d{{1,4}}\s*[-–]?"
                             rf"(?:\s*{one_of([*PAGE_OF_WORDS, '/'])}\s*\d{{1,4}})?$", re.I)
# Navigation and layout left-overs of web pages, dropped from the text.
_BOILERPLATE_RE = re.compile(rf"^{one_of(NAVIGATION_LINES)}$", re.I)
_MAX_HEADING_CHARS = 220
_MAX_PLAIN_HEADING_CHARS = 90


@dataclass
class Block:
    """One unit of cleaned text: a title, a heading, a paragraph or a list item."""

    kind: str  # "title" | "heading" | "paragraph" | "item"
    text: str
    page: int | None = None
    number: str | None = None  # "5.1.5" for numbered headings
    level: int = 1  # heading depth
    start: int = 0
    end: int = 0


@dataclass
class _Line:
    text: str
    indented: bool
    page: int | None


def normalize_characters(text: str) -> str:
    """NFC, one kind of space, no invisible or control characters; letters stay as they are."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n")
    text = _INVISIBLE_RE.sub("", text)
    text = _CONTROL_RE.sub("", text)
    # Private-use glyphs (Symbol/Wingdings bullets): a bullet at a line start, noise elsewhere.
    text = _PRIVATE_BULLET_RE.sub(r"\1• ", text)
    text = _PRIVATE_RE.sub(" ", text)
    return _SPACES_RE.sub(" ", text)


def _is_lower_start(text: str) -> bool:
    return bool(text) and text[0].islower()


def _ends_sentence(text: str) -> bool:
    return text.rstrip().rstrip("”\"»)’'").endswith(_TERMINAL)


def _is_word(word: str) -> bool:
    """Whether a dictionary knows the word; a string longer than any word is none (and is kept
    out of both caches, so that an upload cannot fill them with long strings)."""
    return len(word) <= MAX_WORD_CHARS and _known(word.lower())


@lru_cache(maxsize=50_000)
def _known(word: str) -> bool:
    return any(wordfreq.zipf_frequency(word, lang) > 1.0 for lang in ("sv", "nb"))


def warm_word_lists() -> None:
    """Load the word lists `_known` reads (a process that forks readers loads them once)."""
    for lang in ("sv", "nb"):
        wordfreq.zipf_frequency("och", lang)


_JOIN_TAIL = MAX_WORD_CHARS + 2  # what joining looks at: the last word of the left line and its hyphens


def join_hyphenated(left: str, right: str) -> str:
    """Join two wrapped lines, undoing hyphenation only where it split one word.

    "utbild-" + "ning" -> "utbildning"; "hälso-" + "och" -> "hälso- och";
    "grund-" + ", specialist-" -> "grund-, specialist-"; "ALF-" + "medel" -> "ALF-medel".
    """
    drop, added = _joint(left[-_JOIN_TAIL:], right)
    return left[:len(left) - drop] + added


def _joint(tail: str, right: str) -> tuple[int, str]:
    """How to join `right` to a line ending in `tail`: (characters to drop from the line, text to
    add). It reads only the tail, so that a paragraph of many lines is joined in linear time."""
    if not tail.endswith("-") or tail.endswith(" -"):
        return 0, f" {right}"
    first = re.match(r"[^\W\d_]+", right)
    if right[:1] in ",;:)" or first is None:
        return 0, right
    if first.group(0).lower() in SUSPENSION_WORDS:
        return 0, f" {right}"
    head = re.search(r"([^\W\d_]+)-$", tail)
    if head is None:
        return 0, right
    prefix, suffix = head.group(1), first.group(0)
    compound_prefix = tail[: -len(prefix) - 1].endswith("-")  # "life-science-" keeps its hyphen
    if not compound_prefix and not prefix.isupper() and _is_word(prefix + suffix):
        return 1, right
    return 0, right


def _bullet(text: str) -> str | None:
    match = _BULLET_RE.match(text)
    return text[match.end():].strip() if match else None


class _HeadingNumbers:
    """Accepts numbered headings only in a plausible sequence (1, 1.1, 1.2, 2 ...).

    Footnotes ("1 Med klinisk forskning avses ...") and numbers at line starts in wrapped text
    look like headings; a heading must continue the numbering of the one before it.
    """

    def __init__(self) -> None:
        self.last: tuple[int, ...] | None = None

    def accepts(self, number: str, dotted: bool) -> bool:
        parts = tuple(int(p) for p in number.split("."))
        if len(parts) == 1 and not dotted:
            return False
        if self.last is None:
            return parts[0] <= 3 and all(p <= 3 for p in parts[1:])
        successors = {self.last + (1,)}
        for depth in range(len(self.last)):
            successors.add(self.last[:depth] + (self.last[depth] + 1,))
        return parts in successors

    def take(self, number: str) -> None:
        self.last = tuple(int(p) for p in number.split("."))


def _lines(pages: list[str], paged: bool) -> list[list[_Line]]:
    out = []
    for number, page in enumerate(pages, start=1):
        lines = []
        for raw in normalize_characters(_MD_LINK_RE.sub(r"\1", page)).split("\n"):
            text = raw.strip()
            lines.append(_Line(text=text, indented=raw[:1] == " " and bool(text), page=number if paged else None))
        out.append(lines)
    return out


def _drop_running_lines(pages: list[list[_Line]]) -> None:
    """Remove page numbers and headers/footers repeated on most pages of a PDF."""
    def edges(lines: list[_Line]) -> list[_Line]:
        filled = [line for line in lines if line.text]
        return filled[:2] + filled[-2:]

    if len(pages) >= 3:
        counts = Counter(re.sub(r"\d+", "#", line.text) for page in pages for line in edges(page))
        repeated = {text for text, n in counts.items() if n >= max(3, len(pages) // 2)}
    else:
        repeated = set()
    for page in pages:
        for line in edges(page):
            if _PAGE_NUMBER_RE.match(line.text) or re.sub(r"\d+", "#", line.text) in repeated:
                line.text = ""


def _is_wrapped(pages: list[list[_Line]]) -> bool:
    pairs = continued = 0
    for page in pages:
        for a, b in zip(page, page[1:]):
            if a.text and b.text:
                pairs += 1
                continued += _is_lower_start(b.text) and not _ends_sentence(a.text)
    return pairs >= 8 and continued / pairs >= 0.25


def _plain_heading(text: str) -> bool:
    words = text.split()
    return (
        len(text) <= _MAX_PLAIN_HEADING_CHARS
        and 1 <= len(words) <= 12
        and text[0].isupper()
        and not text.endswith((".", ":", ";", ",", "!", "?", "-", "–"))
        and any(c.isalpha() for c in text)
    )


class _Builder:
    """Walks the lines of a document and emits blocks."""

    def __init__(self, wrapped: bool) -> None:
        self.wrapped = wrapped
        self.blocks: list[Block] = []
        self.numbers = _HeadingNumbers()
        self.open: Block | None = None  # block that a continuation line may extend
        # The open block's text as pieces (joined once, when the block closes), its length and
        # its last characters: a paragraph of many lines costs linear time.
        self.parts: list[str] = []
        self.length = 0
        self.tail = ""
        self.heading_lines = 0
        self.in_list = False

    def emit(self, block: Block) -> None:
        self.finish()
        self.blocks.append(block)
        self.open = block
        self.parts, self.length, self.tail = [block.text], len(block.text), block.text[-_JOIN_TAIL:]
        self.heading_lines = 1 if block.kind == "heading" else 0

    def finish(self) -> None:
        """Give the open block its whole text."""
        if self.open is not None:
            self.open.text = "".join(self.parts)

    def extend(self, text: str) -> None:
        drop, added = _joint(self.tail, text)
        if drop:
            self.parts[-1] = self.parts[-1][:-drop]
        self.parts.append(added)
        self.length += len(added) - drop
        self.tail = (self.tail[:len(self.tail) - drop] + added)[-_JOIN_TAIL:]

    def line(self, line: _Line, previous_blank: bool, block_size: int) -> None:
        text = _BOILERPLATE_RE.sub("", line.text).strip()
        if not text:
            return
        heading = _NUMBERED_HEADING_RE.match(text)
        if heading and self.numbers.accepts(heading.group(1), bool(heading.group(2))) and len(text) <= _MAX_HEADING_CHARS:
            self.numbers.take(heading.group(1))
            self.in_list = False
            level = heading.group(1).count(".") + 1
            self.emit(Block("heading", heading.group(3).strip(), line.page, heading.group(1), level))
            return
        markdown = _MD_HEADING_RE.match(text)
        if markdown and previous_blank:
            self.in_list = False
            self.emit(Block("heading", markdown.group(1).strip(), line.page, None, text.index(" ")))
            return
        item = _bullet(text)
        # In wrapped text, a run of indented lines after a colon is a list whose bullet glyphs
        # were lost in extraction.
        if item is None and self.wrapped and line.indented and (self.in_list or self._after_colon()):
            item = text
        if item is not None:
            self.in_list = True
            self.emit(Block("item", item, line.page))
            return
        open_ = self.open
        if open_ is not None and self._continues(open_, text, line, previous_blank):
            self.extend(text)
            if open_.kind == "heading":
                self.heading_lines += 1
            return
        self.in_list = False
        if block_size == 1 and previous_blank and _plain_heading(text) and (not self.wrapped or len(text) <= 60):
            self.emit(Block("heading", text, line.page, None, 0))
            return
        self.emit(Block("paragraph", text, line.page))

    def _after_colon(self) -> bool:
        return self.open is not None and self.tail.endswith(":")

    def _continues(self, open_: Block, text: str, line: _Line, previous_blank: bool) -> bool:
        if open_.kind == "heading":
            return (
                not previous_blank
                and _is_lower_start(text)
                and self.heading_lines < 4
                and self.length + len(text) <= _MAX_HEADING_CHARS
            )
        if self.tail.endswith("-") and not previous_blank:
            return True
        if previous_blank:
            # Across a blank line only a plainly unfinished sentence continues (page breaks).
            return self.wrapped and _is_lower_start(text) and not _ends_sentence(self.tail) and not line.indented
        if open_.kind == "item":
            return _is_lower_start(text) or not _ends_sentence(self.tail)
        if self.wrapped:
            return True
        return _is_lower_start(text) and not _ends_sentence(self.tail)


def _block_size(lines: list[_Line], first: int) -> int:
    """How many lines the block starting at `first` has (up to the next blank line)."""
    end = first + 1
    while end < len(lines) and lines[end].text:
        end += 1
    return end - first


def clean_pages(pages: list[str], paged: bool = False) -> tuple[str, list[Block], list[int]]:
    """Clean the pages of one document.

    Returns the cleaned text, its blocks (with offsets into the text) and, for paged input,
    the offset where each page starts.
    """
    lines_by_page = _lines(pages, paged)
    if paged:
        _drop_running_lines(lines_by_page)
    builder = _Builder(wrapped=_is_wrapped(lines_by_page))
    for page_lines in lines_by_page:
        previous_blank = True
        block_size = 0
        for index, line in enumerate(page_lines):
            if not line.text:
                previous_blank = True
                continue
            if previous_blank:
                block_size = _block_size(page_lines, index)
            builder.line(line, previous_blank, block_size)
            previous_blank = False
        # A page break is a blank line: only an unfinished sentence carries over (see _continues).
    builder.finish()
    blocks: list[Block] = []
    for block in builder.blocks:
        # Web pages often repeat a line (an image caption and the name under it): keep one.
        if block.text.strip() and not (blocks and blocks[-1].text == block.text):
            blocks.append(block)
    # Short lines at the very end (signatures, addresses) are not headings of anything.
    for block in reversed(blocks):
        if block.kind != "heading" or block.number is not None:
            break
        block.kind = "paragraph"
    return _assemble(blocks, paged, len(pages))


def _assemble(blocks: list[Block], paged: bool, page_count: int) -> tuple[str, list[Block], list[int]]:
    parts: list[str] = []
    offset = 0
    page_starts: list[int] = []
    for index, block in enumerate(blocks):
        block.text = _SPACES_RE.sub(" ", block.text).strip()
        if index:
            separator = "\n" if block.kind == "item" and blocks[index - 1].kind == "item" else "\n\n"
            parts.append(separator)
            offset += len(separator)
        if paged and block.page is not None:
            while len(page_starts) < block.page:
                page_starts.append(offset)
        block.start = offset
        prefix = "- " if block.kind == "item" else ""
        parts.append(prefix + block.text)
        block.start = offset + len(prefix)
        offset += len(prefix) + len(block.text)
        block.end = offset
    if paged:
        while len(page_starts) < page_count:
            page_starts.append(offset)
    return "".join(parts), blocks, page_starts
