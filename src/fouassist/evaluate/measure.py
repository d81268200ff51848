"""The measuring: the configurations compared, every question of a set asked under each, and the
metrics summed up.

A run asks every question of a set under several configurations side by side, so that each
component's share is visible:

- `bm25-plain`: plain BM25 (bm25s) over the same chunks with lower-cased whitespace tokens;
  retrieval only, the baseline that any product has;
- `dense`: the dense vectors alone (only when an embedding model is loaded);
- `lexical`: the sparse index with the Swedish/Norwegian analysis, and its answers;
- `hybrid`: the system as it runs in production (dense + lexical when both exist).

`run_default` and `run_external` run a set (see `question_sets`) against a fresh index of its own.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fouassist.evaluate import metrics
from fouassist.evaluate.question_sets import ExternalSet, Question, gold_removed_set, load_questions
from fouassist.progress import progress_bar
from fouassist.service import Service

CONFIGS = ("bm25-plain", "dense", "lexical", "hybrid")
GENERATIVE = "generative"  # hybrid search, answers written by the language model (eval --mode generative)
ANSWERING = ("dense", "lexical", "hybrid", GENERATIVE)
DEPTH = 10


class PlainBM25:
    """The baseline: bm25s over the chunk texts, lower-cased and split on whitespace."""

    def __init__(self, chunks: list[dict[str, Any]]) -> None:
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # bm25s sets DEBUG on itself when imported
        self.ids = [c["id"] for c in chunks]
        self.model = bm25s.BM25()
        self.model.index([c["text"].lower().split() for c in chunks], show_progress=False)
        self.vocabulary = set(self.model.vocab_dict)

    def search(self, text: str, k: int) -> list[str]:
        tokens = [t for t in text.lower().split() if t in self.vocabulary]
        if not tokens:
            return []
        results, scores = self.model.retrieve([tokens], k=min(k, len(self.ids)), show_progress=False)
        return [self.ids[int(i)] for i, s in zip(results[0], scores[0]) if s > 0]


@dataclass
class Outcome:
    """What one configuration did with one question."""

    retrieved: list[str]
    relevant: list[bool]
    total_relevant: int
    answer: str | None = None
    abstained: bool | None = None
    language: str | None = None
    citations: list[dict[str, Any]] = field(default_factory=list)  # with "correct": bool
    latency_ms: float | None = None
    generated_sentences: int = 0  # generative: sentences the model wrote
    removed_sentences: int = 0  # generative: of those, removed by citation verification
    fallback_reason: str | None = None


class Evaluator:
    def __init__(self, service: Service, questions: list[Question], configs: tuple[str, ...] = CONFIGS) -> None:
        self.service = service
        self.questions = questions
        self.chunks = [
            {"id": chunk_id, "document_id": p.document_id, "text": p.text, "start": p.start, "end": p.end}
            for chunk_id, p in service.store.chunks()
        ]
        records = service.catalog.records
        self.by_source = {r.source: r.id for r in records.values()}
        self.texts = {i: service.document(i)["text"] for i in records}
        self.bm25 = PlainBM25(self.chunks) if self.chunks else None
        dense = service.retriever.dense_model(service.catalog) is not None
        self.configs = [c for c in configs if c != "dense" or dense]

    # -- gold ------------------------------------------------------------------------------------
    def gold_spans(self, question: Question) -> dict[str, list[tuple[int, int]]]:
        """Document id -> spans of the gold quotes in its text (whole text when there are no quotes)."""
        spans: dict[str, list[tuple[int, int]]] = {}
        for source in question.documents:
            document_id = self.by_source.get(source)
            if document_id is None:
                raise ValueError(f"question {question.id}: document {source} is not in the index")
            text = self.texts[document_id]
            if not question.gold_quotes:
                spans[document_id] = [(0, len(text))]
                continue
            for quote in question.gold_quotes:
                spans.setdefault(document_id, []).extend(metrics.find_spans(text, quote))
        return spans

    def _relevant_chunk(self, chunk: dict[str, Any], gold: dict[str, list[tuple[int, int]]], quotes: list[str]) -> bool:
        spans = gold.get(chunk["document_id"])
        if not spans:
            return False
        if not quotes:
            return True
        return any(chunk["start"] <= s and e <= chunk["end"] for s, e in spans) or any(
            metrics.contains_quote(chunk["text"], q) for q in quotes)

    # -- the run -----------------------------------------------------------------------------------
    def run(self, progress: bool = False, on_result: Callable[[str, str, Outcome], None] | None = None,
            ) -> dict[str, dict[str, Outcome]]:
        results: dict[str, dict[str, Outcome]] = {}
        chunk_by_id = {c["id"]: c for c in self.chunks}
        with progress_bar(progress, len(self.questions) * len(self.configs), "Evaluating", "answer") as bar:
            for question in self.questions:
                gold = self.gold_spans(question) if question.answerable else {}
                total = sum(self._relevant_chunk(c, gold, question.gold_quotes) for c in self.chunks) if gold else 0
                query = self.service.interpreter.resolve_follow_up(question.question, question.history)
                results[question.id] = {}
                for config in self.configs:
                    outcome = self._one(config, question, query, gold, total, chunk_by_id)
                    results[question.id][config] = outcome
                    if on_result:
                        on_result(question.id, config, outcome)
                    bar.update(1)
        return results

    def _one(self, config: str, question: Question, query: str, gold: dict, total: int,
             chunk_by_id: dict[str, dict[str, Any]]) -> Outcome:
        if config == "bm25-plain":
            retrieved = self.bm25.search(query, DEPTH) if self.bm25 else []
        else:
            retrieval = self.service.retrieve(query, DEPTH, search=_search(config))
            retrieved = [p.chunk_id for p in retrieval.passages]
        if not question.gold_quotes:
            # The gold is a whole passage (external sets): rank documents, not their chunks.
            retrieved = _first_per_document(retrieved, chunk_by_id)
            total = len(gold)
        relevant = [self._relevant_chunk(chunk_by_id[c], gold, question.gold_quotes) for c in retrieved] if gold else \
            [False] * len(retrieved)
        outcome = Outcome(retrieved, relevant, total)
        if config in ANSWERING:
            started = time.perf_counter()
            answer = self.service.ask(question.question, history=question.history, search=_search(config),
                                      mode="generative" if config == GENERATIVE else "extractive")
            outcome.latency_ms = (time.perf_counter() - started) * 1000
            outcome.answer, outcome.abstained, outcome.language = answer.answer, answer.abstained, answer.language
            outcome.generated_sentences, outcome.removed_sentences = answer.generated_sentences, len(answer.unsupported)
            outcome.fallback_reason = answer.fallback_reason
            for citation in answer.citations:
                spans = gold.get(citation.document_id, [])
                correct = any(metrics.spans_overlap((citation.start, citation.end), s) for s in spans) if spans else False
                outcome.citations.append({"id": citation.id, "document_id": citation.document_id,
                                          "start": citation.start, "end": citation.end, "quote": citation.quote,
                                          "correct": correct})
        return outcome


def _search(config: str) -> str:
    return "hybrid" if config == GENERATIVE else config


# -- summaries ------------------------------------------------------------------------------------

_QUOTED_RE = re.compile(r"”[^”]*”|«[^»]*»|\[\d+\]")


def answer_language(service: Service, answer: str, names: list[str]) -> str:
    """The language of the answer's own words: quotes, markers, document titles and organisations removed."""
    text = _QUOTED_RE.sub(" ", answer)
    for name in sorted(names, key=len, reverse=True):
        text = text.replace(name, " ")
    return service.analyzer.detect_language(text, default="?")


