"""The evaluation metrics on hand-made cases with known values."""

import math

import pytest

from fouassist.evaluate import metrics


def test_hits_and_reciprocal_rank():
    ranking = [False, False, True, False, True]
    assert metrics.hit_at(ranking, 1) == 0.0
    assert metrics.hit_at(ranking, 3) == 1.0
    assert metrics.reciprocal_rank(ranking) == pytest.approx(1 / 3)
    assert metrics.reciprocal_rank([False] * 10 + [True], k=10) == 0.0


def test_ndcg_known_values():
    assert metrics.ndcg([True, False, False]) == 1.0
    # one relevant item at rank 2: (1/log2(3)) / (1/log2(2))
    assert metrics.ndcg([False, True, False]) == pytest.approx(1 / math.log2(3))
    # two relevant in the index, one found at rank 1: 1 / (1 + 1/log2(3))
    assert metrics.ndcg([True, False], total_relevant=2) == pytest.approx(1 / (1 + 1 / math.log2(3)))
    assert metrics.ndcg([False, False], total_relevant=0) == 0.0


def test_token_f1_and_rouge_l():
    assert metrics.token_f1("forskningstid för alla", "forskningstid för alla") == 1.0
    # prediction 4 words, reference 2 words, 2 in common: P=0.5, R=1, F1=2/3
    assert metrics.token_f1("tid för forskning nu", "forskning tid") == pytest.approx(2 / 3)
    assert metrics.token_f1("helt annat", "forskning") == 0.0
    # LCS of "a b c d" and "a c d e" is "a c d" (3): P=3/4, R=3/4
    assert metrics.rouge_l("a b c d", "a c d e") == pytest.approx(0.75)
    assert metrics.rouge_l("Ja", "ja") == 1.0


def test_spans_and_quotes():
    text = "Region Stockholm ska\nskapa goda miljöer för klinisk forskning."
    assert metrics.find_spans(text, "ska skapa goda") == [(17, 31)]
    assert metrics.spans_overlap((0, 10), (9, 20)) and not metrics.spans_overlap((0, 10), (10, 20))
    assert metrics.contains_quote(text, "SKAPA goda  miljöer")


def test_percentiles():
    values = [10.0, 20.0, 30.0, 40.0]
    assert metrics.percentile(values, 0.5) == 25.0
    assert metrics.percentile(values, 0.95) == pytest.approx(38.5)
    assert metrics.percentile([7.0], 0.95) == 7.0
    assert math.isnan(metrics.mean([]))


def test_reference_set_is_complete_and_its_gold_quotes_exist(corpus_service):
    """The default set as the evaluation issue asks for it, with every gold quote in its document."""
    from collections import Counter
    from pathlib import Path

    from fouassist.evaluate.question_sets import load_questions

    questions = load_questions(Path(__file__).resolve().parents[1] / "eval" / "sets" / "default.jsonl")
    assert len(questions) >= 80 and len({q.id for q in questions}) == len(questions)
    assert sum(q.language == "nb" for q in questions) >= 25
    assert sum(not q.answerable for q in questions) >= 15
    assert {q.split for q in questions} == {"dev", "test"}
    types = Counter(q.type for q in questions)
    assert {"paraphrase", "multi_doc", "follow_up", "cross_lingual", "unanswerable"} <= set(types), types
    texts = {r["source"]: corpus_service.document(r["id"])["text"] for r in corpus_service.documents()}
    for question in questions:
        assert question.reference_answer, question.id
        if question.answerable:
            assert question.documents and question.gold_quotes, question.id
            for quote in question.gold_quotes:
                assert any(metrics.find_spans(texts[d], quote) for d in question.documents), (question.id, quote)
        else:
            assert not question.documents and not question.gold_quotes, question.id
