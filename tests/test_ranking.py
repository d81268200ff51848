"""The ranking formula that the retriever uses and eval/tune.py tunes, on hand-made candidates."""

from __future__ import annotations

import pytest

from fouassist.ask.ranking import RankWeights, diversify, rank_score


def test_each_mode_weighs_its_own_signals():
    assert RankWeights.of("hybrid", 1.0, 8.0, 0.25) == RankWeights(1.0, 8.0, 0.25)
    assert RankWeights.of("lexical", 1.0, 8.0, 0.25) == RankWeights(1.0, 0.0, 0.25)
    assert RankWeights.of("dense", 1.0, 8.0, 0.25) == RankWeights(0.0, 1.0, 0.0)


def test_the_score_adds_the_signals_and_the_scope_scales_them():
    weights = RankWeights(1.0, 2.0, 0.5)
    assert rank_score(weights, 0.5, 0.8, 0, 1.0) == pytest.approx(0.5 + 1.6 + 0.5)
    assert rank_score(weights, 0.5, 0.8, 5, 1.0) == pytest.approx(0.5 + 1.6 + 0.25)  # fifth place: half the weight
    assert rank_score(weights, 0.5, 0.8, 5, 0.5) == pytest.approx((0.5 + 1.6 + 0.25) / 2)


def test_a_second_pick_from_the_same_document_pays_the_decay():
    items = [("a1", "A", 1.0), ("a2", "A", 0.9), ("b1", "B", 0.6)]
    pick = lambda decay: [name for name, _, _ in diversify(items, lambda i: i[2], lambda i: i[1], decay, 3)]  # noqa: E731
    assert pick(1.0) == ["a1", "a2", "b1"]
    assert pick(0.5) == ["a1", "b1", "a2"]  # a2 counts 0.45 after a1, below b1's 0.6
    assert [name for name, _, _ in diversify(items, lambda i: i[2], lambda i: i[1], 0.5, 1)] == ["a1"]
