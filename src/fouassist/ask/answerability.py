"""Whether the documents answer a question: a small logistic model over signals that retrieval
and answer composition have already measured.

The signals (`Signals`) say how close the best passage and its best sentence come to the
question (dense cosine, and the IDF-weighted share of its words), by how much the best passage
leads the next, how much of the question the index has never seen, and whether names, numbers
and the kind of answer the question asks for (a date for "när", a number for "hur många", a
person or body for "vem", a list for "vilka") are there. The weights are learned on the
development material only (`fouassist answerability train`), once with and once without the
dense signals (for a service running lexical-only), and ship as a small JSON file
(`data/answerability.json`) that is read with numpy; the probability is returned with every
answer (`answerability`), and the answer abstains below the configured threshold.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from importlib import resources
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Signals:
    dense_best: float  # cosine of the question to the best passage (0 without a model)
    dense_margin: float  # how far the best passage's cosine leads the next one's
    dense_sentence: float  # cosine to the best sentence of the best passages (0 without a model)
    coverage_best: float  # IDF-weighted share of the question's words in the best passage
    unseen: float  # IDF-weighted share of the question's words that the index has never seen
    missing_names: float  # names in the question absent from the best passages
    missing_numbers: float  # numbers in the question absent from them
    type_missing: float  # the question asks for a date, number, person or list that no best sentence has

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))



DENSE_SIGNALS = ("dense_best", "dense_margin", "dense_sentence")


@dataclass(frozen=True)
class Logistic:
    """Standardised signals -> logistic regression -> probability that the documents answer."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    threshold: float  # the operating point chosen at training

    def probability(self, signals: Signals) -> float:
        values = np.array([getattr(signals, name) for name in self.features])
        logit = float(((values - np.array(self.mean)) / np.array(self.scale)) @ np.array(self.coef) + self.intercept)
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, logit))))


@dataclass(frozen=True)
class AnswerabilityModel:
    """Two fits of one model: with the dense signals (a model is loaded and the index has its
    vectors) and without them (lexical-only), so that each service is judged by what it has."""

    hybrid: Logistic
    lexical: Logistic
    trained_on: dict  # what it was fitted on, and its cross-validated figures

    @classmethod
    def load(cls, path: Path | None = None) -> AnswerabilityModel:
        where = path or "data/answerability.json"
        text = path.read_text(encoding="utf-8") if path else \
            resources.files("fouassist").joinpath("data/answerability.json").read_text(encoding="utf-8")
        raw = json.loads(text)
        fits = {k: Logistic(**{f: tuple(v) if isinstance(v, list) else v for f, v in raw[k].items()})
                for k in ("hybrid", "lexical")}
        if set(fits["hybrid"].features) - set(Signals.names()) or set(fits["lexical"].features) & set(DENSE_SIGNALS):
            raise ValueError(f"the answerability weights ({where}) do not fit this version's signals; retrain "
                             "them with `fouassist answerability train`")
        return cls(fits["hybrid"], fits["lexical"], raw.get("trained_on", {}))

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")

    def fit_for(self, dense: bool) -> Logistic:
        return self.hybrid if dense else self.lexical


def fit(signals: list[Signals], answerable: list[bool], groups: list[str], features: tuple[str, ...],
        folds: int = 5, false_abstention: float = 0.08, sets: list[str] | None = None) -> tuple[Logistic, np.ndarray]:
    """Logistic regression (scikit-learn) with cross-validation by group (questions about one
    passage never straddle training and testing); each of `sets` weighs as much as the others,
    whatever its size. The threshold is the highest whose out-of-fold false abstentions stay at or
    below `false_abstention`. Returns the fit and the out-of-fold probabilities."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold
    from sklearn.preprocessing import StandardScaler

    x = np.array([[getattr(s, name) for name in features] for s in signals])
    y = np.array(answerable, dtype=int)
    names = np.array(sets or ["all"] * len(y))
    weight = np.array([len(y) / (len(set(names)) * (names == name).sum()) for name in names])

    def model_of(rows: np.ndarray):
        scaler = StandardScaler().fit(x[rows])
        classifier = LogisticRegression(C=1.0, class_weight="balanced", max_iter=1000)
        return scaler, classifier.fit(scaler.transform(x[rows]), y[rows], sample_weight=weight[rows])

    out_of_fold = np.zeros(len(y))
    for train, test in GroupKFold(n_splits=folds).split(x, y, groups):
        scaler, classifier = model_of(train)
        out_of_fold[test] = classifier.predict_proba(scaler.transform(x[test]))[:, 1]
    scaler, classifier = model_of(np.arange(len(y)))
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    return Logistic(features, tuple(scaler.mean_.round(6)), tuple(scale.round(6)), tuple(classifier.coef_[0].round(6)),
                    round(float(classifier.intercept_[0]), 6),
                    round(operating_point(out_of_fold, y, false_abstention, names), 4)), out_of_fold


def operating_point(probabilities: np.ndarray, answerable: np.ndarray, false_abstention: float,
                    sets: np.ndarray | None = None) -> float:
    """The threshold (a question abstains below it) with the most abstentions on unanswerable
    questions, averaged over `sets` (each set counts the same, whatever its size), among those
    whose false abstentions on answerable questions, averaged the same way, stay at or below
    `false_abstention`."""
    sets = sets if sets is not None else np.zeros(len(answerable))
    best, best_score = 0.0, -1.0
    for threshold in np.unique(np.concatenate([[0.0], probabilities])):
        per_set = [rates(probabilities[sets == name], answerable[sets == name], threshold) for name in np.unique(sets)]
        if np.nanmean([r["false_abstention"] for r in per_set]) > false_abstention + 1e-9:
            continue
        score = float(np.nanmean([r["abstain_accuracy"] for r in per_set]))
        if score > best_score:
            best, best_score = float(threshold), score
    return best


def rates(probabilities: np.ndarray, answerable: np.ndarray, threshold: float) -> dict[str, float]:
    """Abstention accuracy on the unanswerable questions and false abstentions on the answerable."""
    abstains = probabilities < threshold
    unanswerable = answerable == 0
    return {
        "abstain_accuracy": float(abstains[unanswerable].mean()) if unanswerable.any() else float("nan"),
        "false_abstention": float(abstains[~unanswerable].mean()) if (~unanswerable).any() else float("nan"),
    }