def summarize(service: Service, questions: list[Question], results: dict[str, dict[str, Outcome]],
              configs: list[str]) -> dict[str, dict[str, float]]:
    """Every metric per configuration, over the given questions."""
    summary: dict[str, dict[str, float]] = {}
    answerable = [q for q in questions if q.answerable]
    unanswerable = [q for q in questions if not q.answerable]
    for config in configs:
        values: dict[str, float] = {}
        outcomes = [results[q.id][config] for q in answerable]
        values["hit_at_1"] = metrics.mean([metrics.hit_at(o.relevant, 1) for o in outcomes])
        values["hit_at_5"] = metrics.mean([metrics.hit_at(o.relevant, 5) for o in outcomes])
        values["mrr_at_10"] = metrics.mean([metrics.reciprocal_rank(o.relevant, 10) for o in outcomes])
        values["ndcg_at_10"] = metrics.mean([metrics.ndcg(o.relevant, 10, o.total_relevant) for o in outcomes])
        if config in ANSWERING:
            cited = [c for o in outcomes for c in o.citations]
            values["citation_precision"] = metrics.mean([float(c["correct"]) for c in cited])
            values["citation_recall"] = metrics.mean([float(any(c["correct"] for c in o.citations)) for o in outcomes])
            with_reference = [(q, results[q.id][config]) for q in answerable if q.reference_answer]
            values["token_f1"] = metrics.mean([metrics.token_f1(o.answer or "", q.reference_answer)
                                               for q, o in with_reference])
            values["rouge_l"] = metrics.mean([metrics.rouge_l(o.answer or "", q.reference_answer)
                                              for q, o in with_reference])
            with_spans = [(q, results[q.id][config]) for q in answerable if q.answers]
            values["answer_span_found"] = metrics.mean([
                float(any(metrics.contains_quote(o.answer or "", a) for a in q.answers)) for q, o in with_spans])
            values["abstain_accuracy"] = metrics.mean([float(bool(results[q.id][config].abstained)) for q in unanswerable])
            values["false_abstention"] = metrics.mean([float(bool(o.abstained)) for o in outcomes])
            names = list({n for r in service.catalog.records.values() for n in (r.title, r.organisation) if n})
            values["language_match"] = metrics.mean([
                float(answer_language(service, results[q.id][config].answer or "", names) == q.language)
                for q in questions])
            latencies = [results[q.id][config].latency_ms for q in questions]
            values["latency_median_ms"] = metrics.percentile(latencies, 0.5)
            values["latency_p95_ms"] = metrics.percentile(latencies, 0.95)
        if config == GENERATIVE:
            every = [results[q.id][config] for q in questions]
            generated = sum(o.generated_sentences for o in every)
            values["removed_sentence_share"] = sum(o.removed_sentences for o in every) / generated if generated \
                else float("nan")
            values["fallback_rate"] = metrics.mean([float(o.fallback_reason is not None) for o in every])
        summary[config] = values
    return summary


