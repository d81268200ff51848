"""Hybrid retrieval: from an understood `Question` to ranked passages and the candidate
sentences an answer may quote, in stages built once.

1. fuse: one Qdrant query runs a dense and a sparse ranking and fuses them (weighted reciprocal
   rank fusion) in the engine;
2. rank: the candidates are ordered by lexical coverage of the question (each word weighted by
   its rarity), cosine similarity to the question and fused rank together, optionally reranked
   by a cross-encoder, and spread over documents so that one long document does not crowd out
   the others;
3. sentences: the sentences of the best passages, scored (`sentences`).

The result, `Retrieval`, is all the composer and the generator read: they call nothing back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fouassist.ask.passages import Passage
from fouassist.ask.question import Question
from fouassist.ask.quotes import Candidate
from fouassist.ask.ranking import RankWeights, diversify, rank_score
from fouassist.ask.sentences import candidate_sentences
from fouassist.config import RetrievalSettings
from fouassist.index.backends import Sparse
from fouassist.index.embedding import Embedder
from fouassist.index.store import IndexStore, SearchFilters
from fouassist.language.analysis import AnalyzedQuery, term_id

if TYPE_CHECKING:
    from fouassist.index.catalog import Catalog

SCOPE_PENALTY = 0.5


@dataclass
class Retrieval:
    """What retrieval hands on: the question, the ranked passages and the candidate sentences."""

    question: Question
    passages: list[Passage]
    sentences: list[Candidate] = field(default_factory=list)  # of the best passages (`sentences`)
    timings_ms: dict[str, float] = field(default_factory=dict)
    mode: str = "hybrid"  # which signals found the passages: hybrid, lexical or dense
    dense: bool = False  # whether a dense model served the question (False in lexical mode or when
    # the index has no vectors of the loaded model)


TIE_MARGIN = 10  # the fused query asks for this many more, so that ties at its cut are cut by id


class Retriever:
    """The retrieval stages, built once: run the fused query, rank the candidates, score their
    sentences. The model loads in the background: `embedder` gives it when it is there."""

    def __init__(self, store: IndexStore, embedder: Callable[[], Embedder | None], settings: RetrievalSettings,
                 reranker=None) -> None:
        self.store = store
        self.embedder = embedder
        self.settings = settings
        self.reranker = reranker

    def dense_model(self, catalog: Catalog) -> Embedder | None:
        """The model, when the index holds its vectors (never another model's)."""
        embedder = self.embedder()
        return embedder if embedder is not None and catalog.dense_model == embedder.identity else None

    @staticmethod
    def sparse_vector(query: AnalyzedQuery) -> Sparse:
        weights: dict[int, float] = {}
        for key, weight in query.sparse_weights().items():
            index = term_id(key)
            weights[index] = max(weights.get(index, 0.0), weight)
        indices = sorted(weights)
        return Sparse(tuple(indices), tuple(weights[i] for i in indices))

    # -- stage 1: the fused query -------------------------------------------------------------------
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

    # -- stage 2: the ranking -------------------------------------------------------------------
    def rerank(self, passages: list[Passage], text: str) -> list[int]:
        """The candidates' order by the optional cross-encoder (indices into `passages`)."""
        scores = self.reranker.predict([(text, p.text) for p in passages], show_progress_bar=False)
        return sorted(range(len(passages)), key=lambda i: -float(scores[i]))

    def rank(self, passages: list[Passage], question: Question, top_k: int, mode: str,
             order: list[int] | None) -> list[Passage]:
        """Order the candidates by what each signal says: how much of the question a passage
        covers, how close its vector is to the question's, where the engine (or the reranker,
        when `order` is given) put it; then spread the picks over documents."""
        s = self.settings
        weights = RankWeights.of(mode, s.coverage_weight, s.dense_weight, s.fused_weight)
        if order:
            rank_of = {i: rank for rank, i in enumerate(order)}
        else:
            rank_of = {i: p.fused_rank for i, p in enumerate(passages)}
        scoped = question.organisations
        for index, passage in enumerate(passages):
            passage.coverage = question.coverage(passage.terms)
            passage.scope = SCOPE_PENALTY if scoped and passage.document_id not in scoped else 1.0
            passage.score = rank_score(weights, passage.coverage, passage.dense, rank_of[index], passage.scope)
        return diversify(passages, lambda p: p.score, lambda p: p.document_id, s.diversity_decay, top_k)

    # -- the stages in a row --------------------------------------------------------------------------
    def search(self, question: Question, top_k: int, filters: SearchFilters | None = None,
               mode: str = "hybrid", with_sentences: bool = True) -> Retrieval:
        """`mode` "hybrid" uses every signal the index has; "lexical" and "dense" one each (for
        evaluation). Without `with_sentences` only the passages (what /v1/retrieve shows)."""
        timings = dict(question.timings_ms)
        vector = None
        model = self.dense_model(question.catalog) if mode != "lexical" else None
        if model is not None:
            with _timed(timings, "embedding"):
                vector = model.embed_query(question.search_text)
        if mode == "dense" and vector is None:
            return Retrieval(question, [], [], timings, mode)
        with _timed(timings, "search"):
            candidates = self.fuse(question.query, vector, filters, max(self.settings.candidates, top_k), mode)
        order = None
        if self.reranker and candidates:
            with _timed(timings, "rerank"):
                order = self.rerank(candidates, question.search_text)
        with _timed(timings, "ranking"):
            passages = self.rank(candidates, question, top_k, mode, order)
        sentences = []
        if with_sentences:
            with _timed(timings, "sentences"):
                asked = vector if question.text == question.search_text else None
                sentences = candidate_sentences(question, passages, model, asked)
        return Retrieval(question, passages, sentences, timings, mode, dense=model is not None)


@contextmanager
def _timed(timings: dict[str, float], name: str):
    started = time.perf_counter()
    yield
    timings[name] = round((time.perf_counter() - started) * 1000, 2)
