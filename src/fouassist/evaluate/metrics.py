"""Metric functions of the evaluation suite: pure, small, tested on hand-made cases."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

_WORD_RE = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    return _WORD_RE.findall(text.lower())


def normalize_space(text: str) -> str:
    return " ".join(text.split())


def hit_at(relevant: Sequence[bool], k: int) -> float:
    """1.0 when one of the first k results is relevant."""
    return 1.0 if any(relevant[:k]) else 0.0


def reciprocal_rank(relevant: Sequence[bool], k: int = 10) -> float:
    for rank, is_relevant in enumerate(relevant[:k], start=1):
        if is_relevant:
            return 1.0 / rank
    return 0.0


def ndcg(relevant: Sequence[bool], k: int = 10, total_relevant: int | None = None) -> float:
    """Binary nDCG@k; the ideal ranking puts all `total_relevant` relevant items first."""
    dcg = sum(1.0 / math.log2(rank + 1) for rank, r in enumerate(relevant[:k], start=1) if r)
    ideal_count = min(k, total_relevant if total_relevant is not None else sum(relevant))
    if ideal_count == 0:
        return 0.0
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, ideal_count + 1))
    return dcg / ideal


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD-style bag-of-words F1 between two texts."""
    predicted, expected = words(prediction), words(reference)
    if not predicted or not expected:
        return float(predicted == expected)
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def _lcs(a: list[str], b: list[str]) -> int:
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, start=1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F-measure (longest common subsequence of words)."""
    predicted, expected = words(prediction), words(reference)
    if not predicted or not expected:
        return float(predicted == expected)
    lcs = _lcs(predicted, expected)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(predicted), lcs / len(expected)
    return 2 * precision * recall / (precision + recall)


def spans_overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def find_spans(text: str, quote: str) -> list[tuple[int, int]]:
    """Every occurrence of `quote` in `text`, comparing with whitespace runs collapsed."""
    pattern = r"\s+".join(re.escape(part) for part in quote.split())
    return [(m.start(), m.end()) for m in re.finditer(pattern, text)] if pattern else []


def contains_quote(text: str, quote: str) -> bool:
    return normalize_space(quote).casefold() in normalize_space(text).casefold()


def percentile(values: Sequence[float], share: float) -> float:
    """Linear-interpolated percentile (share in 0..1) of a non-empty sequence."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = (len(ordered) - 1) * share
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")
