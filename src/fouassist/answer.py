"""Extractive answers: verbatim sentences from the retrieved passages, with numbered citations.

For each document that speaks to the question the answer has one part: a lead that names the
source ("Enligt ... (avsnitt 5.1.5):") and the document's best sentences, quoted exactly and
each followed by its marker [n]. When no passage covers enough of the question, the answer
says that the documents do not say, and lists the closest passages as not answering it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from fouassist.analysis import Concept
from fouassist.retrieval import Passage, Retrieval, Retriever, SentenceSpan

# Everything the answer says besides the quotes, per answer language.
TEMPLATES = {
    "sv": {
        "according": "Enligt {source}:", "section": "avsnitt {n}", "sections": "avsnitten {n}", "and": "och",
        "page": "s. {n}", "quote": "”{q}”", "nothing": "Dokumenten säger inget om {topic}.",
        "closest": "Närmaste träffar (de svarar inte på frågan):", "this": "detta",
        "no_words": "Frågan innehåller inga ord att söka på. Ställ en fråga om innehållet i dokumenten.",
    },
    "nb": {
        "according": "Ifølge {source}:", "section": "avsnitt {n}", "sections": "avsnittene {n}", "and": "og",
        "page": "s. {n}", "quote": "«{q}»", "nothing": "Dokumentene sier ikke noe om {topic}.",
        "closest": "Nærmeste treff (de svarer ikke på spørsmålet):", "this": "dette",
        "no_words": "Spørsmålet inneholder ingen ord å søke på. Still et spørsmål om innholdet i dokumentene.",
    },
    "nn": {
        "according": "Ifølgje {source}:", "section": "avsnitt {n}", "sections": "avsnitta {n}", "and": "og",
        "page": "s. {n}", "quote": "«{q}»", "nothing": "Dokumenta seier ikkje noko om {topic}.",
        "closest": "Næraste treff (dei svarar ikkje på spørsmålet):", "this": "dette",
        "no_words": "Spørsmålet inneheld ingen ord å søkje på. Still eit spørsmål om innhaldet i dokumenta.",
    },
}
_TOPIC_RE = re.compile(
    r"\b(?:om|angående|kring|gällande|beträffande|rörande|rundt|vedrørende|angåande|når det gjelder|när det gäller)\s+(.+)$",
    re.IGNORECASE,
)
_SHORT_SENTENCE_WORDS = 4


@dataclass
class Citation:
    id: int
    chunk_id: str
    document_id: str
    title: str
    organisation: str | None
    section: str | None
    page: int | None
    passage: str
    quote: str
    start: int
    end: int
    score: float


@dataclass
class Answer:
    answer: str
    abstained: bool
    language: str
    citations: list[Citation] = field(default_factory=list)
    closest: list[Citation] = field(default_factory=list)
    query: str = ""  # what was searched for (the question, or a follow-up with its subject added)
    timings_ms: dict[str, float] = field(default_factory=dict)


@dataclass
class AnswerSettings:
    abstain_min_coverage: float = 0.5
    quote_min_coverage: float = 0.34
    max_quotes: int = 4
    max_documents: int = 3
    document_share: float = 0.6  # a document joins the answer when its best sentence reaches this share of the best


@dataclass
class _Candidate:
    passage: Passage
    sentence: SentenceSpan
    start: int
    end: int
    score: float

    @property
    def quote(self) -> str:
        return self.passage.text[self.start - self.passage.start:self.end - self.passage.start]


def topic_of(question: str, concepts: list[Concept], language: str) -> str:
    """The subject of a question, to name in an abstention: the words after "om", else its content words."""
    text = question.strip().rstrip("?!. ")
    match = _TOPIC_RE.search(text)
    if match and match.group(1).strip():
        return match.group(1).strip()
    words = [c.surface for c in concepts]
    if not words:
        return TEMPLATES[language]["this"]
    joiner = f" {TEMPLATES[language]['and']} "
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + joiner + words[-1]


class Composer:
    def __init__(self, retriever: Retriever, settings: AnswerSettings) -> None:
        self.retriever = retriever
        self.settings = settings

    def _sentence_score(self, content: list[Concept], idf: dict, terms: frozenset, context: frozenset) -> float:
        own = self.retriever.coverage(content, idf, terms)
        with_context = self.retriever.coverage(content, idf, terms | context)
        return 0.7 * own + 0.3 * with_context

    def _candidates(self, retrieval: Retrieval, content: list[Concept]) -> list[_Candidate]:
        candidates = []
        for passage in retrieval.passages:
            for sentence in passage.sentences:
                score = self._sentence_score(content, retrieval.idf, sentence.terms, passage.context_terms)
                candidate = _Candidate(passage, sentence, sentence.start, sentence.end, score)
                if len(candidate.quote.split()) < _SHORT_SENTENCE_WORDS:
                    candidate.score *= 0.8  # a bare list item or label says little on its own
                candidates.append(candidate)
        return candidates

    def compose(self, question: str, retrieval: Retrieval, language: str) -> Answer:
        started = time.perf_counter()
        lang = language if language in TEMPLATES else "sv"
        words = TEMPLATES[lang]
        content = retrieval.query.content
        if not retrieval.query.concepts:
            return Answer(words["no_words"], True, lang, timings_ms=dict(retrieval.timings_ms))
        scored = [c for c in self._candidates(retrieval, content or retrieval.query.concepts)]
        support = max((p.coverage for p in retrieval.passages), default=0.0)
        best = max((c.score for c in scored), default=0.0)
        if support < self.settings.abstain_min_coverage or best < self.settings.quote_min_coverage:
            answer = self._abstain(question, retrieval, scored, lang)
        else:
            answer = self._answer(scored, best, lang)
        answer.timings_ms = {**retrieval.timings_ms, "answer": round((time.perf_counter() - started) * 1000, 2)}
        return answer

    def _select(self, scored: list[_Candidate], best: float) -> list[tuple[str, list[_Candidate]]]:
        """Pick the documents and, per document, the sentences to quote (in reading order)."""
        by_document: dict[str, list[_Candidate]] = {}
        for candidate in sorted(scored, key=lambda c: -c.score):
            by_document.setdefault(candidate.passage.document_id, []).append(candidate)
        floor = max(self.settings.quote_min_coverage, self.settings.document_share * best)
        documents = [(d, cs) for d, cs in by_document.items() if cs[0].score >= floor]
        documents = documents[: self.settings.max_documents]
        per_document = max(1, self.settings.max_quotes // max(1, len(documents)))
        chosen: list[tuple[str, list[_Candidate]]] = []
        for document_id, candidates in documents:
            keep: list[_Candidate] = []
            local_floor = max(self.settings.quote_min_coverage, 0.75 * candidates[0].score)
            for candidate in candidates:
                if len(keep) >= per_document or candidate.score < local_floor:
                    break
                if all(candidate.start != k.start for k in keep):
                    keep.append(candidate)
            chosen.append((document_id, sorted(keep, key=lambda c: c.start)))
        return chosen

    def _answer(self, scored: list[_Candidate], best: float, lang: str) -> Answer:
        words = TEMPLATES[lang]
        parts, citations = [], []
        for _, candidates in self._select(scored, best):
            passage = candidates[0].passage
            quotes = []
            for candidate in _merge_adjacent(candidates):
                citation = _citation(len(citations) + 1, candidate)
                citations.append(citation)
                quotes.append(f"{words['quote'].format(q=citation.quote)} [{citation.id}]")
            sections = list(dict.fromkeys(c.section for c in citations[-len(quotes):] if c.section))
            lead = words["according"].format(source=_source(passage, sections, candidates[0], lang))
            parts.append(" ".join([lead, *quotes]))
        return Answer("\n\n".join(parts), False, lang, citations=citations)

    def _abstain(self, question: str, retrieval: Retrieval, scored: list[_Candidate], lang: str) -> Answer:
        words = TEMPLATES[lang]
        text = words["nothing"].format(topic=topic_of(question, retrieval.query.content, lang))
        closest: list[Citation] = []
        for passage in retrieval.passages[:3]:
            own = [c for c in scored if c.passage is passage]
            if own:
                closest.append(_citation(len(closest) + 1, max(own, key=lambda c: c.score)))
        if closest:
            lines = []
            for citation in closest:
                where = f", {words['section'].format(n=citation.section)}" if citation.section else ""
                lines.append(f"- {citation.title}{where}: {words['quote'].format(q=_snippet(citation.quote))}")
            text += "\n\n" + words["closest"] + "\n" + "\n".join(lines)
        return Answer(text, True, lang, closest=closest)


def _merge_adjacent(candidates: list[_Candidate]) -> list[_Candidate]:
    """Neighbouring sentences of one passage become one quote (and one citation)."""
    merged: list[_Candidate] = []
    for candidate in candidates:
        previous = merged[-1] if merged else None
        if previous and previous.passage is candidate.passage and _adjacent(previous, candidate):
            merged[-1] = _Candidate(
                previous.passage, previous.sentence, previous.start, candidate.end, max(previous.score, candidate.score)
            )
        else:
            merged.append(candidate)
    return merged


def _adjacent(first: _Candidate, second: _Candidate) -> bool:
    between = first.passage.text[first.end - first.passage.start:second.start - first.passage.start]
    return not between.strip() and "\n" not in between


def _citation(number: int, candidate: _Candidate) -> Citation:
    passage = candidate.passage
    return Citation(
        id=number, chunk_id=passage.chunk_id, document_id=passage.document_id, title=passage.title,
        organisation=passage.organisation, section=candidate.sentence.section, page=candidate.sentence.page,
        passage=passage.text,
        quote=candidate.quote, start=candidate.start, end=candidate.end, score=round(candidate.score, 4),
    )


def _source(passage: Passage, sections: list[str], first: _Candidate, lang: str) -> str:
    words = TEMPLATES[lang]
    details = []
    if passage.organisation and passage.organisation.lower() not in passage.title.lower():
        details.append(passage.organisation)
    if len(sections) == 1:
        details.append(words["section"].format(n=sections[0]))
    elif sections:
        details.append(words["sections"].format(n=", ".join(sections[:-1]) + f" {words['and']} " + sections[-1]))
    elif passage.page:
        details.append(words["page"].format(n=passage.page))
    return f"{passage.title} ({', '.join(details)})" if details else passage.title


def _snippet(text: str, words: int = 25) -> str:
    parts = text.split()
    return " ".join(parts[:words]) + (" …" if len(parts) > words else "")


def stream_pieces(text: str, words_per_piece: int = 3) -> Iterator[str]:
    """An answer cut into small pieces of words, as a stream sends it; joined they give `text`."""
    words = text.split(" ")
    for first in range(0, len(words), words_per_piece):
        last = first + words_per_piece
        yield " ".join(words[first:last]) + (" " if last < len(words) else "")
