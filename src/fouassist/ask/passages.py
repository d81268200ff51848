"""What retrieval finds: passages (chunks with their sentences and their scores by each signal)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from fouassist.index.store import Hit


class SentenceSpan(NamedTuple):
    start: int  # offsets into the document text
    end: int
    terms: frozenset[str]  # index term keys of the sentence
    section: str | None
    page: int | None
    heading: bool  # a heading or title rather than running text
    section_terms: frozenset[str]  # term keys of the heading of the section the sentence is in


@dataclass
class Passage:
    chunk_id: str
    document_id: str
    title: str
    organisation: str | None
    language: str
    date: str | None
    source: str
    section: str | None
    heading_path: list[str]
    page: int | None  # the first page of the passage; `last_page` the last
    last_page: int | None
    text: str
    start: int
    end: int
    sentences: list[SentenceSpan]
    context_terms: frozenset[str]
    fused: float  # the engine's score: reciprocal rank fusion, or one ranking's score
    fused_rank: int = 0  # position in the engine's result (tied chunks share one)
    dense: float = 0.0  # cosine similarity to the question (0 without dense vectors)
    coverage: float = 0.0  # IDF-weighted share of the question's content words in the passage
    scope: float = 1.0  # SCOPE_PENALTY when the question names other organisations than this one's
    score: float = 0.0  # final ranking score

    def span_text(self, start: int, end: int) -> str:
        """The text between two offsets into the document text, within this passage."""
        return self.text[start - self.start:end - self.start]

    @property
    def terms(self) -> frozenset[str]:
        found = set(self.context_terms)
        for sentence in self.sentences:
            found |= sentence.terms
        return frozenset(found)

    @classmethod
    def from_hit(cls, hit: Hit, rank: int, query_vector: list[float] | None) -> Passage:
        p = hit.payload
        headings = [frozenset(terms.split()) for terms in p.section_terms]
        dense = float(np.dot(hit.dense, query_vector)) if hit.dense is not None and query_vector is not None else 0.0
        return cls(
            chunk_id=hit.id, document_id=p.document_id, title=p.title, organisation=p.organisation,
            language=p.language, date=p.date, source=p.source, section=p.section, heading_path=p.heading_path,
            page=p.first_page, last_page=p.last_page, text=p.text, start=p.start, end=p.end,
            sentences=[SentenceSpan(s.start, s.end, frozenset(s.terms.split()), s.section, s.page, s.heading,
                                    headings[s.heading_index] if s.heading_index < len(headings) else frozenset())
                       for s in p.sentences],
            context_terms=frozenset(p.context_terms.split()), fused=hit.score, fused_rank=rank, dense=dense,
        )
