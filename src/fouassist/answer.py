"""Extractive answers: verbatim sentences from the retrieved passages, with numbered citations.

For each document that speaks to the question the answer has one part: a lead that names the
source ("Enligt ... (avsnitt 5.1.5):") and the document's best sentences, quoted exactly and
each followed by its marker [n]. When no passage covers enough of the question, the answer
says that the documents do not say, and lists the closest passages as not answering it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from fouassist.analysis import Concept
from fouassist.retrieval import Passage, Retrieval, Retriever, SentenceSpan, topic_phrase

# Everything the answer says besides the quotes, per answer language.
TEMPLATES = {
    "sv": {
        "according": "Enligt {source}:", "section": "avsnitt {n}", "sections": "avsnitten {n}", "and": "och",
        "page": "s. {n}", "pages": "s. {n}–{m}", "quote": "”{q}”", "title": "dokumentet ”{t}”",
        "nothing": "Dokumenten säger inget om {topic}.",
        "closest": "Närmaste träffar (de svarar inte på frågan):", "this": "detta",
        "no_words": "Frågan innehåller inga ord att söka på. Ställ en fråga om innehållet i dokumenten.",
    },
    "nb": {
        "according": "Ifølge {source}:", "section": "avsnitt {n}", "sections": "avsnittene {n}", "and": "og",
        "page": "s. {n}", "pages": "s. {n}–{m}", "quote": "«{q}»", "title": "dokumentet «{t}»",
        "nothing": "Dokumentene sier ikke noe om {topic}.",
        "closest": "Nærmeste treff (de svarer ikke på spørsmålet):", "this": "dette",
        "no_words": "Spørsmålet inneholder ingen ord å søke på. Still et spørsmål om innholdet i dokumentene.",
    },
    "nn": {
        "according": "Ifølgje {source}:", "section": "avsnitt {n}", "sections": "avsnitta {n}", "and": "og",
        "page": "s. {n}", "pages": "s. {n}–{m}", "quote": "«{q}»", "title": "dokumentet «{t}»",
        "nothing": "Dokumenta seier ikkje noko om {topic}.",
        "closest": "Næraste treff (dei svarar ikkje på spørsmålet):", "this": "dette",
        "no_words": "Spørsmålet inneheld ingen ord å søkje på. Still eit spørsmål om innhaldet i dokumenta.",
    },
}
# Inside quoted text, what could close the quote or pose as a citation marker is replaced by a
# look-alike that cannot: the reader always knows where the document's words end.
_NEUTRAL = str.maketrans({"”": "’", "“": "‘", "„": "‚", '"': "'", "«": "‹", "»": "›", "[": "［", "]": "］"})
TITLE_CHARS = 120


def neutral(text: str) -> str:
    """Document text as the answer quotes it: no quotation marks or [n] of its own, one line."""
    return " ".join(text.translate(_NEUTRAL).split())


# Questions that ask for a number or a date: a sentence without one does not answer them.
_ASKS_QUANTITY = re.compile(
    r"\b(?:hur många|hur mycket|hur stor[at]? (?:andel|del|summa|budget)|vilket belopp|hvor mange|hvor mye|"
    r"hvor stor[et]? (?:andel|del|sum|budsjett)|hvilket beløp|kor mange|kor mykje)\b", re.IGNORECASE)
_ASKS_DATE = re.compile(r"^(?:när|når|kva tid)\b|\b(?:vilket datum|vilken dag|vilket år|hvilken dato|hvilken dag|"
                        r"hvilket år|vilken månad|hvilken måned)\b", re.IGNORECASE)
_NUMBER = re.compile(r"\d|\b(?:två|tre|fyra|fem|sex|sju|åtta|nio|tio|tolv|tjugo|hundra|tusen|miljon\w*|miljard\w*|"
                     r"procent|hälften|fire|seks|åtte|ti|hundre|million\w*|milliard\w*|prosent|halvparten)\b",
                     re.IGNORECASE)
# Numbers that are not amounts: years, dates, section and law references ("(2017:30)", "LS 1408-0943").
_NOT_AMOUNT = re.compile(r"\([^)]*\)|\b(?:19|20)\d{2}(?:-\d{2,4})?\b|\b\d+(?:\.\d+)+\b|\b\d+:\d+\b|\bLS [\d–-]+")
_HAS_DATE = re.compile(r"\b(?:19|20)\d{2}\b|\b\d{1,2}\.\d{1,2}\b|\b(?:januari|januar|februari|februar|mars|april|"
                       r"maj|mai|juni|juli|augusti|august|september|oktober|november|december|desember|"
                       r"våren|hösten|høsten|sommaren|sommeren|vintern|vinteren)\b", re.IGNORECASE)
_WHICH = re.compile(r"\b(?:vilken|vilket|vilka|hvilken|hvilket|hvilke|kva for(?: ein| eit| nokre)?)\s+", re.IGNORECASE)
_CAPITALISED = re.compile(r"(?<!^)(?<![.!?]\s)\b([A-ZÅÄÖÆØÉ][\w-]*)")
_PROPER_CASE = re.compile(r"\b[A-ZÅÄÖÆØÉ]")
HEADING_FACTOR = 0.85  # a heading or title is weaker evidence than a sentence of running text
SECTION_ANSWER_FACTOR = 0.7  # a short sentence (a list item) under a heading that matches the question
SECTION_ANSWER_CHARS = 160
MISSING_TYPE_FACTOR = 0.5  # the question asks for a number or a date and the text has none
MISSING_NAME_FACTOR = 0.5  # the question names something (capitalised) that the passage does not
MISSING_FOCUS_FACTOR = 0.7  # "vilken X": the passage does not mention X


def has_amount(text: str) -> bool:
    return bool(_NUMBER.search(_NOT_AMOUNT.sub(" ", text)))


def has_date(text: str) -> bool:
    return bool(_HAS_DATE.search(text))


@dataclass
class Demands:
    """What a passage must contain to answer the question, beyond its words."""

    kind: Callable[[str], bool] | None = None  # has_amount or has_date, for "hur många" / "när" questions
    names: dict[str, Concept] = field(default_factory=dict)  # capitalised words (names of things), as written
    focus: Concept | None = None  # the X of "vilken X"

    @classmethod
    def of(cls, question: str, content: list[Concept]) -> Demands:
        by_surface = {c.surface: c for c in content}
        kind = has_amount if _ASKS_QUANTITY.search(question) else has_date if _ASKS_DATE.search(question) else None
        names = {m: by_surface[m.lower()] for m in _CAPITALISED.findall(question.strip()) if m.lower() in by_surface}
        focus = None
        which = _WHICH.search(question)
        if which:
            following = re.findall(r"[^\W\d_][\w-]*", question[which.end():])
            head = next((w.lower() for w in following if not _NUMBER.fullmatch(w)), None)
            focus = by_surface.get(head) if head else None
        return cls(kind, names, focus)

    def passage_factor(self, passage: Passage) -> float:
        """How far the passage meets the demands (1.0: fully), with its organisation scope."""
        factor = passage.scope
        if self.kind is not None and not any(self.kind(passage.span_text(s.start, s.end)) for s in passage.sentences):
            factor *= MISSING_TYPE_FACTOR
        for written, name in self.names.items():
            if name.match(passage.terms) < 0.5 or not _names(passage, written):
                factor *= MISSING_NAME_FACTOR
        if self.focus is not None and self.focus not in self.names.values() and self.focus.match(passage.terms) < 0.5:
            factor *= MISSING_FOCUS_FACTOR
        return factor


def _names(passage: Passage, written: str) -> bool:
    """Whether the passage (or its document's title, organisation and headings) has `written` as a
    name, capitalised: the month "mars" is not the planet Mars. Inflected forms count (Stockholms)."""
    stem = written[:max(4, len(written) - 2)]
    where = " ".join([passage.text, passage.title, passage.organisation or "", *passage.heading_path])
    return re.search(rf"(?<![\w-]){re.escape(stem)}", where) is not None


_SHORT_SENTENCE_WORDS = 4


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


@dataclass
class AnswerSettings:
    abstain_min_coverage: float = 0.35
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
        return self.passage.span_text(self.start, self.end)


def topic_of(question: str, concepts: list[Concept], language: str) -> str:
    """The subject of a question, to name in an abstention: the words after "om", else its content words."""
    phrase = topic_phrase(question)
    if phrase:
        return phrase
    words = [c.surface for c in concepts]
    if not words:
        return TEMPLATES[language]["this"]
    joiner = f" {TEMPLATES[language]['and']} "
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + joiner + words[-1]


class Composer:
    def __init__(self, retriever: Retriever, settings: AnswerSettings) -> None:
        self.retriever = retriever
        self.settings = settings

    def _sentence_score(self, content: list[Concept], idf: dict, sentence: SentenceSpan, context: frozenset) -> float:
        """How well a sentence answers: its own words first, its document and headings a little.
        Under a heading that itself matches the question ("Avtal om samverkan ..."), the section's
        short sentences (list items) answer it even in other words."""
        coverage = self.retriever.coverage
        own = coverage(content, idf, sentence.terms)
        score = 0.7 * own + 0.3 * coverage(content, idf, sentence.terms | context)
        if not sentence.heading and sentence.section_terms and sentence.end - sentence.start <= SECTION_ANSWER_CHARS:
            score = max(score, SECTION_ANSWER_FACTOR * coverage(content, idf, sentence.section_terms | sentence.terms))
        return score

    def _candidates(self, retrieval: Retrieval, content: list[Concept], demands: Demands) -> list[_Candidate]:
        candidates = []
        for passage in retrieval.passages:
            passage_factor = demands.passage_factor(passage)
            for sentence in passage.sentences:
                score = self._sentence_score(content, retrieval.idf, sentence, passage.context_terms)
                candidate = _Candidate(passage, sentence, sentence.start, sentence.end, score * passage_factor)
                if len(candidate.quote.split()) < _SHORT_SENTENCE_WORDS:
                    candidate.score *= 0.8  # a bare list item or label says little on its own
                if sentence.heading:
                    candidate.score *= HEADING_FACTOR
                if demands.kind is not None and not demands.kind(candidate.quote):
                    candidate.score *= MISSING_TYPE_FACTOR
                candidates.append(candidate)
        return candidates

    def compose(self, question: str, retrieval: Retrieval, language: str) -> Answer:
        started = time.perf_counter()
        lang = language if language in TEMPLATES else "sv"
        words = TEMPLATES[lang]
        if not retrieval.query.concepts:
            return Answer(words["no_words"], True, lang, timings_ms=dict(retrieval.timings_ms))
        content = retrieval.query.content or retrieval.query.concepts
        demands = Demands.of(question, content)
        scored = self._candidates(retrieval, content, demands)
        # Support: how much of the question the best passage covers, and whether it has what the
        # question demands (a number, a date, the names it uses).
        support = max((p.coverage * demands.passage_factor(p) for p in retrieval.passages), default=0.0)
        best = max((c.score for c in scored), default=0.0)
        if support < self.settings.abstain_min_coverage or best < self.settings.quote_min_coverage:
            answer = self._abstain(question, retrieval, scored, lang)
        else:
            answer = self._answer(scored, best, lang)
        answer.timings_ms = {**retrieval.timings_ms, "answer": round((time.perf_counter() - started) * 1000, 2)}
        return answer

    def abstention(self, question: str, retrieval: Retrieval, language: str) -> Answer:
        """The answer that says the documents do not answer, with the closest passages."""
        lang = language if language in TEMPLATES else "sv"
        content = retrieval.query.content or retrieval.query.concepts
        scored = self._candidates(retrieval, content, Demands.of(question, content))
        return self._abstain(question, retrieval, scored, lang)

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
        quoted: set[str] = set()  # a sentence is quoted once, even where a document repeats it
        for document_id, candidates in documents:
            keep: list[_Candidate] = []
            local_floor = max(self.settings.quote_min_coverage, 0.75 * candidates[0].score)
            for candidate in candidates:
                if len(keep) >= per_document or candidate.score < local_floor:
                    break
                text = " ".join(candidate.quote.lower().split())
                if text not in quoted:
                    quoted.add(text)
                    keep.append(candidate)
            if keep:
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
                quotes.append(f"{words['quote'].format(q=neutral(citation.quote))} [{citation.id}]")
            lead = words["according"].format(source=_source(passage, citations[-len(quotes):], lang))
            parts.append(" ".join([lead, *quotes]))
        return Answer("\n\n".join(parts), False, lang, citations=citations)

    def _abstain(self, question: str, retrieval: Retrieval, scored: list[_Candidate], lang: str) -> Answer:
        words = TEMPLATES[lang]
        text = words["nothing"].format(topic=topic_of(question, retrieval.query.content, lang))
        closest: list[Citation] = []
        for passage in retrieval.passages[:3]:
            own = [c for c in scored if c.passage is passage]
            if own:  # show running text rather than a bare heading
                nearest = max(own, key=lambda c: (not c.sentence.heading, c.score))
                closest.append(_citation(len(closest) + 1, nearest))
        if closest:
            lines = []
            for citation in closest:
                where = f", {words['section'].format(n=citation.section)}" if citation.section else ""
                lines.append(f"- {words['title'].format(t=_shortened(neutral(citation.title)))}{where}: "
                             f"{words['quote'].format(q=_snippet(neutral(citation.quote)))}")
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
    between = first.passage.span_text(first.end, second.start)
    return not between.strip() and "\n" not in between


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


def _citation(number: int, candidate: _Candidate) -> Citation:
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
    title = words["title"].format(t=_shortened(neutral(passage.title)))
    return f"{title} ({', '.join(details)})" if details else title


def _shortened(text: str, limit: int = TITLE_CHARS) -> str:
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


def _snippet(text: str, words: int = 25) -> str:
    parts = text.split()
    return " ".join(parts[:words]) + (" …" if len(parts) > words else "")


def stream_pieces(text: str, words_per_piece: int = 3) -> Iterator[str]:
    """An answer cut into small pieces of words, as a stream sends it; joined they give `text`."""
    words = text.split(" ")
    for first in range(0, len(words), words_per_piece):
        last = first + words_per_piece
        yield " ".join(words[first:last]) + (" " if last < len(words) else "")
