"""Hybrid retrieval: from a question to ranked passages, in three stages built once.

1. analyse: the question goes through the same Swedish/Norwegian analysis as the chunks (lemmas,
   compound parts), and its content words are widened with their equivalents in the other
   language (a small glossary, and near spellings found in the index);
2. fuse: one Qdrant query runs a dense and a sparse ranking and fuses them (weighted reciprocal
   rank fusion) in the engine;
3. rank: the candidates are ordered by lexical coverage of the question (each word weighted by
   its rarity), cosine similarity to the question and fused rank together, optionally reranked
   by a cross-encoder, and spread over documents so that one long document does not crowd out
   the others.

The answer is composed from the ranked passages by `answer.Composer`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from fouassist.ask.ranking import RankWeights, diversify, rank_score
from fouassist.index.backends import Sparse
from fouassist.index.embedding import Embedder
from fouassist.index.store import Hit, IndexStore, SearchFilters
from fouassist.language.analysis import AnalyzedQuery, Analyzer, Concept, term_id, term_key
from fouassist.language.lemmas import zipf
from fouassist.language.words import FOLLOW_UP_CUES, TOPIC_CUES, one_of

if TYPE_CHECKING:
    from fouassist.index.catalog import Catalog

SYNONYM_WEIGHT = 0.6
UNSEEN_MIN_WEIGHT = 0.2
IDF_SMOOTHING = 0.5

_TOPIC_RE = re.compile(rf"\b{one_of(TOPIC_CUES)}\s+(.+)$", re.IGNORECASE)
SCOPE_PENALTY = 0.5


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


@dataclass
class Retrieval:
    query: AnalyzedQuery
    passages: list[Passage]
    idf: dict[str, float] = field(default_factory=dict)  # per content concept (by surface)
    timings_ms: dict[str, float] = field(default_factory=dict)
    mode: str = "hybrid"  # which signals found the passages: hybrid, lexical or dense
    # What the question was answered against, read once: the catalog (term statistics, names) and
    # the dense model (None in lexical mode or when the index has no vectors of the loaded model).
    catalog: Catalog | None = None
    model: Embedder | None = None


TIE_MARGIN = 10  # the fused query asks for this many more, so that ties at its cut are cut by id


@dataclass(frozen=True)
class RetrievalSettings:
    """The retrieval part of the settings (defaults and tuned values live in config.Settings only)."""
    candidates: int  # chunks each ranking fetches before fusion
    diversity_decay: float  # score factor per earlier pick from the same document
    rrf_dense_weight: float  # weights of the two rankings in the engine's fusion
    rrf_sparse_weight: float
    coverage_weight: float  # the ranking stage's signals: lexical coverage of the question,
    dense_weight: float  # cosine similarity to the question,
    fused_weight: float  # and the position in the engine's fused result

    @classmethod
    def of(cls, settings) -> "RetrievalSettings":
        return cls(**{field: getattr(settings, field) for field in cls.__dataclass_fields__})


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
    """The retrieval stages, built once: analyse the question, run the fused query, rank the
    candidates. What changes while the service runs (the catalog of documents, the glossary and
    the model, which load in the background) comes from the providers it was given."""

    def __init__(
        self,
        analyzer: Analyzer,
        store: IndexStore,
        catalog: Callable[[], Catalog],
        glossary: Callable[[], dict[str, set[str]]],
        embedder: Callable[[], Embedder | None],
        settings: RetrievalSettings,
        reranker=None,
    ) -> None:
        self.analyzer = analyzer
        self.store = store
        self.catalog = catalog
        self.glossary = glossary
        self.embedder = embedder
        self.settings = settings
        self.reranker = reranker

    def dense_model(self, catalog: Catalog) -> Embedder | None:
        """The model, when the index holds its vectors (never another model's)."""
        embedder = self.embedder()
        return embedder if embedder is not None and catalog.dense_model == embedder.identity else None

    def resolve_follow_up(self, question: str, history: list[dict], catalog: Catalog | None = None) -> str:
        """The text to search for: a short follow-up ("Och i Mellansverige?") gets the subject of the
        conversation's earlier questions added; any other question stands as it is."""
        earlier = [m["content"] for m in history if m.get("role") == "user" and m.get("content", "").strip()]
        if not earlier:
            return question
        catalog = catalog or self.catalog()
        names = catalog.names
        subject = earlier[0]
        for turn in earlier[1:]:
            subject = self.resolve_follow_up(turn, [{"role": "user", "content": subject}], catalog)
        query = self.analyzer.analyze_query(question)
        lowered = question.strip().lower()
        cue = lowered.startswith(FOLLOW_UP_CUES.get(query.language, FOLLOW_UP_CUES["sv"]))
        own_topic = topic_phrase(question)
        if not cue and (own_topic or len(query.content) > 1 or len(lowered.split()) > 5):
            return question
        previous = self.analyzer.analyze_query(subject)
        if own_topic:  # "Och om kompetensförsörjning?": a new topic, asked of the same organisation
            named = [c.surface for c in previous.content if any(k in names for k in c.full)]
            return f"{question} {' '.join(named)}".strip()
        topic = topic_phrase(subject)
        if topic:
            return f"{question} {topic}"
        # Without a stated topic, carry the earlier content words, but not the organisation it
        # named when the follow-up names another ("Och i Mellansverige?").
        names_now = scope(query, names)
        new = {c.surface for c in query.content}
        carried = [c.surface for c in previous.content if c.surface not in new
                   and not (names_now and any(k in names for k in c.full))]
        return f"{question} {' '.join(carried)}".strip()

    # -- stage 1: the question ----------------------------------------------------------------------
    def analyze(self, text: str, language: str | None, catalog: Catalog) -> AnalyzedQuery:
        """Analyse a question and widen each word with its equivalents in the index's languages."""
        vocabulary = catalog.vocabulary
        glossary = self.glossary()
        query = self.analyzer.analyze_query(text, language)
        other_languages = [lang for lang in vocabulary.by_language if lang != query.language]
        concepts = []
        for concept in query.concepts:
            full = dict(concept.full)
            for key in list(concept.full):
                equivalents = glossary.get(key, ())
                for equivalent in equivalents:
                    full.setdefault(equivalent, SYNONYM_WEIGHT)
                # Near spellings in the other language ("kompetanse" ~ "kompetens"), only for words
                # the index hardly knows as they are and the glossary does not cover.
                if not concept.frame and other_languages and not equivalents and vocabulary.df.get(key, 0) < 2:
                    for cognate, weight in vocabulary.cognates(key, other_languages).items():
                        full[cognate] = max(full.get(cognate, 0.0), weight)
            concepts.append(replace(concept, full=full))
        return AnalyzedQuery(text=query.text, language=query.language, concepts=concepts)

    def concept_idf(self, concept: Concept, language: str, catalog: Catalog) -> float:
        """How much a question word weighs: its IDF in the index, or for a word the index has
        never seen, the highest IDF scaled by how rare the word is in the language at large
        (an unseen "cancerscreening" weighs a lot, an unseen "definierar" less)."""
        vocabulary = catalog.vocabulary
        main = next(iter(concept.full))  # the word's own lemma; the rest are its equivalents
        if vocabulary.df.get(main):
            return vocabulary.idf(main)
        known = [vocabulary.idf(k) for k in concept.full if vocabulary.df.get(k)]
        if not known and concept.parts and all(vocabulary.df.get(p) for p in concept.parts):
            known = [sum(vocabulary.idf(p) for p in concept.parts) / len(concept.parts)]
        if known:
            return max(known)
        rarity = min(1.0, max(UNSEEN_MIN_WEIGHT, (6.0 - zipf(concept.surface, language)) / 5.0))
        return vocabulary.idf("\x00unseen") * rarity

    @staticmethod
    def coverage(concepts: list[Concept], idf: dict[str, float], present: frozenset[str]) -> float:
        """Share of the question's content words found in `present`, each weighted by its IDF
        plus a constant, so that a word found in most chunks still counts a little."""
        total = sum(idf[c.surface] + IDF_SMOOTHING for c in concepts)
        if not total:
            return 0.0
        return sum((idf[c.surface] + IDF_SMOOTHING) * c.match(present) for c in concepts) / total

    @staticmethod
    def sparse_vector(query: AnalyzedQuery) -> Sparse:
        weights: dict[int, float] = {}
        for key, weight in query.sparse_weights().items():
            index = term_id(key)
            weights[index] = max(weights.get(index, 0.0), weight)
        indices = sorted(weights)
        return Sparse(tuple(indices), tuple(weights[i] for i in indices))

    # -- stage 2: the fused query -------------------------------------------------------------------
    def fuse(self, query: AnalyzedQuery, vector: list[float] | None, filters: SearchFilters | None,
             limit: int, mode: str) -> list[Passage]:
        """One query to the engine: the dense and the sparse ranking, fused there."""
        s = self.settings
        sparse = self.sparse_vector(query) if mode != "dense" else None
        plan = self.store.plan(sparse, vector if mode != "lexical" else None, filters, limit + TIE_MARGIN,
                               s.candidates, s.rrf_dense_weight, s.rrf_sparse_weight)
        if plan is None:
            return []
        # Fusion often ties (two chunks at the same places of the two rankings), and the engine
        # returns ties in no fixed order: order them by id and give them one rank, so that a
        # question always gets the same answer.
        scored = sorted(((round(hit.score, 9), hit) for hit in self.store.search(plan)),
                        key=lambda pair: (-pair[0], pair[1].id))[:limit]
        ranks = [0] * len(scored)
        for index in range(1, len(scored)):
            ranks[index] = ranks[index - 1] if scored[index][0] == scored[index - 1][0] else index
        return [Passage.from_hit(hit, rank, vector) for (_, hit), rank in zip(scored, ranks)]

    # -- stage 3: the ranking -------------------------------------------------------------------
    def rerank(self, passages: list[Passage], text: str) -> list[int]:
        """The candidates' order by the optional cross-encoder (indices into `passages`)."""
        scores = self.reranker.predict([(text, p.text) for p in passages], show_progress_bar=False)
        return sorted(range(len(passages)), key=lambda i: -float(scores[i]))

    def rank(self, passages: list[Passage], query: AnalyzedQuery, idf: dict[str, float], top_k: int, mode: str,
             order: list[int] | None, catalog: Catalog) -> list[Passage]:
        """Order the candidates by what each signal says: how much of the question a passage
        covers, how close its vector is to the question's, where the engine (or the reranker,
        when `order` is given) put it; then spread the picks over documents."""
        s = self.settings
        weights = RankWeights.of(mode, s.coverage_weight, s.dense_weight, s.fused_weight)
        content = query.content or query.concepts
        if order:
            rank_of = {i: rank for rank, i in enumerate(order)}
        else:
            rank_of = {i: p.fused_rank for i, p in enumerate(passages)}
        scoped = scope(query, catalog.names)
        for index, passage in enumerate(passages):
            passage.coverage = self.coverage(content, idf, passage.terms)
            passage.scope = SCOPE_PENALTY if scoped and passage.document_id not in scoped else 1.0
            passage.score = rank_score(weights, passage.coverage, passage.dense, rank_of[index], passage.scope)
        return diversify(passages, lambda p: p.score, lambda p: p.document_id, s.diversity_decay, top_k)

    # -- the stages in a row --------------------------------------------------------------------------
    def search(self, text: str, top_k: int, filters: SearchFilters | None = None, language: str | None = None,
               mode: str = "hybrid", catalog: Catalog | None = None) -> Retrieval:
        """`mode` "hybrid" uses every signal the index has; "lexical" and "dense" one each (for evaluation).
        `catalog`: the one the question is answered against (read now when not given)."""
        timings: dict[str, float] = {}
        catalog = catalog or self.catalog()
        with _timed(timings, "analysis"):
            query = self.analyze(text, language, catalog)
            content = query.content or query.concepts
            idf = {c.surface: self.concept_idf(c, query.language, catalog) for c in content}
        vector = None
        model = self.dense_model(catalog) if mode != "lexical" else None
        if model is not None:
            with _timed(timings, "embedding"):
                vector = model.embed_query(text)
        if mode == "dense" and vector is None:
            return Retrieval(query, [], idf, timings, mode, catalog)
        with _timed(timings, "search"):
            candidates = self.fuse(query, vector, filters, max(self.settings.candidates, top_k), mode)
        order = None
        if self.reranker and candidates:
            with _timed(timings, "rerank"):
                order = self.rerank(candidates, text)
        with _timed(timings, "ranking"):
            passages = self.rank(candidates, query, idf, top_k, mode, order, catalog)
        return Retrieval(query=query, passages=passages, idf=idf, timings_ms=timings, mode=mode, catalog=catalog,
                         model=model)


def scope(query: AnalyzedQuery, names: dict[str, set[str]]) -> set[str]:
    """Documents of the organisations the question names (empty: it names none)."""
    found: set[str] = set()
    for concept in query.content:
        for key in [*concept.full, *concept.parts]:
            found |= names.get(key, set())
    return found


@contextmanager
def _timed(timings: dict[str, float], name: str):
    started = time.perf_counter()
    yield
    timings[name] = round((time.perf_counter() - started) * 1000, 2)
