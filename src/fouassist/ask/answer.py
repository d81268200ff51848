"""Extractive answers: verbatim sentences from the retrieved passages, with numbered citations.

For each document that speaks to the question the answer has one short part: a lead that names
the source ("Enligt dokumentet ”…” (avsnitt 5.1.5):") and the few sentences that answer, quoted
exactly and each followed by its marker [n]. Sentences are chosen by how much of the question
they cover (lexically, and by their embedding's closeness to the question's when a model is
loaded) and by whether they carry what the question asks for (a date, a number, a person or
body, a list); a two-part question ("vem … och när") gets a sentence for each part. Whether to
answer at all is the answerability model's call (`answerability`); when the documents do not
answer, the answer says which part of the question they leave open, and lists the closest
passages as not answering it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from fouassist.ask.answerability import AnswerabilityModel, Signals
from fouassist.ask.retrieval import Passage, Retrieval, Retriever, SentenceSpan
from fouassist.language.analysis import Concept, lemma, tokens, zipf
from fouassist.language.words import (
    AMOUNT_CUES,
    AND_WORDS,
    BODY_WORDS,
    CHAPTER_WORDS,
    CONTINUATION_WORDS,
    COST_VERBS,
    DATE_CUES,
    DATE_QUESTION_WORDS,
    FEW_WORDS,
    INDEFINITE_ARTICLES,
    LIST_JOINING_WORDS,
    LIST_QUESTION_WORDS,
    MODAL_VERBS,
    MONTHS,
    NUMBER_WORDS,
    PERSON_CUES,
    PERSON_QUESTION_WORDS,
    PHRASE_JOINERS,
    SEASONS,
    WHICH_WORDS,
    one_of,
    resource_language,
)

# Everything the answer says besides the quotes, per answer language.
TEMPLATES = {
    "sv": {
        "according": "Enligt {source}:", "section": "avsnitt {n}", "sections": "avsnitten {n}", "and": "och",
        "page": "s. {n}", "pages": "s. {n}–{m}", "quote": "”{q}”", "title": "dokumentet ”{t}”",
        "cost": "vad {x} kostar",
        "nothing": "Dokumenten säger inget om {missing}.",
        "mentioned": "Dokumenten nämner {mentioned}, men säger inget om {missing}.",
        "unanswered": "Dokumenten tar upp {mentioned}, men inget ställe i dem svarar på frågan.",
        "unanswered_plain": "Inget ställe i dokumenten svarar på frågan.",
        "closest": "Närmaste träffar (de svarar inte på frågan):",
        "no_words": "Frågan innehåller inga ord att söka på. Ställ en fråga om innehållet i dokumenten.",
    },
    "nb": {
        "according": "Ifølge {source}:", "section": "avsnitt {n}", "sections": "avsnittene {n}", "and": "og",
        "page": "s. {n}", "pages": "s. {n}–{m}", "quote": "«{q}»", "title": "dokumentet «{t}»",
        "cost": "hva {x} koster",
        "nothing": "Dokumentene sier ikke noe om {missing}.",
        "mentioned": "Dokumentene nevner {mentioned}, men sier ikke noe om {missing}.",
        "unanswered": "Dokumentene tar opp {mentioned}, men ingen steder i dem svarer på spørsmålet.",
        "unanswered_plain": "Ingen steder i dokumentene svarer på spørsmålet.",
        "closest": "Nærmeste treff (de svarer ikke på spørsmålet):",
        "no_words": "Spørsmålet inneholder ingen ord å søke på. Still et spørsmål om innholdet i dokumentene.",
    },
    "nn": {
        "according": "Ifølgje {source}:", "section": "avsnitt {n}", "sections": "avsnitta {n}", "and": "og",
        "page": "s. {n}", "pages": "s. {n}–{m}", "quote": "«{q}»", "title": "dokumentet «{t}»",
        "cost": "kva {x} kostar",
        "nothing": "Dokumenta seier ikkje noko om {missing}.",
        "mentioned": "Dokumenta nemner {mentioned}, men seier ikkje noko om {missing}.",
        "unanswered": "Dokumenta tek opp {mentioned}, men ingen stader i dei svarar på spørsmålet.",
        "unanswered_plain": "Ingen stader i dokumenta svarar på spørsmålet.",
        "closest": "Næraste treff (dei svarar ikkje på spørsmålet):",
        "no_words": "Spørsmålet inneheld ingen ord å søkje på. Still eit spørsmål om innhaldet i dokumenta.",
    },
}
# Inside quoted text, what could close the quote or pose as a citation marker is replaced by a
# look-alike that cannot: the reader always knows where the document's words end.
_NEUTRAL = str.maketrans({"”": "’", "“": "‘", "„": "‚", '"': "'", "«": "‹", "»": "›", "[": "［", "]": "］"})
TITLE_CHARS = 120

# What a question asks for, and how to see it in a sentence.
_OPENS = "(?:^|" + "|".join(rf"\b{word} " for word in AND_WORDS) + ")"  # at the start, or after "och"/"og"
_ASKS = {
    "amount": re.compile(rf"\b{one_of(AMOUNT_CUES)}\b", re.IGNORECASE),
    "date": re.compile(rf"{_OPENS}{one_of(DATE_QUESTION_WORDS)}\b|\b{one_of(DATE_CUES)}\b", re.IGNORECASE),
    "person": re.compile(rf"{_OPENS}{one_of(PERSON_QUESTION_WORDS)}\b|"
                         + "|".join(rf"\b{cue}\b" for cue in PERSON_CUES), re.IGNORECASE),
    "list": re.compile(rf"^{one_of(LIST_QUESTION_WORDS)}\b", re.IGNORECASE),
}
_NUMBER = re.compile(rf"\d|\b{one_of(NUMBER_WORDS)}\b", re.IGNORECASE)
# Numbers that are not amounts: years, dates, section and law references ("(2017:30)", "LS 1408-0943",
# "10 kap 5 §").
_NOT_AMOUNT = re.compile(r"\([^)]*\)|\b(?:19|20)\d{2}(?:-\d{2,4})?\b|\b\d+(?:\.\d+)+\b|\b\d+:\d+\b|\bLS [\d–-]+|"
                         rf"\b\d+\s*{one_of([*CHAPTER_WORDS, '§'])}|§\s*\d+")
_MONTHS = one_of([*MONTHS, *SEASONS])
_MONTH = re.compile(_MONTHS, re.IGNORECASE)
# A date that answers "när": a year, a day and month ("2. juni", "12.3"), not a bare month ("i mars").
_FULL_DATE = re.compile(rf"\b(?:19|20)\d{{2}}\b|\b\d{{1,2}}\.\d{{1,2}}\b|\b\d{{1,2}}\.?\s+{_MONTHS}\b",
                        re.IGNORECASE)
_BODY = re.compile(rf"\b\w*{one_of(BODY_WORDS)}\w*\b", re.IGNORECASE)
_CAPITALISED = re.compile(r"(?<!^)(?<![.!?]\s)\b([A-ZÅÄÖÆØÉ][\w-]*)")
_AND = one_of(LIST_JOINING_WORDS)
_NAMED_PAIR = re.compile(rf"[»”\"]\s*{_AND}\s*[«“\"]|\b[A-ZÅÄÖÆØ][\w-]*\s+{_AND}\s+[A-ZÅÄÖÆØ]")
_LIST_TAIL = re.compile(rf",.*\b{_AND}\b")
_FEW = re.compile(rf"^{one_of(LIST_QUESTION_WORDS)}\s+{one_of(FEW_WORDS)}\b", re.IGNORECASE)
_WHICH = re.compile(rf"\b{one_of(WHICH_WORDS)}\s+", re.IGNORECASE)

HEADING_FACTOR = 0.4  # a title or heading is quoted only when running text does not answer
HEADING_WORDS = 12
SHORT_FACTOR = 0.8  # a bare list item or label says little on its own
SECTION_ANSWER_FACTOR = 0.7  # a short sentence (a list item) under a heading that matches the question
SECTION_ANSWER_CHARS = 160
MISSING_TYPE_FACTOR = 0.5  # the sentence lacks what the question asks for (a date, a number, ...)
MISSING_NAME_FACTOR = 0.5  # the question names something (capitalised) that the passage does not
MISSING_FOCUS_FACTOR = 0.7  # "vilken X": the passage does not mention X
BEST_PASSAGES = 3  # the passages whose sentences an answer may quote
EMBEDDED_SENTENCES = 12  # of those, how many are compared by embedding: the best passage's, then the best by words
_SHORT_SENTENCE_WORDS = 4
LIST_ITEMS = 6  # a quote that opens a list ("... bland annat:") takes up to this many of its items
CONTINUED_CHARS = 600  # and a quote grows by its continuation only up to this length
_CONTINUES = re.compile(rf"{one_of(CONTINUATION_WORDS)}\b")
COMMON_ZIPF = 5.3  # words this frequent ("per", "mye", "år") are not what a question is about


def neutral(text: str) -> str:
    """Document text as the answer quotes it: no quotation marks or [n] of its own, one line."""
    return " ".join(text.translate(_NEUTRAL).split())


def has_amount(text: str) -> bool:
    return bool(_NUMBER.search(_NOT_AMOUNT.sub(" ", text)))


def has_date(text: str) -> bool:
    return bool(_FULL_DATE.search(text))


def has_person(text: str) -> bool:
    """A name (a capitalised word not opening the sentence) or a body that decides or answers."""
    return bool(_CAPITALISED.search(text.strip()) or _BODY.search(text))


def has_list(text: str) -> bool:
    """An item, items joined by commas, or the line that opens a list ("... inom bland annat:")."""
    return text.lstrip().startswith(("-", "•")) or text.rstrip().endswith(":") or text.count(",") >= 2 or \
        bool(_LIST_TAIL.search(text))


def has_pair(text: str) -> bool:
    """Two or more things ("vilka två planer"): a list, or two names joined by "och"/"og"
    ("«Plan för innovation» och «Plan för forskning»", "Uppsala och Örebro")."""
    return has_list(text) or bool(_NAMED_PAIR.search(text))


KINDS: dict[str, Callable[[str], bool]] = {"amount": has_amount, "date": has_date, "person": has_person,
                                           "list": has_list}


@dataclass
class Demands:
    """What a passage must contain to answer the question, beyond its words."""

    kinds: dict[str, Callable[[str], bool]] = field(default_factory=dict)  # what it asks for (a date, ...)
    names: dict[str, Concept] = field(default_factory=dict)  # capitalised words (names of things), as written
    focus: Concept | None = None  # the X of "vilken X"
    numbers: list[str] = field(default_factory=list)  # numbers the question gives

    @classmethod
    def of(cls, question: str, content: list[Concept]) -> Demands:
        by_surface = {c.surface: c for c in content}
        text = question.strip()
        kinds = {kind: KINDS[kind] for kind, pattern in _ASKS.items() if pattern.search(text)}
        if "list" in kinds and "person" in kinds:
            del kinds["list"]  # "vilka personer": people, not a list
        if "list" in kinds and _FEW.search(text):
            kinds["list"] = has_pair  # "vilka två planer": "A och B" lists them
        names = {m: by_surface[m.lower()] for m in _CAPITALISED.findall(text) if m.lower() in by_surface}
        focus = None
        which = _WHICH.search(text)
        if which:
            following = re.findall(r"[^\W\d_][\w-]*", text[which.end():])
            head = next((w.lower() for w in following if not _NUMBER.fullmatch(w)), None)
            focus = by_surface.get(head) if head else None
        return cls(kinds, names, focus, re.findall(r"\d+(?:[.,:-]\d+)*", text))

    def passage_factor(self, passage: Passage) -> float:
        """How far the passage meets the demands (1.0: fully), with its organisation scope."""
        factor = passage.scope
        if self.kinds and not self.covered_by(passage.sentences, passage):
            factor *= MISSING_TYPE_FACTOR
        for written, name in self.names.items():
            if name.match(passage.terms) < 0.5 or not _names(passage, written):
                factor *= MISSING_NAME_FACTOR
        if self.focus is not None and self.focus not in self.names.values() and self.focus.match(passage.terms) < 0.5:
            factor *= MISSING_FOCUS_FACTOR
        return factor

    def lacking(self, texts: list[str]) -> list[Callable[[str], bool]]:
        """The kinds asked for (their tests) that none of the texts has."""
        return [has for has in self.kinds.values() if not any(has(t) for t in texts)]

    def covered_by(self, sentences: list[SentenceSpan], passage: Passage) -> bool:
        """Whether every kind asked for is in one of the sentences."""
        return not self.lacking([passage.span_text(s.start, s.end) for s in sentences])

    def missing_names(self, passages: list[Passage]) -> int:
        return sum(1 for written, name in self.names.items()
                   if not any(name.match(p.terms) >= 0.5 and _names(p, written) for p in passages))

    def missing_numbers(self, passages: list[Passage]) -> int:
        return sum(1 for number in self.numbers if not any(number in p.text for p in passages))


def _names(passage: Passage, written: str) -> bool:
    """Whether the passage (or its document's title, organisation and headings) names `written`.
    A capitalised word that is also a month ("Mars") must be capitalised there too: the month
    "mars" is not the planet Mars. Inflected forms count (Stockholms)."""
    if not _MONTH.fullmatch(written.lower()):
        return True  # the word match (lemmas, parts, sv/nb equivalents) has already been checked
    stem = written[:max(4, len(written) - 2)]
    where = " ".join([passage.text, passage.title, passage.organisation or "", *passage.heading_path])
    return re.search(rf"(?<![\w-]){re.escape(stem)}", where) is not None


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


@dataclass
class AnswerSettings:
    answerable_threshold: float | None = None  # abstain below this probability; None: the model's own
    quote_min_score: float = 0.2
    max_quotes: int = 4
    max_quotes_per_document: int = 2
    max_documents: int = 3
    document_share: float = 0.7  # a document joins the answer when its best sentence reaches this share of the best
    dense_sentence_weight: float = 5.0  # a sentence's cosine to the question, beside its lexical coverage
    second_quote_share: float = 0.85  # a document's second sentence is quoted when it scores this share of its first


@dataclass
class _Candidate:
    passage: Passage
    sentence: SentenceSpan
    start: int
    end: int
    score: float
    lexical: float = 0.0  # the sentence's own coverage of the question (with its headings)
    dense: float | None = None  # its cosine to the question

    @property
    def quote(self) -> str:
        return self.passage.span_text(self.start, self.end)


SentenceVectors = Callable[[list[str]], np.ndarray]  # sentences -> unit vectors (passage embeddings)


class Composer:
    def __init__(self, retriever: Retriever, settings: AnswerSettings, model: AnswerabilityModel) -> None:
        self.retriever = retriever
        self.settings = settings
        self.model = model

    # -- sentences ---------------------------------------------------------------------------------
    def _lexical(self, content: list[Concept], idf: dict, sentence: SentenceSpan, context: frozenset) -> float:
        """How well a sentence answers in words: its own first, its document and headings a little.
        Under a heading that itself matches the question ("Avtal om samverkan ..."), the section's
        short sentences (list items) answer it even in other words."""
        coverage = self.retriever.coverage
        own = coverage(content, idf, sentence.terms)
        score = 0.7 * own + 0.3 * coverage(content, idf, sentence.terms | context)
        if not sentence.heading and sentence.section_terms and sentence.end - sentence.start <= SECTION_ANSWER_CHARS:
            score = max(score, SECTION_ANSWER_FACTOR * coverage(content, idf, sentence.section_terms | sentence.terms))
        return score

    def _candidates(self, question: str, retrieval: Retrieval, content: list[Concept], demands: Demands
                    ) -> list[_Candidate]:
        passages = retrieval.passages[:BEST_PASSAGES]
        candidates = []
        for passage in passages:
            factor = demands.passage_factor(passage)
            for sentence in passage.sentences:
                lexical = self._lexical(content, retrieval.idf, sentence, passage.context_terms)
                candidate = _Candidate(passage, sentence, sentence.start, sentence.end, 0.0, lexical)
                candidate.score = lexical * factor
                if len(candidate.quote.split()) < _SHORT_SENTENCE_WORDS:
                    candidate.score *= SHORT_FACTOR
                if sentence.heading and len(candidate.quote.split()) <= HEADING_WORDS:
                    candidate.score *= HEADING_FACTOR  # (a long "heading" is an opening sentence set in bold)
                if demands.kinds and not any(has(candidate.quote) for has in demands.kinds.values()):
                    candidate.score *= MISSING_TYPE_FACTOR
                candidates.append(candidate)
        self._add_dense(question, candidates, retrieval.mode)
        return candidates

    def _add_dense(self, question: str, candidates: list[_Candidate], search: str) -> None:
        """The sentences' cosines to the question, when a model is loaded: a paraphrase or a
        question in the other language then still finds the sentence that answers."""
        model = self.retriever.dense_model() if search != "lexical" else None
        if model is None or not candidates:
            return
        first = candidates[0].passage
        chosen = sorted(candidates, key=lambda c: (c.passage is not first, -c.score))[:EMBEDDED_SENTENCES]
        cosines = model.embed_sentences([c.quote for c in chosen]) @ np.asarray(model.embed_query(question))
        best = float(cosines.max())
        for candidate, cosine in zip(chosen, cosines):
            candidate.dense = float(cosine)
        for candidate in candidates:  # a sentence not compared counts as a little below the best
            gap = (candidate.dense if candidate.dense is not None else best - 0.05) - best
            candidate.score += self.settings.dense_sentence_weight * gap * max(candidate.score, 0.1)

    # -- whether to answer ----------------------------------------------------------------------
    def signals(self, retrieval: Retrieval, candidates: list[_Candidate], demands: Demands) -> Signals:
        passages = retrieval.passages
        content = retrieval.query.content or retrieval.query.concepts
        best = passages[0] if passages else None
        vocabulary = self.retriever.catalog().vocabulary
        weights = {c.surface: retrieval.idf.get(c.surface, 0.0) + 0.5 for c in content}
        unseen = sum(w for c in content if not _known(c, vocabulary.df) for w in [weights[c.surface]])
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

    def assess(self, question: str, retrieval: Retrieval) -> tuple[Signals, Demands, list[_Candidate]]:
        """The answerability signals of a question, with what the answer is made from."""
        content = retrieval.query.content or retrieval.query.concepts
        demands = Demands.of(question, content)
        candidates = self._candidates(question, retrieval, content, demands)
        return self.signals(retrieval, candidates, demands), demands, candidates

    def compose(self, question: str, retrieval: Retrieval, language: str) -> Answer:
        started = time.perf_counter()
        lang = language if language in TEMPLATES else "sv"
        if not retrieval.query.concepts:
            return Answer(TEMPLATES[lang]["no_words"], True, lang, timings_ms=dict(retrieval.timings_ms))
        signals, demands, candidates = self.assess(question, retrieval)
        fit = self.model.fit_for(dense=retrieval.mode != "lexical" and self.retriever.dense_model() is not None)
        probability = fit.probability(signals)
        threshold = fit.threshold if self.settings.answerable_threshold is None else self.settings.answerable_threshold
        chosen = self._select(candidates, demands) if probability >= threshold else []
        if chosen:
            answer = self._answer(chosen, lang)
        else:
            answer = self._abstain(retrieval, candidates, lang)
        answer.answerability = round(probability, 4)
        answer.timings_ms = {**retrieval.timings_ms, "answer": round((time.perf_counter() - started) * 1000, 2)}
        return answer

    def abstention(self, question: str, retrieval: Retrieval, language: str) -> Answer:
        """The answer that says the documents do not answer, with the closest passages."""
        lang = language if language in TEMPLATES else "sv"
        content = retrieval.query.content or retrieval.query.concepts
        return self._abstain(retrieval, self._candidates(question, retrieval, content, Demands.of(question, content)),
                             lang)

    # -- the answer ------------------------------------------------------------------------------
    def _select(self, candidates: list[_Candidate], demands: Demands) -> list[list[_Candidate]]:
        """The sentences to quote, grouped by document (best document first, reading order
        within): each document's best sentence, a second where it adds what the question asks
        for, and never the same sentence twice."""
        s = self.settings
        ranked = sorted(candidates, key=lambda c: -c.score)
        if not ranked or ranked[0].score < s.quote_min_score:
            return []
        floor = max(s.quote_min_score, s.document_share * ranked[0].score)
        by_document: dict[str, list[_Candidate]] = {}
        for candidate in ranked:
            if candidate.score >= floor or candidate.passage.document_id in by_document:
                by_document.setdefault(candidate.passage.document_id, []).append(candidate)
        chosen: list[list[_Candidate]] = []
        quoted: set[str] = set()  # a sentence is quoted once, even where a document repeats it
        for pool in list(by_document.values())[:s.max_documents]:
            if pool[0].score < floor:
                continue
            keep = [pool[0]]
            quoted.add(_key(pool[0]))
            for candidate in pool[1:]:
                if len(keep) >= s.max_quotes_per_document or sum(map(len, chosen)) + len(keep) >= s.max_quotes:
                    break
                if _key(candidate) in quoted:
                    continue
                lacking = demands.lacking([k.quote for k in keep])
                adds_kind = any(has(candidate.quote) for has in lacking)  # the date or name still missing
                if adds_kind or candidate.score >= s.second_quote_share * pool[0].score:
                    keep.append(candidate)
                    quoted.add(_key(candidate))
            chosen.append(sorted((_continued(k) for k in keep), key=lambda c: c.start))
        return chosen

    def _answer(self, chosen: list[list[_Candidate]], lang: str) -> Answer:
        words = TEMPLATES[lang]
        parts, citations = [], []
        for candidates in chosen:
            quotes = []
            for candidate in _merge_adjacent(candidates):
                citation = _citation(len(citations) + 1, candidate)
                citations.append(citation)
                quotes.append(f"{words['quote'].format(q=neutral(citation.quote))} [{citation.id}]")
            lead = words["according"].format(source=_source(candidates[0].passage, citations[-len(quotes):], lang))
            parts.append(" ".join([lead, *quotes]))
        return Answer("\n\n".join(parts), False, lang, citations=citations)

    def _abstain(self, retrieval: Retrieval, candidates: list[_Candidate], lang: str) -> Answer:
        words = TEMPLATES[lang]
        text = self._unanswered(retrieval, lang)
        closest: list[Citation] = []
        for passage in retrieval.passages[:3]:
            own = [c for c in candidates if c.passage is passage]
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

    def _unanswered(self, retrieval: Retrieval, lang: str) -> str:
        """What the documents leave open, in the question's own words: the phrases of the question
        the index has never seen ("lön för ST-läkare"). Words the documents do use are named as
        mentioned, never as missing."""
        words = TEMPLATES[lang]
        df = self.retriever.catalog().vocabulary.df
        concepts = {c.surface: c for c in retrieval.query.content}
        missing, mentioned = _phrases(retrieval.query.text, concepts, df, words["and"], retrieval.query.language,
                                      words["cost"])
        if missing and mentioned:
            return words["mentioned"].format(mentioned=mentioned, missing=missing)
        if missing:
            return words["nothing"].format(missing=missing)
        return words["unanswered"].format(mentioned=mentioned) if mentioned else words["unanswered_plain"]


def _known(concept: Concept, df: dict[str, int]) -> bool:
    """Whether the index has the word (its lemma, an equivalent, or all its compound parts)."""
    return any(df.get(k) for k in concept.full) or bool(concept.parts) and all(df.get(p) for p in concept.parts)


def _phrases(question: str, concepts: dict[str, Concept], df: dict[str, int], joiner: str,
             language: str = "sv", cost: str = "{x}") -> tuple[str, str]:
    """(missing, mentioned): the question's content words grouped into the phrases they form in
    it. A missing phrase starts at a word the index lacks and runs on through joining words
    ("för", "av") and the words they join; a mentioned phrase is a run of known words. A name of
    several words ("Helse Midt-Norge") stays whole, and is named as mentioned when the documents
    know it rather than pulled into the missing phrase. Words as common as "per",
    "mye" or "år" are never a topic of their own, and a question about a price ("Vad kostar …")
    has its missing phrase put as `cost` ("vad {x} kostar")."""
    units: list[tuple[str, str | None, bool]] = []  # (text, kind, is a name)
    asks_cost = False
    words = re.findall(r"[^\W_][\w-]*", question)
    for position, word in enumerate(words):
        concept = concepts.get(tokens(word)[0] if tokens(word) else "")
        if word.lower() in COST_VERBS:
            asks_cost, kind = True, None
        elif position > 0 and is_verb(word, language, words[position - 2] if position > 1 else ""):
            kind = None  # what the question does ("avsätter", "hanteras") is no subject of the documents
        else:
            kind = ("joiner" if word.lower() in PHRASE_JOINERS else
                    None if concept is None or zipf(word, language) >= COMMON_ZIPF else
                    "known" if _known(concept, df) else "missing")
        name = position > 0 and word[0].isupper() and not word[:2].isupper()  # "ST-läkare" is no name
        if name and units and units[-1][2]:  # the next word of a name
            text, previous, _ = units[-1]
            merged = "known" if "known" in (previous, kind) else "missing" if "missing" in (previous, kind) else None
            units[-1] = (f"{text} {word}", merged, True)
        else:
            units.append((word, kind, name))
    kinds = [kind for _, kind, _ in units]
    missing: list[str] = []
    mentioned: list[str] = []
    index = 0
    while index < len(units):
        if kinds[index] == "missing":
            end = index + 1
            while end < len(units) and (kinds[end] == "missing" or kinds[end] == "joiner" and end + 1 < len(units)
                                        and (kinds[end + 1] == "missing" or kinds[end + 1] == "known"
                                             and " " not in units[end + 1][0])):
                end += 2 if kinds[end] == "joiner" else 1
            article = index and units[index - 1][0].lower() in INDEFINITE_ARTICLES  # "en parkeringsplats"
            start = index - 1 if article else index
            missing.append(" ".join(text for text, _, _ in units[start:min(end, len(units))]))
            index = end
        elif kinds[index] == "known":
            end = index + 1
            while end < len(units) and kinds[end] == "known":
                end += 1
            mentioned.append(" ".join(text for text, _, _ in units[index:end]))
            index = end
        else:
            index += 1
    missing_text = _listed(missing, joiner)
    return (cost.format(x=missing_text) if asks_cost and missing_text else missing_text), _listed(mentioned, joiner)


def is_verb(word: str, language: str, two_before: str = "") -> bool:
    """Whether a question's word is a verb, from its form and its lemma: a present, past or
    passive form of a verb ("avsätter", "startades", "hanteras", "ingår", "opprettes"), or an
    infinitive after a modal and its subject ("skal helseforetakene redusere"). Nouns keep
    their plural ("studier", "avtaler"): Swedish -er only counts on a verb in -a, and Norwegian
    present forms in -er are left alone (they are plurals as often)."""
    lower = word.lower()
    if not lower.isalpha() or not word[0].islower():
        return False
    base = lemma(lower, resource_language(language))
    if base[-1:] in ("a", "e", "å") and lower in (base + "s", base + "r" if base[-1] in "aå" else ""):
        return True  # passive ("hanteras", "opprettes"), present ("ingår", "bidrar" from "bidra")
    if language == "sv" and base.endswith("a") and lower[len(base) - 1:] in ("ar", "er", "ade", "ades", "at", "ats"):
        return True  # "avsätter", "startades", "identifierat"
    if language == "sv" and base.endswith("ad") and lower == base + "e":
        return True  # "fattade" (the lemmatizer's participle "fattad")
    return lower == base and base[-1:] in ("a", "e") and two_before.lower() in MODAL_VERBS


def _listed(phrases: list[str], joiner: str) -> str:
    phrases = list(dict.fromkeys(phrases))
    if len(phrases) <= 1:
        return "".join(phrases)
    return ", ".join(phrases[:-1]) + f" {joiner} " + phrases[-1]


def _continued(candidate: _Candidate) -> _Candidate:
    """The quote with what completes it: the items of a list it opens ("... bland annat:"), or a
    next sentence that only goes on with it ("Detta ska ske genom ...")."""
    sentences = candidate.passage.sentences
    following = [t for t in sentences if t.start >= candidate.end]
    opens_list = candidate.quote.rstrip().endswith(":")
    end = candidate.end
    for sentence in following[:LIST_ITEMS if opens_list else 1]:
        text = candidate.passage.span_text(sentence.start, sentence.end)
        if sentence.heading or sentence.end - candidate.start > CONTINUED_CHARS or \
                not (opens_list or _CONTINUES.match(text)):
            break
        end = sentence.end
    return replace(candidate, end=end) if end != candidate.end else candidate


def _key(candidate: _Candidate) -> str:
    return " ".join(candidate.quote.lower().split())


def _merge_adjacent(candidates: list[_Candidate]) -> list[_Candidate]:
    """Neighbouring (or overlapping: a list quoted with its items) sentences of one passage
    become one quote (and one citation)."""
    merged: list[_Candidate] = []
    for candidate in candidates:
        previous = merged[-1] if merged else None
        if previous and previous.passage is candidate.passage and _adjacent(previous, candidate):
            merged[-1] = replace(previous, end=max(previous.end, candidate.end),
                                 score=max(previous.score, candidate.score))
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
