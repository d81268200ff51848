"""Candidate sentences: the sentences of the best passages that may answer the question, each
scored by how much of the question it covers in words and whether it has what the question asks
for; the best of them also compared with the question by embedding (a paraphrase or a question in
the other language then still finds the sentence that answers). The last stage of retrieval: the
composer chooses among these."""

from __future__ import annotations

import numpy as np

from fouassist.ask.demands import MISSING_TYPE_FACTOR
from fouassist.ask.passages import Passage, SentenceSpan
from fouassist.ask.question import Question
from fouassist.ask.quotes import Candidate
from fouassist.index.embedding import Embedder

HEADING_FACTOR = 0.4  # a title or heading is quoted only when running text does not answer
HEADING_WORDS = 12
SHORT_FACTOR = 0.8  # a bare list item or label says little on its own
SHORT_SENTENCE_WORDS = 4
SECTION_ANSWER_FACTOR = 0.7  # a short sentence (a list item) under a heading that matches the question
SECTION_ANSWER_CHARS = 160
BEST_PASSAGES = 3  # the passages whose sentences an answer may quote
EMBEDDED_SENTENCES = 12  # of those, how many are compared by embedding: the best passage's, then the best by words


def candidate_sentences(question: Question, passages: list[Passage], model: Embedder | None,
                        vector: list[float] | None = None) -> list[Candidate]:
    """The sentences of the best passages, scored by words and demands; with `model`, the best
    of them carry their cosine to the question as asked (`Candidate.dense`; None: not compared).
    `vector`: the question's embedding, when retrieval has it (a follow-up searched with its
    subject added is embedded here as asked)."""
    demands = question.demands
    candidates = []
    for passage in passages[:BEST_PASSAGES]:
        factor = demands.passage_factor(passage)
        for sentence in passage.sentences:
            lexical = _lexical(question, sentence, passage.context_terms)
            candidate = Candidate(passage, sentence, sentence.start, sentence.end, 0.0, lexical)
            candidate.score = lexical * factor
            if len(candidate.quote.split()) < SHORT_SENTENCE_WORDS:
                candidate.score *= SHORT_FACTOR
            if sentence.heading and len(candidate.quote.split()) <= HEADING_WORDS:
                candidate.score *= HEADING_FACTOR  # (a long "heading" is an opening sentence set in bold)
            if demands.kinds and not any(has(candidate.quote) for has in demands.kinds.values()):
                candidate.score *= MISSING_TYPE_FACTOR
            candidates.append(candidate)
    if model is not None and candidates:
        _compare_by_embedding(vector or model.embed_query(question.text), candidates, model)
    return candidates


def _lexical(question: Question, sentence: SentenceSpan, context: frozenset[str]) -> float:
    """How well a sentence answers in words: its own first, its document and headings a little.
    Under a heading that itself matches the question ("Avtal om samverkan ..."), the section's
    short sentences (list items) answer it even in other words."""
    own = question.coverage(sentence.terms)
    score = 0.7 * own + 0.3 * question.coverage(sentence.terms | context)
    if not sentence.heading and sentence.section_terms and sentence.end - sentence.start <= SECTION_ANSWER_CHARS:
        score = max(score, SECTION_ANSWER_FACTOR * question.coverage(sentence.section_terms | sentence.terms))
    return score


def _compare_by_embedding(vector: list[float], candidates: list[Candidate], model: Embedder) -> None:
    first = candidates[0].passage
    chosen = sorted(candidates, key=lambda c: (c.passage is not first, -c.score))[:EMBEDDED_SENTENCES]
    cosines = model.embed_sentences([c.quote for c in chosen]) @ np.asarray(vector)
    for candidate, cosine in zip(chosen, cosines):
        candidate.dense = float(cosine)
