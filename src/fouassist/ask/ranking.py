"""The ranking stage's formula: one score per candidate from its signals, then a pick spread
over documents. The retriever ranks with it, and eval/tune.py searches its weights with it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class RankWeights:
    coverage: float  # lexical coverage of the question
    dense: float  # cosine similarity to the question
    fused: float  # the position in the engine's fused result (or the reranker's order)

    @classmethod
    def of(cls, mode: str, coverage: float, dense: float, fused: float) -> RankWeights:
        """The weights a search mode uses: hybrid every signal, lexical and dense one each."""
        return {"hybrid": cls(coverage, dense, fused), "lexical": cls(coverage, 0.0, fused),
                "dense": cls(0.0, 1.0, 0.0)}[mode]


def rank_score(weights: RankWeights, coverage: float, dense: float, rank: int, scope: float) -> float:
    """A candidate's score; `scope` lowers documents of organisations the question does not name."""
    position = 1.0 / (1.0 + rank / 5.0)
    return (weights.coverage * coverage + weights.dense * dense + weights.fused * position) * scope


def diversify(items: Sequence[T], score: Callable[[T], float], document: Callable[[T], str], decay: float,
              limit: int) -> list[T]:
    """Greedy selection of `limit` items where each earlier pick from the same document
    multiplies an item's score by `decay`."""
    remaining = sorted(items, key=lambda item: -score(item))
    chosen: list[T] = []
    per_document: dict[str, int] = {}
    while remaining and len(chosen) < limit:
        best = max(remaining, key=lambda item: score(item) * decay ** per_document.get(document(item), 0))
        remaining.remove(best)
        chosen.append(best)
        per_document[document(best)] = per_document.get(document(best), 0) + 1
    return chosen
