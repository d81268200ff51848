"""The embedding backends side by side (issue 24): every row for each backend, in one run.

    .venv/bin/python bench/backends.py [--backends torch-none onnx-none onnx-int8] [--generated 200]
                                       [--seconds 10] [--work DIR]
    .venv/bin/python bench/run.py --backends torch-none onnx-none onnx-int8 [--sizes 200]   # the same

For each backend (FOUASSIST_EMBEDDING_BACKEND-FOUASSIST_EMBEDDING_QUANTIZATION) and in its own
processes: `fouassist ingest` of the default corpus and of N generated documents (whole process,
start and model loading included; and the ingestion alone), the same default-corpus files through a
plain sentence-transformers float32 process (start, load, encode 900-character windows: the model's
own rate on this machine), `fouassist serve` from launch to /health, to the model loaded and to the
first dense answer with the converted model cached, the first start ever (an empty model cache,
conversion included), the server's RSS, `/v1/ask` with new questions at concurrency 1 and 4, and
`/v1/ask` at concurrency 4 while the web interface is still starting against steady state.
Prints a markdown table (a column per backend) and writes bench/results/backends.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from load import questions, run  # noqa: E402
from run import MODEL, PYTHON, RESULTS, Server, corpora, ingest  # noqa: E402

CORPUS = ROOT / "ingest" / "corpus"
FOUASSIST = str(Path(PYTHON).with_name("fouassist"))

PLAIN_ENCODE = r"""
import sys, time
began = time.perf_counter()
from pathlib import Path
from pypdf import PdfReader
from sentence_transformers import SentenceTransformer
from fouassist.index.bundled_model import ensure_bundled_model
model = SentenceTransformer(str(ensure_bundled_model(Path(sys.argv[2])).path), device="cpu")
texts = []
for path in sorted(Path(sys.argv[1]).iterdir()):
    text = ("\n".join(p.extract_text() or "" for p in PdfReader(path).pages) if path.suffix == ".pdf"
            else path.read_text(encoding="utf-8", errors="replace"))
    texts += ["passage: " + text[i:i + 900] for i in range(0, len(text), 900)]
