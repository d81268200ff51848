"""Hybrid retrieval: from a question to ranked passages.

The question is analysed like the chunks were (lemmas, compound parts), its content words are
widened with Swedish/Norwegian equivalents (a small glossary and near spellings found in the
index), and one Qdrant query fuses a dense and a sparse search. The candidates are then ranked
by how much of the question they cover (each content word weighted by its rarity) with the
fused rank as tie-breaker, optionally reranked by a cross-encoder, and spread over documents
so that one long document does not crowd out the others.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import NamedTuple

from qdrant_client import models

from fouassist.analysis import AnalyzedQuery, Analyzer, Concept, Vocabulary, term_id, term_key, zipf
from fouassist.embedding import Embedder
from fouassist.store import IndexStore, SearchFilters

SYNONYM_WEIGHT = 0.6
UNSEEN_MIN_WEIGHT = 0.2
IDF_SMOOTHING = 0.5

_TOPIC_RE = re.compile(
    r"\b(?:om|angående|kring|gällande|beträffande|rörande|rundt|vedrørende|angåande|når det gjelder|när det gäller)"
    r"\s+(.+)$",
    re.IGNORECASE,
)
# Words of organisation names that do not single out one organisation.
_GENERIC_NAME_WORDS = {"region", "sjukvårdsregion", "helse", "landsting", "läns", "län", "samverkansnämnd",
                       "hf", "kommun", "kommune", "fylkeskommune", "universitetssykehus", "hospital"}
SCOPE_PENALTY = 0.5

_FOLLOW_UP_CUES = {
    "sv": ("och ", "men ", "samt ", "än ", "hur är det med", "vad gäller", "gäller det", "också ", "vad med", "och vad"),
    "nb": ("og ", "men ", "enn ", "hva med", "hvordan er det med", "gjelder det", "også ", "når det gjelder", "og hva"),
    "nn": ("og ", "men ", "enn ", "kva med", "korleis er det med", "gjeld det", "òg ", "og kva"),
}


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
    page: int | None
    text: str
    start: int
    end: int
    sentences: list[SentenceSpan]
    context_terms: frozenset[str]
    fused: float  # the store's score: BM25 (lexical only) or reciprocal rank fusion
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
    def from_payload(cls, chunk_id: str, score: float, payload: dict) -> Passage:
        headings = [frozenset(terms.split()) for terms in payload.get("section_terms", [])]
        return cls(
            chunk_id=chunk_id, document_id=payload["document_id"], title=payload["title"],
            organisation=payload.get("organisation"), language=payload["language"], date=payload.get("date"),
            source=payload.get("source", ""), section=payload.get("section"),
            heading_path=payload.get("heading_path", []), page=payload.get("page"), text=payload["text"],
            start=payload["start"], end=payload["end"],
            sentences=[
                SentenceSpan(s, e, frozenset(t.split()), section, page, heading, headings[h])
                for s, e, t, section, page, heading, h in payload.get("sentences", [])
            ],
            context_terms=frozenset(payload.get("context_terms", "").split()), fused=score,
        )


@dataclass
class Retrieval:
    query: AnalyzedQuery
    passages: list[Passage]
    idf: dict[str, float] = field(default_factory=dict)  # per content concept (by surface)
    timings_ms: dict[str, float] = field(default_factory=dict)


@dataclass
class RetrievalSettings:
    candidates: int = 30
    diversity_decay: float = 0.75
    rank_weight: float = 0.35


def load_glossary(analyzer: Analyzer) -> dict[str, set[str]]:
    """Term key -> keys of its equivalents, from the packaged sv/nb glossary."""
    text = resources.files("fouassist").joinpath("data/glossary.tsv").read_text(encoding="utf-8")
    equivalents: dict[str, set[str]] = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        swedish, norwegian = line.split("\t")
        keys = {_glossary_key(analyzer, w, "sv") for w in swedish.split(",") if w.strip()}
        keys |= {_glossary_key(analyzer, w, "nb") for w in norwegian.split(",") if w.strip()}
        keys.discard("")
        for key in keys:
            equivalents.setdefault(key, set()).update(keys - {key})
    return equivalents


def _glossary_key(analyzer: Analyzer, word: str, lang: str) -> str:
    terms = analyzer.word_terms(word.strip().lower(), lang)
    return term_key(terms[0][0]) if terms else ""


def topic_phrase(question: str) -> str | None:
    """What a question is about, when it says so: the words after "om" ("... om forskningstid?")."""
    match = _TOPIC_RE.search(question.strip().rstrip("?!. "))
    return match.group(1).strip() if match and match.group(1).strip() else None


class Retriever:
    def __init__(
        self,
        analyzer: Analyzer,
        store: IndexStore,
        embedder: Embedder | None,
        vocabulary: Vocabulary,
        glossary: dict[str, set[str]],
        settings: RetrievalSettings,
        reranker=None,
    ) -> None:
        self.analyzer = analyzer
        self.store = store
        self.embedder = embedder
        self.vocabulary = vocabulary
        self.glossary = glossary
        self.settings = settings
        self.reranker = reranker
        self.names: dict[str, set[str]] = {}  # term key of an organisation's name -> its document ids

    def set_documents(self, records: list[dict]) -> None:
        """Learn the organisations' names, so that a question naming one is scoped to its documents."""
        names: dict[str, set[str]] = {}
        for record in records:
            organisation = record.get("organisation") or ""
            for key in self.analyzer.term_weights(organisation, record.get("language", "sv")):
                if key not in _GENERIC_NAME_WORDS:
                    names.setdefault(key, set()).add(record["id"])
        self.names = names

    def scope(self, query: AnalyzedQuery) -> set[str]:
        """Documents of the organisations the question names (empty: it names none)."""
        found: set[str] = set()
        for concept in query.content:
            for key in [*concept.full, *concept.parts]:
                found |= self.names.get(key, set())
        return found

    def resolve_follow_up(self, question: str, history: list[dict]) -> str:
        """The text to search for: a short follow-up ("Och i Mellansverige?") gets the subject of the
        conversation's earlier questions added; any other question stands as it is."""
        earlier = [m["content"] for m in history if m.get("role") == "user" and m.get("content", "").strip()]
        if not earlier:
            return question
        subject = earlier[0]
        for turn in earlier[1:]:
            subject = self.resolve_follow_up(turn, [{"role": "user", "content": subject}])
        query = self.analyzer.analyze_query(question)
        lowered = question.strip().lower()
        cue = lowered.startswith(_FOLLOW_UP_CUES.get(query.language, _FOLLOW_UP_CUES["sv"]))
        own_topic = topic_phrase(question)
        if not cue and (own_topic or len(query.content) > 1 or len(lowered.split()) > 5):
            return question
        previous = self.analyzer.analyze_query(subject)
        if own_topic:  # "Och om kompetensförsörjning?": a new topic, asked of the same organisation
            names = [c.surface for c in previous.content if any(k in self.names for k in c.full)]
            return f"{question} {' '.join(names)}".strip()
        topic = topic_phrase(subject)
        if topic:
            return f"{question} {topic}"
        # Without a stated topic, carry the earlier content words, but not the organisation it
        # named when the follow-up names another ("Och i Mellansverige?").
        names_now = self.scope(query)
        new = {c.surface for c in query.content}
        carried = [c.surface for c in previous.content if c.surface not in new
                   and not (names_now and any(k in self.names for k in c.full))]
        return f"{question} {' '.join(carried)}".strip()


    # -- the question ---------------------------------------------------------------------------
    def analyze(self, text: str, language: str | None = None) -> AnalyzedQuery:
        """Analyse a question and widen each word with its equivalents in the index's languages."""
        query = self.analyzer.analyze_query(text, language)
        other_languages = [lang for lang in self.vocabulary.by_language if lang != query.language]
        concepts = []
        for concept in query.concepts:
            full = dict(concept.full)
            for key in list(concept.full):
                equivalents = self.glossary.get(key, ())
                for equivalent in equivalents:
                    full.setdefault(equivalent, SYNONYM_WEIGHT)
                # Near spellings in the other language ("kompetanse" ~ "kompetens"), only for words
                # the index hardly knows as they are and the glossary does not cover.
                if not concept.frame and other_languages and not equivalents and self.vocabulary.df.get(key, 0) < 2:
                    for cognate, weight in self.vocabulary.cognates(key, other_languages).items():
                        full[cognate] = max(full.get(cognate, 0.0), weight)
            concepts.append(replace(concept, full=full))
        return AnalyzedQuery(text=query.text, language=query.language, concepts=concepts)

    def concept_idf(self, concept: Concept, language: str) -> float:
        """How much a question word weighs: its IDF in the index, or for a word the index has
        never seen, the highest IDF scaled by how rare the word is in the language at large
        (an unseen "cancerscreening" weighs a lot, an unseen "definierar" less)."""
        main = next(iter(concept.full))  # the word's own lemma; the rest are its equivalents
        if self.vocabulary.df.get(main):
            return self.vocabulary.idf(main)
        known = [self.vocabulary.idf(k) for k in concept.full if self.vocabulary.df.get(k)]
        if not known and concept.parts and all(self.vocabulary.df.get(p) for p in concept.parts):
            known = [sum(self.vocabulary.idf(p) for p in concept.parts) / len(concept.parts)]
        if known:
            return max(known)
        rarity = min(1.0, max(UNSEEN_MIN_WEIGHT, (6.0 - zipf(concept.surface, language)) / 5.0))
        return self.vocabulary.idf("\x00unseen") * rarity

    def coverage(self, concepts: list[Concept], idf: dict[str, float], present: frozenset[str]) -> float:
        """Share of the question's content words found in `present`, each weighted by its IDF
        plus a constant, so that a word found in most chunks still counts a little."""
        total = sum(idf[c.surface] + IDF_SMOOTHING for c in concepts)
        if not total:
            return 0.0
        return sum((idf[c.surface] + IDF_SMOOTHING) * c.match(present) for c in concepts) / total

    @staticmethod
    def sparse_vector(query: AnalyzedQuery) -> models.SparseVector:
        weights: dict[int, float] = {}
        for key, weight in query.sparse_weights().items():
            index = term_id(key)
            weights[index] = max(weights.get(index, 0.0), weight)
        indices = sorted(weights)
        return models.SparseVector(indices=indices, values=[weights[i] for i in indices])

    # -- the search ------------------------------------------------------------------------------
    def search(
        self,
        text: str,
        top_k: int,
        filters: SearchFilters | None = None,
        visible: list[str] | None = None,
        language: str | None = None,
        mode: str = "hybrid",
    ) -> Retrieval:
        """`mode` "hybrid" uses every signal the index has; "lexical" and "dense" use one (for evaluation)."""
        timings: dict[str, float] = {}
        started = time.perf_counter()
        query = self.analyze(text, language)
        content = query.content or query.concepts
        idf = {c.surface: self.concept_idf(c, query.language) for c in content}
        timings["analysis"] = _ms(started)
        dense = None
        if self.embedder is not None and mode != "lexical":  # set only when the index has dense vectors
            started = time.perf_counter()
            dense = self.embedder.embed_query(text)
            timings["embedding"] = _ms(started)
        sparse = self.sparse_vector(query) if mode != "dense" else None
        started = time.perf_counter()
        hits = self.store.search(sparse, dense, filters, visible, max(self.settings.candidates, top_k))
        timings["search"] = _ms(started)
        started = time.perf_counter()
        passages = [Passage.from_payload(h.id, h.score, h.payload) for h in hits]
        scoped = self.scope(query)
        for passage in passages:
            if scoped and passage.document_id not in scoped:
                passage.scope = SCOPE_PENALTY
        self._score(passages, text, content, idf, timings)
        ranked = self._diversify(passages, top_k)
        timings["ranking"] = _ms(started) - timings.get("rerank", 0.0)
        return Retrieval(query=query, passages=ranked, idf=idf, timings_ms=timings)

    def _score(self, passages: list[Passage], text: str, content: list[Concept], idf: dict, timings: dict) -> None:
        if not passages:
            return
        order = list(range(len(passages)))
        if self.reranker is not None:
            started = time.perf_counter()
            scores = self.reranker.predict([(text, p.text) for p in passages], show_progress_bar=False)
            order = sorted(order, key=lambda i: -float(scores[i]))
            timings["rerank"] = _ms(started)
        rank_of = {i: rank for rank, i in enumerate(order)}
        for index, passage in enumerate(passages):
            passage.coverage = self.coverage(content, idf, passage.terms)
            rank_score = 1.0 / (1.0 + rank_of[index] / 5.0)
            passage.score = (passage.coverage + self.settings.rank_weight * rank_score) * passage.scope

    def _diversify(self, passages: list[Passage], top_k: int) -> list[Passage]:
        """Greedy selection where each earlier pick from the same document lowers a passage's score."""
        remaining = sorted(passages, key=lambda p: -p.score)
        chosen: list[Passage] = []
        per_document: dict[str, int] = {}
        decay = self.settings.diversity_decay
        while remaining and len(chosen) < top_k:
            best = max(remaining, key=lambda p: p.score * decay ** per_document.get(p.document_id, 0))
            remaining.remove(best)
            chosen.append(best)
            per_document[best.document_id] = per_document.get(best.document_id, 0) + 1
        return chosen


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)

