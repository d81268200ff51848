"""How embedded Qdrant scales: opening time, and search time with its own pure-Python scan versus
the in-memory index that fouassist uses in embedded mode.

    python bench/embedded_limits.py DATA_DIR [DATA_DIR ...]

Each DATA_DIR is an index that bench/run.py (or `fouassist ingest`) built. Prints one table row
per index: chunks, seconds to open the Qdrant folder, seconds to build the in-memory index from
Qdrant and to load it from its snapshot, and the median search time of Qdrant's scan and of the
in-memory index over ten questions.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

QUESTIONS = ["forskningstid", "samarbeid med industrien", "hälsodata för forskning", "kompetensförsörjning",
             "klinisk forskning i hela vården", "innovation och näringsliv", "utbildning av läkare",
             "handlingsplan for forskning", "finansiering av forskning", "digitalisering och e-hälsa"]


def measure(data: Path) -> dict:
    from qdrant_client import QdrantClient

    from fouassist.analysis import Analyzer
    from fouassist.memory_index import MemoryIndex
    from fouassist.retrieval import Retriever
    from fouassist.store import IndexStore

    started = time.perf_counter()
    client = QdrantClient(path=str(data / "qdrant"))
    opened = time.perf_counter() - started
    store = IndexStore(client, "fouassist", embedded=True, in_memory_search=False)
    chunks = store.count_chunks()
    analyzer = Analyzer()
    vectors = [Retriever.sparse_vector(analyzer.analyze_query(q)) for q in QUESTIONS]

    def median_ms(search) -> float:
        times = []
        for vector in vectors:
            started = time.perf_counter()
            search(vector)
            times.append((time.perf_counter() - started) * 1000)
        return statistics.median(times)

    scan = median_ms(lambda v: store.search(v, None, None, None, 30))
    store.memory = MemoryIndex()
    started = time.perf_counter()
    store._load_memory()  # no snapshot path: built from Qdrant
    build = time.perf_counter() - started
    memory = median_ms(lambda v: store.search(v, None, None, None, 30))
    snapshot = data / "bench-memory.npz"
    store.snapshot = snapshot
    store.save_memory()
    started = time.perf_counter()
    loaded = store.memory.load(snapshot, store._stamp())
    from_snapshot = time.perf_counter() - started
    snapshot.unlink()
    client.close()
    return {"index": data.name, "chunks": chunks, "open_s": opened, "build_s": build,
            "snapshot_s": from_snapshot if loaded else float("nan"), "scan_ms": scan, "memory_ms": memory}


def main() -> None:
    rows = [measure(Path(p)) for p in sys.argv[1:]]
    print("| index | chunks | open Qdrant folder, s | build in-memory index, s | load its snapshot, s | "
          "Qdrant scan search, ms | in-memory search, ms |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['index']} | {r['chunks']} | {r['open_s']:.2f} | {r['build_s']:.2f} | {r['snapshot_s']:.2f} | "
              f"{r['scan_ms']:.1f} | {r['memory_ms']:.2f} |")


if __name__ == "__main__":
    main()
