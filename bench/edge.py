"""Qdrant Edge, the embedded engine: time to open an index, and the engine's own query time.

    python bench/edge.py DATA_DIR [DATA_DIR ...]

Each DATA_DIR is an index that bench/run.py (or `fouassist ingest`) built. Prints one row per
index: chunks, seconds to open the shard and to read the catalog (what start-up costs besides
the model), and the median and p95 time of the engine's query over 50 questions, sparse alone
and hybrid (sparse and dense, weighted fusion), with only ids and scores, and with payloads and
dense vectors as retrieval asks for them.
"""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

QUESTIONS = ["forskningstid", "samarbeid med industrien", "hälsodata för forskning", "kompetensförsörjning",
             "klinisk forskning i hela vården", "innovation och näringsliv", "utbildning av läkare",
             "handlingsplan for forskning", "finansiering av forskning", "digitalisering och e-hälsa"]


def timed(function, repeat: int = 5) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(0.95 * (len(samples) - 1))]


def measure(data: Path) -> dict:
    from fouassist.ask.retrieval import Retriever
    from fouassist.index.backends import EdgeBackend
    from fouassist.index.catalog import Catalog
    from fouassist.index.store import IndexStore
    from fouassist.language.analysis import Analyzer

    started = time.perf_counter()
    store = IndexStore(EdgeBackend(data / "index"))
    opened = time.perf_counter() - started
    analyzer = Analyzer()
    analyzer.term_weights("forskning", "sv")  # load the lemma tables outside the timing
    started = time.perf_counter()
    catalog = Catalog.read(store, analyzer)
    read = time.perf_counter() - started
    dense = store.meta().dense_dimension
    rng = __import__("numpy").random.default_rng(7)
    rows = {"index": data.name, "chunks": store.count_chunks(), "documents": len(catalog.records),
            "open_s": round(opened, 2), "catalog_s": round(read, 2)}
    plans = []
    for question in QUESTIONS * 5:
        sparse = Retriever.sparse_vector(analyzer.analyze_query(question))
        vector = None
        if dense:  # a unit vector stands in for the question's embedding: the engine's cost is the same
            vector = rng.normal(size=dense)
            vector = (vector / (vector ** 2).sum() ** 0.5).tolist()
        plans.append(store.plan(sparse, vector, None, limit=30, candidates=30))
    for name, kinds in (("sparse", lambda p: replace(p, rankings=p.rankings[-1:], with_vectors=())),
                        ("hybrid", lambda p: p)):
        if name == "hybrid" and not dense:
            continue
        chosen = [kinds(p) for p in plans]
        bare = [replace(p, with_vectors=(), with_payload=False) for p in chosen]
        for label, batch, run in (("ids", bare, store.backend.query), ("payload", chosen, store.search)):
            times = [timed(lambda plan=plan: run(plan))[0] for plan in batch]
            times.sort()
            rows[f"{name}_{label}_p50_ms"] = round(statistics.median(times), 2)
            rows[f"{name}_{label}_p95_ms"] = round(times[int(0.95 * (len(times) - 1))], 2)
    store.close()
    return rows


def main() -> None:
    results = [measure(Path(arg)) for arg in sys.argv[1:]]
    keys = list(dict.fromkeys(k for row in results for k in row))
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in results:
        print("| " + " | ".join(str(row.get(k, "–")) for k in keys) + " |")


if __name__ == "__main__":
    main()
