"""Tune the retrieval weights on the development material only, and print what each choice gives.

    .venv/bin/python eval/tune.py [--work DIR] [--quick]

Development material: the default set's `dev` split, SweFAQ's tuning half and NorQuAD train
(`fouassist.evaluate.development.development_sets`); the held-out material the gate measures (the default
set's `test` split, SweFAQ's held-out half, NorQuAD validation) is never read here. The indexes
are built once in DIR (with the configured embedding model) and kept for the next run. For each
fusion setting (the weights of the dense and sparse rankings in Qdrant's fusion) the candidates
of every question are fetched once; the ranking weights (coverage, dense similarity, fused
rank, diversity) are then searched over those candidates without asking the engine again. The
objective is the mean over the three sets of hit@1, hit@5 and nDCG@10, with the rule that
hybrid must not fall below the better single retriever on any set and metric. Prints the best
settings as FOUASSIST_* variables.
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from fouassist.ask.passages import Passage  # noqa: E402
from fouassist.ask.ranking import RankWeights, diversify, rank_score  # noqa: E402
from fouassist.ask.retrieval import Retriever  # noqa: E402
from fouassist.config import Settings  # noqa: E402
from fouassist.evaluate import metrics  # noqa: E402
from fouassist.evaluate.development import development_sets  # noqa: E402
from fouassist.evaluate.measure import Evaluator  # noqa: E402
from fouassist.service import Service  # noqa: E402

DEPTH = 10


@dataclass
class Candidate:
    document_id: str
    coverage: float
    dense: float
    fused_rank: int
    scope: float
    relevant: bool


@dataclass
class Case:
    candidates: list[Candidate]
    total_relevant: int
    per_document: bool  # external sets: gold is a whole document, ranked once per document


def cases(service: Service, questions, retriever: Retriever, candidates: int, mode: str = "hybrid") -> list[Case]:
    """Every answerable question's candidates with their signals, under `retriever`'s fusion
    (`mode` lexical or dense: that retriever alone)."""
    evaluator = Evaluator(service, questions, ("hybrid",))
    found = []
    for question in questions:
        if not question.answerable:
            continue
        gold = evaluator.gold_spans(question)
        chunk_by_id = {c["id"]: c for c in evaluator.chunks}
        total = sum(evaluator._relevant_chunk(c, gold, question.gold_quotes) for c in evaluator.chunks)
        # As the evaluation measures retrieval: the follow-up resolved, then understood on its own.
        catalog = service.catalog
        text = service.interpreter.resolve_follow_up(question.question, question.history, catalog)
        understood = service.interpreter.understand(text, catalog=catalog)
        model = retriever.dense_model(catalog)
        vector = model.embed_query(text) if model and mode != "lexical" else None
        passages: list[Passage] = retriever.fuse(understood.query, vector, None, candidates, mode)
        retriever.rank(passages, understood, len(passages), mode, None)  # fills coverage and scope
        found.append(Case([
            Candidate(p.document_id, p.coverage, p.dense, p.fused_rank, p.scope,
                      evaluator._relevant_chunk(chunk_by_id[p.chunk_id], gold, question.gold_quotes))
            for p in passages], total if question.gold_quotes else len(gold), not question.gold_quotes))
    return found


def ranked(case: Case, weights: RankWeights, decay: float) -> list[Candidate]:
    """What the ranking stage does (the retriever's own formula): score, then a pick spread over documents."""
    scored = [(rank_score(weights, c.coverage, c.dense, c.fused_rank, c.scope), c) for c in case.candidates]
    chosen = [c for _, c in diversify(scored, lambda pair: pair[0], lambda pair: pair[1].document_id, decay, DEPTH)]
    if case.per_document:
        seen, first = set(), []
        for candidate in chosen:
            if candidate.document_id not in seen:
                seen.add(candidate.document_id)
                first.append(candidate)
        chosen = first
    return chosen


def scores(found: list[Case], weights, decay) -> dict[str, float]:
    relevant = [[c.relevant for c in ranked(case, weights, decay)] for case in found]
    return {
        "hit_at_1": metrics.mean([metrics.hit_at(r, 1) for r in relevant]),
        "hit_at_5": metrics.mean([metrics.hit_at(r, 5) for r in relevant]),
        "ndcg_at_10": metrics.mean([metrics.ndcg(r, 10, case.total_relevant) for r, case in zip(relevant, found)]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/fouassist-tune"))
    parser.add_argument("--quick", action="store_true", help="a coarse grid")
    args = parser.parse_args()
    settings = Settings()
    built = development_sets(settings, args.work)
    base = settings.retrieval
    fusion_grid = [(1.0, 1.0), (1.5, 1.0), (2.0, 1.0), (1.0, 1.5)] if not args.quick else [(1.0, 1.0)]
    candidates_grid = [30, 50] if not args.quick else [30]
    # e5's cosines to a question differ by a few hundredths between passages: its weight is large
    dense_steps = [0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 16.0] if not args.quick else [0.0, 4.0, 8.0]
    fused_steps = [0.0, 0.1, 0.25, 0.5, 1.0] if not args.quick else [0.0, 0.25]
    decays = [0.5, 0.75, 0.9, 1.0]
    best = None
    for candidates in candidates_grid:
        singles_found = {}
        for name, (service, questions) in built.items():
            retriever = Retriever(service.store, service.embedder, replace(base, candidates=candidates))
            singles_found[name] = {mode: cases(service, questions, retriever, candidates, mode)
                                   for mode in ("lexical", "dense")}
        for dense_rrf, sparse_rrf in fusion_grid:
            fusion = replace(base, candidates=candidates, rrf_dense_weight=dense_rrf, rrf_sparse_weight=sparse_rrf)
            found = {}
            for name, (service, questions) in built.items():
                retriever = Retriever(service.store, service.embedder, fusion)
                found[name] = cases(service, questions, retriever, candidates)
            for weights in itertools.product([1.0], dense_steps, fused_steps):
                for decay in decays:
                    singles = {name: {mode: scores(pools[mode], RankWeights.of(mode, *weights), decay)
                                      for mode in ("lexical", "dense")}
                               for name, pools in singles_found.items()}
                    result = {name: scores(f, RankWeights.of("hybrid", *weights), decay) for name, f in found.items()}
                    floor_ok = all(result[n][m] >= max(singles[n]["lexical"][m], singles[n]["dense"][m]) - 1e-9
                                   for n in result for m in result[n])
                    objective = sum(v for r in result.values() for v in r.values()) / (3 * len(result))
                    key = (floor_ok, objective)
                    if best is None or key > best[0]:
                        best = (key, (dense_rrf, sparse_rrf, candidates, weights, decay), result, singles)
                        print(f"{'ok ' if floor_ok else 'low'} {objective:.4f} rrf=({dense_rrf}, {sparse_rrf}) "
                              f"candidates={candidates} weights={weights} decay={decay} "
                              + " ".join(f"{n}:{r['hit_at_1']:.3f}/{r['hit_at_5']:.3f}/{r['ndcg_at_10']:.3f}"
                                         for n, r in result.items()), flush=True)
    (floor_ok, objective), (dense_rrf, sparse_rrf, candidates, weights, decay), result, singles = best
    print("\nsingle retrievers (hit@1/hit@5/nDCG@10):")
    for name, single in singles.items():
        print(f"  {name}: " + "  ".join(f"{kind} {s['hit_at_1']:.3f}/{s['hit_at_5']:.3f}/{s['ndcg_at_10']:.3f}"
                                        for kind, s in single.items()))
    print("best hybrid:", {n: {m: round(v, 3) for m, v in r.items()} for n, r in result.items()})
    print(f"\nFOUASSIST_RRF_DENSE_WEIGHT={dense_rrf}\nFOUASSIST_RRF_SPARSE_WEIGHT={sparse_rrf}\n"
          f"FOUASSIST_CANDIDATES={candidates}\nFOUASSIST_COVERAGE_WEIGHT={weights[0]}\n"
          f"FOUASSIST_DENSE_WEIGHT={weights[1]}\nFOUASSIST_FUSED_WEIGHT={weights[2]}\nFOUASSIST_DIVERSITY_DECAY={decay}")
    for service, _ in built.values():
        service.close()
    if math.isnan(objective):
        sys.exit(1)


if __name__ == "__main__":
    main()
