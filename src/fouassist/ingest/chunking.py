"""Structure-aware chunking: sentences and chunks that follow the document's sections.

A chunk is a run of whole blocks (headings, paragraphs, list items) of one document, cut where
a section starts or where the next block would make it too long; a paragraph longer than the
limit is cut between sentences, never inside one. Every chunk and sentence carries offsets into
the cleaned document text, so `document.text[chunk.start:chunk.end] == chunk.text`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from fouassist.ingest.cleaning import Block
from fouassist.ingest.documents import Document
from fouassist.language.sentences import Sentence, split_sentences


@dataclass
class Chunk:
    id: str
    document_id: str
    index: int
    text: str
    start: int
    end: int
    page: int | None
    section: str | None  # number of the section the chunk's body belongs to ("5.1.5")
    heading_path: list[str]
    sentences: list[Sentence] = field(default_factory=list)

    def context(self, document: Document) -> str:
        return chunk_context(document.title, document.organisation, self.heading_path)


def chunk_context(title: str, organisation: str | None, heading_path: list[str]) -> str:
    """Text that goes with a chunk into the index: which document, which section."""
    return "\n".join(p for p in (title, organisation or "", *heading_path) if p)


def embedding_text(title: str, organisation: str | None, heading_path: list[str], text: str) -> str:
    """What the dense model reads of a chunk: its context, then its text."""
    return f"{chunk_context(title, organisation, heading_path)}\n{text}"


def block_sentences(block: Block, language: str) -> list[Sentence]:
    if block.kind in ("heading", "title"):
        return [Sentence(block.start, block.end, heading=True)]
    return split_sentences(block.text, language, block.start)


@dataclass
class _Draft:
    """A chunk being built: its sentences, and how much of it is body text (not headings)."""

    sentences: list[Sentence] = field(default_factory=list)
    body_chars: int = 0
    body_start: int | None = None
    starts_with_heading: bool = False
    ends_with_heading: bool = False

    def add(self, sentences: list[Sentence], heading: bool) -> None:
        if not self.sentences:
            self.starts_with_heading = heading
        self.sentences.extend(sentences)
        self.ends_with_heading = heading
        if not heading:
            self.body_chars += sum(s.end - s.start for s in sentences)
            if self.body_start is None:
                self.body_start = sentences[0].start

    @property
    def start(self) -> int:
        return self.sentences[0].start

    @property
    def end(self) -> int:
        return self.sentences[-1].end


def chunk_document(document: Document, target_chars: int, max_chars: int, min_chars: int) -> list[Chunk]:
    """Cut a document into chunks of whole sentences that follow its sections.

    A heading closes the chunk before it once that chunk has `min_chars` of body text (smaller
    sections are joined to the next, the short tail of a long one to the chunk before); a chunk is closed before it grows past `target_chars`;
    only a single sentence longer than `max_chars` makes a longer chunk.
    """
    drafts: list[_Draft] = []
    current = _Draft()

    def room_for(sentence_end: int) -> bool:
        return sentence_end - current.start <= target_chars

    def flush() -> None:
        nonlocal current
        if current.sentences:
            drafts.append(current)
        current = _Draft()

    for block in document.blocks:
        sentences = block_sentences(block, document.language)
        if not sentences:
            continue
        heading = block.kind in ("heading", "title")
        if heading and 0 < current.body_chars < min_chars and not current.starts_with_heading and drafts:
            # The short tail of a section goes back into the chunk before it, so that the new
            # section starts a chunk of its own.
            if current.end - drafts[-1].start <= max_chars:
                drafts[-1].sentences.extend(current.sentences)
                current = _Draft()
            else:
                flush()
        if current.sentences and current.body_chars >= min_chars and not current.ends_with_heading:
            if heading or not room_for(block.end if block.end - block.start <= max_chars else sentences[0].end):
                flush()
        if heading or block.end - block.start <= max_chars:
            current.add(sentences, heading)
            continue
        for sentence in sentences:  # a paragraph longer than a chunk: cut between sentences
            if current.sentences and not room_for(sentence.end) and current.body_chars >= min_chars:
                flush()
            current.add([sentence], heading=False)
    flush()
    # A last chunk that is only a scrap joins the one before it when both fit.
    if len(drafts) >= 2 and drafts[-1].end - drafts[-1].start < min_chars and drafts[-1].end - drafts[-2].start <= max_chars:
        last = drafts.pop()
        drafts[-1].sentences.extend(last.sentences)
    return [_chunk(document, index, draft) for index, draft in enumerate(drafts)]


def _chunk(document: Document, index: int, draft: _Draft) -> Chunk:
    anchor = draft.body_start if draft.body_start is not None else draft.start
    section = document.section_at(anchor)
    start = draft.start
    if document.text[max(0, start - 2):start] == "- " and document.text[max(0, start - 3):start - 2] in ("", "\n"):
        start -= 2  # a chunk that opens with a list item keeps its bullet
    return Chunk(
        id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"fouassist:{document.id}:{index}")),
        document_id=document.id,
        index=index,
        text=document.text[start:draft.end],
        start=start,
        end=draft.end,
        page=document.page_at(draft.start),
        section=section.number if section else None,
        heading_path=document.heading_path(anchor),
        sentences=list(draft.sentences),
    )
