"""One question travels one way: it is understood once (one language detection, one catalog read),
embedded once, and what retrieval hands on is all the answer is made from. Counted on the real
service with the bundled model: the counters wrap the real methods, nothing is replaced."""

from __future__ import annotations

from collections import Counter

import pytest

from fouassist.index.catalog import CatalogWatch
from fouassist.language.analysis import Analyzer

FOLLOW_UP_HISTORY = [{"role": "user", "content": "Vad säger Region Stockholm om forskningstid?"},
                     {"role": "assistant", "content": "Enligt strategin ..."}]


@pytest.fixture
def counted(e5_service, monkeypatch):
    """Calls per question of language detection, catalog reads and query embeddings."""
    calls: Counter[str] = Counter()
    embedder = e5_service.embedder()
    assert embedder is not None and e5_service.retriever.dense_model(e5_service.catalog) is not None

    def counting(name, function):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return function(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(Analyzer, "detect_language", counting("detection", Analyzer.detect_language))
    monkeypatch.setattr(CatalogWatch, "current", counting("catalog", CatalogWatch.current))
    monkeypatch.setattr(embedder, "embed_query", counting("query embedding", embedder.embed_query))
    return e5_service, calls


@pytest.mark.parametrize("question", ["Vad säger strategin om forskningstid?",
                                      "Hva sier planen om samarbeid med industrien?"])
def test_a_question_is_detected_read_and_embedded_once(counted, question):
    service, calls = counted
    answer = service.ask(question)
    assert answer.citations and not answer.abstained
    assert calls == {"detection": 1, "catalog": 1, "query embedding": 1}


def test_a_follow_up_reads_the_question_it_builds_on_once_more(counted):
    service, calls = counted
    answer = service.ask("Och i Mellansverige?", history=FOLLOW_UP_HISTORY)
    assert "forskningstid" in answer.query
    # Two texts, each once: the follow-up and the earlier question (its words are analysed in its
    # own language); the search text (the follow-up with the subject added) and the follow-up as
    # asked, which the candidate sentences are compared with.
    assert calls == {"detection": 2, "catalog": 1, "query embedding": 2}


def test_the_answer_is_made_from_the_retrieval_alone(e5_service):
    """The composer works from the Retrieval it is handed: a composer built from its settings and
    the answerability model alone (no retriever, model or catalog) gives the same answer from it,
    twice, and leaves it as it was."""
    question = e5_service.understand("Vad säger strategin om forskningstid?", [], "extractive")
    retrieval = e5_service.retriever.search(question, 5)
    assert retrieval.sentences and any(c.dense is not None for c in retrieval.sentences)
    first = e5_service.composer.compose(retrieval)
    kept = [(c.score, c.dense) for c in retrieval.sentences]
    composer = type(e5_service.composer)(e5_service.composer.settings, e5_service.composer.model)
    again = composer.compose(retrieval)
    assert again.answer == first.answer and again.citations == first.citations
    assert [(c.score, c.dense) for c in retrieval.sentences] == kept  # composing left the result as it was