def breakdown(service: Service, questions: list[Question], results: dict[str, dict[str, Outcome]],
              configs: list[str], key: str) -> dict[str, dict[str, dict[str, float]]]:
    """The summary per value of `key` ("language" or "type")."""
    groups: dict[str, list[Question]] = {}
    for question in questions:
        groups.setdefault(getattr(question, key), []).append(question)
    return {value: summarize(service, members, results, configs) for value, members in sorted(groups.items())}


# -- running a set ----------------------------------------------------------------------------------

def fresh_service(settings, index_dir: Path) -> Service:
    """A service over an empty embedded index of its own, with the caller's models and settings."""
    import shutil

    from fouassist.service import load_models

    shutil.rmtree(index_dir, ignore_errors=True)
    local = settings.model_copy(update={"data_dir": index_dir, "qdrant_url": ""})
    return Service(local, models=load_models(local))


def evaluate(service: Service, name: str, questions: list[Question], progress: bool = False,
             mode: str = "extractive") -> dict[str, Any]:
    """Run every configuration on every question (and, in generative mode, the language model's
    answers beside them); return the report as plain data."""
    evaluator = Evaluator(service, questions, CONFIGS + ((GENERATIVE,) if mode == GENERATIVE else ()))
    started = time.perf_counter()
    results = evaluator.run(progress=progress)
    configs = evaluator.configs
    return {
        "set": name,
        "questions_count": len(questions),
        "seconds": round(time.perf_counter() - started, 1),
        "configs": configs,
        "dense": service.health()["dense"],
        "index": {"documents": len(service.catalog.records), "chunks": len(evaluator.chunks)},
        "metrics": summarize(service, questions, results, configs),
        "by_language": breakdown(service, questions, results, configs, "language"),
        "by_type": breakdown(service, questions, results, configs, "type"),
        "questions": [
            {"id": q.id, "type": q.type, "language": q.language, "question": q.question,
             "answerable": q.answerable, "documents": q.documents,
             "results": {c: _outcome_json(results[q.id][c]) for c in configs}}
            for q in questions
        ],
    }


def _first_per_document(chunk_ids: list[str], chunk_by_id: dict[str, dict[str, Any]]) -> list[str]:
    seen: set[str] = set()
    first = []
    for chunk_id in chunk_ids:
        document_id = chunk_by_id[chunk_id]["document_id"]
        if document_id not in seen:
            seen.add(document_id)
            first.append(chunk_id)
    return first


def _outcome_json(outcome: Outcome) -> dict[str, Any]:
    data = {"retrieved": outcome.retrieved, "relevant": outcome.relevant}
    if outcome.answer is not None:
        data.update(answer=outcome.answer, abstained=outcome.abstained, language=outcome.language,
                    citations=outcome.citations, latency_ms=round(outcome.latency_ms or 0.0, 2))
    if outcome.generated_sentences or outcome.fallback_reason:
        data.update(generated_sentences=outcome.generated_sentences, removed_sentences=outcome.removed_sentences,
                    fallback_reason=outcome.fallback_reason)
    return data


def run_default(settings, set_path: Path, split: str, work_dir: Path, progress: bool = False,
                mode: str = "extractive") -> dict[str, Any]:
    service = fresh_service(settings, work_dir / "index-default")
    try:
        service.ingest_paths([settings.corpus_dir], progress=progress)
        report = evaluate(service, f"default/{split}", load_questions(set_path, split), progress, mode)
    finally:
        service.close()
    return report


def run_external(settings, external: ExternalSet, work_dir: Path, progress: bool = False,
                 mode: str = "extractive", abstention: bool = False) -> list[dict[str, Any]]:
    """Write the set's passages as files, ingest them into a fresh index, and evaluate; with
    `abstention`, then remove every other gold passage and evaluate the gold-removed set too."""
    import shutil

    folder = work_dir / f"{external.name.replace('/', '-')}-documents"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for source, title, text in external.documents:
        (folder / source).write_text(text, encoding="utf-8")
    service = fresh_service(settings.model_copy(update={"manifest": folder / "no-manifest.toml"}),
                            work_dir / f"index-{external.name.replace('/', '-')}")
    try:
        service.ingest_paths([folder], progress=progress)
        reports = [evaluate(service, external.name, external.questions, progress, mode)]
        if abstention:
            reduced, removed = gold_removed_set(external)
            for record in service.documents():
                if record["source"] in removed:
                    service.delete(record["id"])
            reports.append(evaluate(service, reduced.name, reduced.questions, progress, mode))
    finally:
        service.close()
    return reports
