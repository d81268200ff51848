"""The question sets: the default set and the external sets (SweFAQ, NorQuAD) turned into documents
and questions.

The default set lives in eval/sets/default.jsonl; the external sets are run against a fresh index
of their own. Each set has development material (split `dev`: tuning and training use it) and
held-out material (split `test`: only measured): the default set's own splits, SweFAQ dev cut in
two halves by question (`swefaq/tune`, `swefaq/held-out`, see `swefaq_halves`), NorQuAD train and
NorQuAD validation. `gold_removed_set` makes an external set's abstention benchmark.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path


@dataclass
class Question:
    id: str
    question: str
    language: str
    type: str
    split: str = "test"
    history: list[dict[str, str]] = field(default_factory=list)
    answerable: bool = True
    documents: list[str] = field(default_factory=list)  # sources (file names) of the gold documents
    gold_quotes: list[str] = field(default_factory=list)  # empty: any chunk of a gold document is a hit
    reference_answer: str = ""
    answers: list[str] = field(default_factory=list)  # short answer spans (NorQuAD)


@dataclass
class ExternalSet:
    """Documents to index in a fresh index, and the questions to ask of them."""

    name: str
    documents: list[tuple[str, str, str]]  # (source, title, text)
    questions: list[Question]


def load_questions(path: Path, split: str | None = None) -> list[Question]:
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        row = json.loads(line)
        row.pop("section", None)
        question = Question(**row)
        if split in (None, "all") or question.split == split:
            questions.append(question)
    return questions


def load_swefaq(path: Path) -> ExternalSet:
    """SweFAQ: every distinct candidate answer is a document; the right one should rank first."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    sources: dict[str, str] = {}
    questions = []
    for number, row in enumerate(rows, start=1):
        for answer in row["candidate_answers"]:
            sources.setdefault(answer, f"swefaq-{len(sources) + 1:04d}.txt")
        gold = row["candidate_answers"][row["label"]]
        questions.append(Question(id=f"swefaq-{number:03d}", question=row["question"], language="sv",
                                  type="faq", documents=[sources[gold]]))
    documents = [(source, f"SweFAQ svar {source[7:11]}", text) for text, source in sources.items()]
    return ExternalSet("swefaq", documents, questions)


def swefaq_halves(swefaq: ExternalSet) -> tuple[ExternalSet, ExternalSet]:
    """SweFAQ dev in two halves by question, (tuning half, held-out half): the distinct question
    texts are sorted by the SHA-256 of their UTF-8 bytes, and those below the median digest tune
    (a question asked twice stays on one side). Both halves index every candidate answer, so the
    retrieval task is the same; only which questions are asked differs."""
    digests = {q.id: hashlib.sha256(q.question.encode("utf-8")).hexdigest() for q in swefaq.questions}
    distinct = sorted(set(digests.values()))
    median = distinct[len(distinct) // 2]
    tuning = [q for q in swefaq.questions if digests[q.id] < median]
    held_out = [q for q in swefaq.questions if digests[q.id] >= median]
    return (ExternalSet("swefaq/tune", swefaq.documents, tuning),
            ExternalSet("swefaq/held-out", swefaq.documents, held_out))


EXTERNAL_FILES = {"swefaq": ("swefaq_dev.jsonl",), "norquad": ("norquad_train.json", "norquad_validation.json")}


def external_sets(external_dir: Path, name: str, split: str) -> list[ExternalSet]:
    """The material of external set `name` ("swefaq" or "norquad") for `split`: "dev" is what
    tuning and training use (SweFAQ's tuning half, NorQuAD train), "test" what the gate measures
    (SweFAQ's held-out half, NorQuAD validation), "all" both."""
    if name == "swefaq":
        halves = swefaq_halves(load_swefaq(external_dir / "swefaq_dev.jsonl"))
    else:
        halves = (load_norquad(external_dir / "norquad_train.json", "norquad/train"),
                  load_norquad(external_dir / "norquad_validation.json", "norquad/validation"))
    return {"dev": [halves[0]], "test": [halves[1]], "all": list(halves)}[split]


def load_norquad(path: Path, name: str = "norquad") -> ExternalSet:
    """NorQuAD: the passages are documents; each question's passage should rank first, and the
    answer span should appear in the answer."""
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    sources: dict[str, str] = {}
    questions = []
    for article in data:
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            source = sources.setdefault(context, f"norquad-{len(sources) + 1:04d}.txt")
            for qa in paragraph["qas"]:
                questions.append(Question(
                    id=f"norquad-{qa['id']}", question=qa["question"], language="nb", type="reading",
                    documents=[source], answers=[a["text"] for a in qa.get("answers", [])],
                ))
    documents = [(source, text.split("\n", 1)[0][:120], text) for text, source in sources.items()]
    return ExternalSet(name, documents, questions)


def gold_removed_set(external: ExternalSet) -> tuple[ExternalSet, set[str]]:
    """The abstention benchmark of an external set: every other gold passage (in the order the
    questions first use them) is left out of the index. The questions whose passage is gone are
    unanswerable, with near misses still indexed; the others stay answerable. Returns the set
    and the sources to remove."""
    golds = list(dict.fromkeys(source for q in external.questions for source in q.documents))
    removed = set(golds[1::2])
    questions = [replace(q, answerable=False, documents=[], answers=[], type="gold_removed")
                 if removed & set(q.documents) else q for q in external.questions]
    documents = [d for d in external.documents if d[0] not in removed]
    return ExternalSet(f"{external.name}/gold-removed", documents, questions), removed
