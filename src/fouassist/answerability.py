"""Whether the documents answer a question: a small logistic model over signals that retrieval
and answer composition have already measured.

The signals (`Signals`) say how close the best passage and its best sentence come to the
question (dense cosine, and the IDF-weighted share of its words), by how much the best passage
leads the next, how much of the question the index has never seen, and whether names, numbers
and the kind of answer the question asks for (a date for "när", a number for "hur många", a
person or body for "vem", a list for "vilka") are there. The weights are learned on the
development material only (`fouassist answerability train`) and ship as a small JSON file
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
    coverage_sentence: float  # ... in the best sentence (with its headings)
    unseen: float  # IDF-weighted share of the question's words that the index has never seen
    missing_names: float  # names in the question absent from the best passages
    missing_numbers: float  # numbers in the question absent from them
    type_missing: float  # the question asks for a date, number, person or list that no best sentence has
    content_words: float  # log(1 + number of the question's content words)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def vector(self) -> np.ndarray:
        return np.array([getattr(self, name) for name in self.names()], dtype=float)


@dataclass(frozen=True)
class AnswerabilityModel:
    """Standardised signals -> logistic regression -> probability that the documents answer."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    threshold: float  # the operating point chosen at training; the setting may override it
    trained_on: dict  # what it was fitted on, and its cross-validated figures

    @classmethod
    def load(cls, path: Path | None = None) -> AnswerabilityModel:
        text = path.read_text(encoding="utf-8") if path else \
            resources.files("fouassist").joinpath("data/answerability.json").read_text(encoding="utf-8")
        raw = json.loads(text)
        model = cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})
        if model.features != Signals.names():
            raise ValueError(f"the answerability weights ({path or 'data/answerability.json'}) were trained on "
                             f"other signals ({', '.join(model.features)}); retrain them with "
                             "`fouassist answerability train`")
        return model

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")

    def probability(self, signals: Signals) -> float:
        z = (signals.vector() - np.array(self.mean)) / np.array(self.scale)
        logit = float(z @ np.array(self.coef) + self.intercept)
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, logit))))


def fit(signals: list[Signals], answerable: list[bool], groups: list[str], folds: int = 5,
        false_abstention: float = 0.08) -> tuple[AnswerabilityModel, dict]:
    """Logistic regression (scikit-learn) with cross-validation by group (a set's document, so that
    questions about one passage never straddle training and testing). The threshold is the
    highest whose out-of-fold false abstentions stay at or below `false_abstention`."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold
    from sklearn.preprocessing import StandardScaler

    x = np.array([s.vector() for s in signals])
    y = np.array(answerable, dtype=int)

    def model_of(rows: np.ndarray) -> tuple[StandardScaler, LogisticRegression]:
        scaler = StandardScaler().fit(x[rows])
        classifier = LogisticRegression(C=1.0, class_weight="balanced", max_iter=1000)
        return scaler, classifier.fit(scaler.transform(x[rows]), y[rows])

    out_of_fold = np.zeros(len(y))
    for train, test in GroupKFold(n_splits=folds).split(x, y, groups):
        scaler, classifier = model_of(train)
        out_of_fold[test] = classifier.predict_proba(scaler.transform(x[test]))[:, 1]
    threshold = operating_point(out_of_fold, y, false_abstention)
    scaler, classifier = model_of(np.arange(len(y)))
    model = AnswerabilityModel(
        features=Signals.names(), mean=tuple(scaler.mean_.round(6)), scale=tuple(scaler.scale_.round(6)),
        coef=tuple(classifier.coef_[0].round(6)), intercept=round(float(classifier.intercept_[0]), 6),
        threshold=round(threshold, 4), trained_on={})
    return model, {"probabilities": out_of_fold.tolist(), "threshold": threshold}


def operating_point(probabilities: np.ndarray, answerable: np.ndarray, false_abstention: float) -> float:
    """The highest threshold at which at most `false_abstention` of the answerable questions would
    abstain (a question abstains when its probability is below the threshold)."""
    scores = np.sort(probabilities[answerable == 1])
    if not len(scores):
        return 0.5
    allowed = int(math.floor(false_abstention * len(scores)))
    return float(scores[allowed]) if allowed < len(scores) else float(scores[-1])


def rates(probabilities: np.ndarray, answerable: np.ndarray, threshold: float) -> dict[str, float]:
    """Abstention accuracy on the unanswerable questions and false abstentions on the answerable."""
    abstains = probabilities < threshold
    unanswerable = answerable == 0
    return {
        "abstain_accuracy": float(abstains[unanswerable].mean()) if unanswerable.any() else float("nan"),
        "false_abstention": float(abstains[~unanswerable].mean()) if (~unanswerable).any() else float("nan"),
    }
