"""Extractive answers: verbatim sentences from the retrieved passages, with numbered citations.

For each document that speaks to the question the answer has one short part: a lead that names
the source ("Enligt dokumentet ”…” (avsnitt 5.1.5):") and the few sentences that answer, quoted
exactly and each followed by its marker [n]. The candidate sentences come from retrieval, scored
by how much of the question they cover and whether they carry what it asks for (a date, a
number, a person or body, a list: `demands`); here their embedding's closeness to the question
moves their score, when a model served the question; a two-part question ("vem … och när") gets
a sentence for each part, and a quote takes what completes it (`quotes`). Whether to answer at all is the answerability
model's call (`answerability`); when the documents do not answer, the answer says which part of
the question they leave open, and lists the closest passages as not answering it (`abstention`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from fouassist.ask.abstention import abstention_text, closest_candidates
from fouassist.ask.answerability import AnswerabilityModel, Signals
from fouassist.ask.demands import Demands
from fouassist.ask.passages import Passage, SentenceSpan
from fouassist.ask.question import IDF_SMOOTHING
from fouassist.ask.quotes import Candidate, continued, merge_adjacent, quote_key
from fouassist.ask.retrieval import Retrieval
from fouassist.ask.sentences import BEST_PASSAGES
from fouassist.ask.templates import TEMPLATES, neutral, shortened
from fouassist.config import AnswerSettings


@dataclass
class Citation:
    id: int
    chunk_id: str
    document_id: str
    title: str
    organisation: str | None
    section: str | None
    page: int | None  # the page the quote starts on; `last_page` the one it ends on
    passage: str
    quote: str
    start: int
    end: int
    score: float
    last_page: int | None = None


@dataclass
class Answer:
    answer: str
    abstained: bool
    language: str
    citations: list[Citation] = field(default_factory=list)
    closest: list[Citation] = field(default_factory=list)
    query: str = ""  # what was searched for (the question, or a follow-up with its subject added)
    timings_ms: dict[str, float] = field(default_factory=dict)
    mode: str = "extractive"  # or "generative": written by a language model, citations verified
    unsupported: list[str] = field(default_factory=list)  # generated sentences removed by verification
    generated_sentences: int = 0  # sentences the model wrote (kept and removed)
    fallback_reason: str | None = None  # why a generative request got the extractive answer
    answerability: float | None = None  # the model's probability that the documents answer


class Composer:
    """Chooses, from what retrieval found, the sentences to quote, or abstains."""

    def __init__(self, settings: AnswerSettings, model: AnswerabilityModel) -> None:
        self.settings = settings
        self.model = model

    def candidates(self, retrieval: Retrieval) -> list[Candidate]:
        """Retrieval's candidate sentences (copies: scoring here leaves the result as it was),
        their scores moved by their cosine to the question where they were compared; a sentence
        not compared counts as a little below the best."""
        candidates = [replace(c) for c in retrieval.sentences]
        cosines = [c.dense for c in candidates if c.dense is not None]
        if not cosines:
            return candidates
        best = max(cosines)
        for candidate in candidates:
            gap = (candidate.dense if candidate.dense is not None else best - 0.05) - best
            candidate.score += self.settings.dense_sentence_weight * gap * max(candidate.score, 0.1)
        return candidates

    # -- whether to answer ----------------------------------------------------------------------
    def signals(self, retrieval: Retrieval, candidates: list[Candidate]) -> Signals:
        passages = retrieval.passages
        question = retrieval.question
        demands = question.demands
        content = question.content
        best = passages[0] if passages else None
        weights = {c.surface: question.idf.get(c.surface, 0.0) + IDF_SMOOTHING for c in content}
        unseen = sum(w for c in content if not c.in_index(question.catalog.vocabulary.df)
                     for w in [weights[c.surface]])
        top = passages[:BEST_PASSAGES]
        type_missing = bool(demands.kinds) and not any(demands.covered_by(p.sentences, p) for p in top)
        return Signals(
            dense_best=best.dense if best else 0.0,
            dense_margin=(best.dense - passages[1].dense) if len(passages) > 1 else 0.0,
            dense_sentence=max((c.dense for c in candidates if c.dense is not None), default=0.0),
            coverage_best=max((p.coverage for p in top), default=0.0),
            unseen=unseen / sum(weights.values()) if weights else 0.0,
            missing_names=float(demands.missing_names(top)),
            missing_numbers=float(demands.missing_numbers(top)),
            type_missing=float(type_missing),
        )

    def assess(self, retrieval: Retrieval) -> tuple[Signals, list[Candidate]]:
        """The answerability signals of a question, with the sentences the answer is made from."""
        candidates = self.candidates(retrieval)
        return self.signals(retrieval, candidates), candidates

    def compose(self, retrieval: Retrieval) -> Answer:
        started = time.perf_counter()
        question = retrieval.question
        lang = question.language if question.language in TEMPLATES else "sv"
        if not question.query.concepts:
            return Answer(TEMPLATES[lang]["no_words"], True, lang, timings_ms=dict(retrieval.timings_ms))
        signals, candidates = self.assess(retrieval)
        fit = self.model.fit_for(dense=retrieval.dense)
        probability = fit.probability(signals)
        threshold = fit.threshold if self.settings.answerable_threshold is None else self.settings.answerable_threshold
        chosen = self._select(candidates, question.demands) if probability >= threshold else []
        if chosen:
            answer = self._answer(chosen, lang)
        else:
            answer = self._abstain(retrieval, candidates, lang)
        answer.answerability = round(probability, 4)
        answer.timings_ms = {**retrieval.timings_ms, "answer": round((time.perf_counter() - started) * 1000, 2)}
        return answer

    def abstention(self, retrieval: Retrieval) -> Answer:
        """The answer that says the documents do not answer, with the closest passages."""
        language = retrieval.question.language
        return self._abstain(retrieval, self.candidates(retrieval), language if language in TEMPLATES else "sv")

    # -- the answer ------------------------------------------------------------------------------
    def _select(self, candidates: list[Candidate], demands: Demands) -> list[list[Candidate]]:
        """The sentences to quote, grouped by document (best document first, reading order
        within): each document's best sentence, a second where it adds what the question asks
        for, and never the same sentence twice."""
        s = self.settings
        ranked = sorted(candidates, key=lambda c: -c.score)
        if not ranked or ranked[0].score < s.quote_min_score:
            return []
        floor = max(s.quote_min_score, s.document_share * ranked[0].score)
        by_document: dict[str, list[Candidate]] = {}
        for candidate in ranked:
            if candidate.score >= floor or candidate.passage.document_id in by_document:
                by_document.setdefault(candidate.passage.document_id, []).append(candidate)
        chosen: list[list[Candidate]] = []
        quoted: set[str] = set()  # a sentence is quoted once, even where a document repeats it
        for pool in list(by_document.values())[:s.max_documents_in_answer]:
            if pool[0].score < floor:
                continue
            keep = [pool[0]]
            quoted.add(quote_key(pool[0]))
            for candidate in pool[1:]:
                if len(keep) >= s.max_quotes_per_document or sum(map(len, chosen)) + len(keep) >= s.max_quotes:
                    break
                if quote_key(candidate) in quoted:
                    continue
                lacking = demands.lacking([k.quote for k in keep])
                adds_kind = any(has(candidate.quote) for has in lacking)  # the date or name still missing
                if adds_kind or candidate.score >= s.second_quote_share * pool[0].score:
                    keep.append(candidate)
                    quoted.add(quote_key(candidate))
            chosen.append(sorted((continued(k) for k in keep), key=lambda c: c.start))
        return chosen

    def _answer(self, chosen: list[list[Candidate]], lang: str) -> Answer:
        words = TEMPLATES[lang]
        parts, citations = [], []
        for candidates in chosen:
            quotes = []
            for candidate in merge_adjacent(candidates):
                citation = _citation(len(citations) + 1, candidate)
                citations.append(citation)
                quotes.append(f"{words['quote'].format(q=neutral(citation.quote))} [{citation.id}]")
            lead = words["according"].format(source=_source(candidates[0].passage, citations[-len(quotes):], lang))
            parts.append(" ".join([lead, *quotes]))
        return Answer("\n\n".join(parts), False, lang, citations=citations)

    def _abstain(self, retrieval: Retrieval, candidates: list[Candidate], lang: str) -> Answer:
        nearest = closest_candidates(retrieval, candidates)
        question = retrieval.question
        text = abstention_text(question.query, nearest, question.catalog.vocabulary.df, lang)
        return Answer(text, True, lang, closest=[_citation(number, c) for number, c in enumerate(nearest, 1)])


def cite(number: int, passage: Passage, sentence: SentenceSpan, start: int, end: int, score: float) -> Citation:
    """Citation [number]: the span start..end of `passage`, in the section of `sentence`, on the
    pages of the sentences it covers."""
    pages = [s.page for s in passage.sentences if s.page is not None and s.start < end and start < s.end]
    return Citation(
        id=number, chunk_id=passage.chunk_id, document_id=passage.document_id, title=passage.title,
        organisation=passage.organisation, section=sentence.section, page=min(pages, default=sentence.page),
        passage=passage.text, quote=passage.span_text(start, end), start=start, end=end, score=round(score, 4),
        last_page=max(pages, default=sentence.page),
    )


def _citation(number: int, candidate: Candidate) -> Citation:
    return cite(number, candidate.passage, candidate.sentence, candidate.start, candidate.end, candidate.score)


def _source(passage: Passage, citations: list[Citation], lang: str) -> str:
    """The document a part of the answer quotes: its title as a name, its organisation, and the
    sections (or, without sections, the pages) of exactly the quotes that follow."""
    words = TEMPLATES[lang]
    details = []
    if passage.organisation and passage.organisation.lower() not in passage.title.lower():
        details.append(neutral(passage.organisation))
    sections = list(dict.fromkeys(c.section for c in citations if c.section))
    first = min((c.page for c in citations if c.page is not None), default=None)
    last = max((c.last_page or c.page for c in citations if c.page is not None), default=None)
    if len(sections) == 1:
        details.append(words["section"].format(n=sections[0]))
    elif sections:
        details.append(words["sections"].format(n=", ".join(sections[:-1]) + f" {words['and']} " + sections[-1]))
    elif first is not None:
        details.append(words["page"].format(n=first) if first == last else words["pages"].format(n=first, m=last))
    title = words["title"].format(t=shortened(neutral(passage.title)))
    return f"{title} ({', '.join(details)})" if details else title


def stream_pieces(text: str, words_per_piece: int = 3) -> Iterator[str]:
    """An answer cut into small pieces of words, as a stream sends it; joined they give `text`."""
    words = text.split(" ")
    for first in range(0, len(words), words_per_piece):
        last = first + words_per_piece
        yield " ".join(words[first:last]) + (" " if last < len(words) else "")