loaded = time.perf_counter()
model.encode(texts, batch_size=8, normalize_embeddings=True, show_progress_bar=False)
done = time.perf_counter()
print(len(texts), round(done - began, 2), round(done - loaded, 2))
"""


def backend_env(backend: str, cache: Path | None = None) -> dict[str, str]:
    name, quantization = backend.split("-")
    env = {"FOUASSIST_EMBEDDING_BACKEND": name, "FOUASSIST_EMBEDDING_QUANTIZATION": quantization,
           "HF_HUB_OFFLINE": "1", "FOUASSIST_LOG_LEVEL": "WARNING"}
    return env | ({"FOUASSIST_MODEL_CACHE_DIR": str(cache)} if cache else {})


def cli_ingest(folder: Path, data: Path, backend: str) -> dict:
    """`fouassist ingest` as a user runs it (chunks per second of the whole process: start, model
    loading, ingestion), and the ingestion alone, timed once the model has loaded (bench/ingest.py)."""
    shutil.rmtree(data, ignore_errors=True)
    env = {**os.environ, **backend_env(backend), "FOUASSIST_DATA_DIR": str(data), "FOUASSIST_EMBEDDING_MODEL": MODEL,
           "FOUASSIST_AUTO_INGEST": "false"}
    began = time.perf_counter()
    out = subprocess.run([FOUASSIST, "ingest", str(folder), "--json"], env=env, cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    wall = time.perf_counter() - began
    chunks = json.loads(out)["chunks"]
    alone = ingest(folder, data.with_name(data.name + "-alone"), MODEL, backend_env(backend))
    return {"chunks": chunks, "process_s": round(wall, 1), "process_chunks_per_s": round(chunks / wall, 1),
            "ingest_s": alone["seconds"], "ingest_chunks_per_s": alone["chunks_per_s"],
            "ingest_peak_rss_mb": alone["peak_rss_mb"]}


def plain_encode(folder: Path) -> dict:
    cache = Path(os.environ.get("FOUASSIST_MODEL_CACHE_DIR", Path.home() / ".cache" / "fouassist"))
    out = subprocess.run([PYTHON, "-c", PLAIN_ENCODE, str(folder), str(cache)], cwd=ROOT, check=True,
                         capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}).stdout
    windows, process_s, encode_s = out.split()
    return {"windows": int(windows), "process_per_s": round(int(windows) / float(process_s), 1),
            "encode_per_s": round(int(windows) / float(encode_s), 1)}


def start(data: Path, port: int, backend: str, cache: Path | None = None) -> dict:
    server = Server(data, port, {**backend_env(backend, cache), "FOUASSIST_EMBEDDING_MODEL": MODEL})
    try:
        health = server.wait(lambda: httpx.get(f"{server.url}/health", timeout=1).status_code == 200)
        model = server.wait(lambda: httpx.get(f"{server.url}/health", timeout=1).json()["dense"]["state"] != "loading")
        answer = server.wait(lambda: httpx.post(f"{server.url}/v1/ask", timeout=30, json={
            "question": "Vad säger strategin om forskningstid?"}).json()["timings_ms"].get("embedding") is not None)
        dense = httpx.get(f"{server.url}/health", timeout=5).json()["dense"]
        return {"health_s": round(health, 2), "model_s": round(model, 2), "first_dense_answer_s": round(answer, 2),
                "load_s": dense.get("load_s"), "backend": dense.get("backend"), "rss_mb": round(server.rss_mb())}
    finally:
        server.stop()


def serve_load(data: Path, port: int, backend: str, seconds: float) -> dict:
    """After one pass over the questions (the caches of sentence vectors warm, as in use): repeated
    questions at concurrency 4, and new ones at concurrency 1 and 4."""
    server = Server(data, port, {**backend_env(backend), "FOUASSIST_EMBEDDING_MODEL": MODEL})
    pool = questions()
    try:
        server.wait(lambda: httpx.get(f"{server.url}/health", timeout=1).json()["ui"] == "ready")
        with httpx.Client(base_url=server.url, timeout=60) as http:
            for question in pool:
                http.post("/v1/ask", json={"question": question}).raise_for_status()
        steady = run(server.url, "ask", 4, seconds, pool)
        fresh = {c: run(server.url, "ask", c, seconds, pool, fresh=True) for c in (1, 4)}
        return {"fresh_c1_p50": round(fresh[1]["median_ms"], 1), "fresh_c4_p50": round(fresh[4]["median_ms"], 1),
                "fresh_c4_p95": round(fresh[4]["p95_ms"], 1), "embedding_ms_c4": fresh[4]["split_ms"]["embedding"],
                "steady_c4_p50": round(steady["median_ms"], 1), "steady_c4_p95": round(steady["p95_ms"], 1),
                "rss_after_mb": round(server.rss_mb())}
    finally:
        server.stop()


def interface_start_load(data: Path, port: int, backend: str) -> dict:
    """`/v1/ask` at concurrency 4 from /health on, while the web interface imports and mounts, then
    the same questions once it is ready."""
    server = Server(data, port, {**backend_env(backend), "FOUASSIST_EMBEDDING_MODEL": MODEL})
    pool = questions()
    try:
        server.wait(lambda: httpx.get(f"{server.url}/health", timeout=1).json()["dense"]["state"] == "ready")
        starting = run(server.url, "ask", 4, 4.0, pool) if httpx.get(f"{server.url}/health").json()["ui"] != "ready" \
            else None
        server.wait(lambda: httpx.get(f"{server.url}/health", timeout=1).json()["ui"] == "ready")
        run(server.url, "ask", 4, 4.0, pool)  # the same caches as the run above had at its end
        after = run(server.url, "ask", 4, 4.0, pool)
        return {"c4_p95": round(starting["p95_ms"], 1) if starting else None,
                "c4_p95_after": round(after["p95_ms"], 1)}
    finally:
        server.stop()


ROWS = [  # (label, key, unit)
    ("dense ingest, default corpus: `fouassist ingest`, whole process", "default.process_chunks_per_s", "chunks/s"),
    ("dense ingest, default corpus: the ingestion alone (model loaded)", "default.ingest_chunks_per_s", "chunks/s"),
    ("plain float32 encode process, same files (start, load, encode)", "plain.process_per_s", "windows/s"),
    ("plain float32 encode alone", "plain.encode_per_s", "windows/s"),
    ("`fouassist ingest` / plain process", "ratio_to_plain", "x"),
    ("dense ingest, generated documents: seconds of the whole process", "generated.process_s", "s"),
    ("dense ingest, generated documents, whole process", "generated.process_chunks_per_s", "chunks/s"),
    ("dense ingest, generated documents, the ingestion alone", "generated.ingest_chunks_per_s", "chunks/s"),
    ("peak RSS of the ingestion alone, generated documents", "generated.ingest_peak_rss_mb", "MB"),
    ("serve: launch to /health", "warm.health_s", "s"),
    ("serve: launch to the first dense answer (model cache warm)", "warm.first_dense_answer_s", "s"),
    ("serve: model load in the background (`dense.load_s`)", "warm.load_s", "s"),
    ("serve: first start ever, launch to the first dense answer", "cold.first_dense_answer_s", "s"),
    ("server RSS, default corpus, after the first answer", "warm.rss_mb", "MB"),
    ("server RSS after the load runs", "load.rss_after_mb", "MB"),
    ("`/v1/ask` new questions, c=1, p50", "load.fresh_c1_p50", "ms"),
    ("`/v1/ask` new questions, c=4, p50", "load.fresh_c4_p50", "ms"),
    ("`/v1/ask` new questions, c=4, p95", "load.fresh_c4_p95", "ms"),
    ("  of which query embedding (mean, server-side)", "load.embedding_ms_c4", "ms"),
    ("`/v1/ask` repeated questions, c=4, p50 / p95", "load.steady_c4", "ms"),
    ("`/v1/ask` c=4 p95 while the interface starts", "interface.c4_p95", "ms"),
    ("`/v1/ask` c=4 p95 once it has started (the same questions)", "interface.c4_p95_after", "ms"),
]


def lookup(result: dict, key: str):
    if key == "load.steady_c4":
        return f"{result['load']['steady_c4_p50']} / {result['load']['steady_c4_p95']}"
    value = result
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def render(results: dict[str, dict], generated: int) -> str:
    names = list(results)
    lines = [f"| measure ({os.cpu_count()} cores; generated corpus: {generated} documents) | unit | "
             + " | ".join(names) + " |", "|---|---|" + "---:|" * len(names)]
    for label, key, unit in ROWS:
        cells = [lookup(results[n], key) for n in names]
        shown = ["–" if c is None else c if isinstance(c, str) else f"{c:,}" for c in cells]
        lines.append(f"| {label} | {unit} | " + " | ".join(shown) + " |")
    lines += ["", "Backends: " + "; ".join(f"{n}: {results[n]['warm'].get('backend')}" for n in names)]
    return "\n".join(lines) + "\n"


def compare(backends: list[str], generated_documents: int, seconds: float, work: Path) -> str:
    """Measure every backend, write bench/results/backends.{json,md} and return the table."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    generated = corpora(work, [generated_documents])[str(generated_documents)]
    results: dict[str, dict] = {}
    port = 8960
    for backend in backends:
        data = work / f"backend-{backend}-dense"
        result: dict = {"default": cli_ingest(CORPUS, data, backend)}
        result["generated"] = cli_ingest(generated, work / f"backend-{backend}-generated", backend)
        result["warm"] = start(data, port, backend)
        with tempfile.TemporaryDirectory(prefix="fouassist-cold-cache-") as cache:
            result["cold"] = start(data, port + 1, backend, Path(cache))
        result["load"] = serve_load(data, port + 2, backend, seconds)
        result["interface"] = interface_start_load(data, port + 3, backend)
        results[backend] = result
        port += 4
        print(backend, json.dumps(result), flush=True)
    plain = plain_encode(CORPUS)
    for result in results.values():
        result["plain"] = plain
        result["ratio_to_plain"] = round(result["default"]["process_chunks_per_s"] / plain["process_per_s"], 2)
    (RESULTS / "backends.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    markdown = render(results, generated_documents)
    (RESULTS / "backends.md").write_text(markdown, encoding="utf-8")
    return markdown


def check_names(parser: argparse.ArgumentParser, backends: list[str]) -> None:
    for backend in backends:
        if not re.fullmatch(r"(torch|onnx|openvino)-(none|int8)", backend):
            parser.error(f"{backend}: name a backend as BACKEND-QUANTIZATION, e.g. onnx-int8 or torch-none")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["torch-none", "onnx-none", "onnx-int8"])
    parser.add_argument("--generated", type=int, default=200, help="generated documents for the large ingest")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--work", type=Path, default=Path("/tmp/fouassist-bench"))
    args = parser.parse_args()
    check_names(parser, args.backends)
    print(compare(args.backends, args.generated, args.seconds, args.work))


if __name__ == "__main__":
    main()
