"""Load generator: latency and throughput of /v1/retrieve and /v1/ask against a running server.

    python bench/load.py http://127.0.0.1:8000 [--concurrency 1 4 16] [--seconds 10] [--endpoints ask retrieve]

Runs in its own process (not the server's); each concurrent client is a thread with its own
HTTP connection, asking the reference questions of eval/sets/default.jsonl in turn. Prints,
per endpoint and concurrency: requests, failures, throughput, latency median/p95/p99, and the
split of the time as the server reports it in `timings_ms` (the rest is HTTP, queueing and
serialisation). `--json FILE` also writes the figures.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("analysis", "embedding", "search", "ranking", "sentences", "answer")


def questions() -> list[str]:
    lines = (ROOT / "eval" / "sets" / "default.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


def run(url: str, endpoint: str, concurrency: int, seconds: float, pool: list[str], fresh: bool = False) -> dict:
    """`fresh`: every question is new to the server (a number is added), so none is answered from
    the query-vector cache."""
    results: list[tuple[float, int, dict]] = []
    lock = threading.Lock()
    counter = itertools.count(int(time.time() * 1000))
    deadline = time.monotonic() + seconds

    def client(number: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            turn = number
            while time.monotonic() < deadline:
                question = pool[turn % len(pool)] + (f" ({next(counter)})" if fresh else "")
                body = {"question": question} if endpoint == "ask" else {"query": question, "top_k": 5}
                started = time.perf_counter()
                try:
                    response = http.post(f"/v1/{endpoint}", json=body)
                    status, timings = response.status_code, response.json().get("timings_ms", {})
                except (httpx.HTTPError, ValueError):
                    status, timings = 0, {}
                with lock:
                    results.append(((time.perf_counter() - started) * 1000, status, timings))
                turn += concurrency

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    latencies = [r[0] for r in results if r[1] == 200]
    split = {part: statistics.mean(r[2].get(part, 0.0) for r in results if r[1] == 200) for part in PARTS}
    split["http_and_queue"] = statistics.mean(latencies) - sum(split.values()) if latencies else 0.0
    return {
        "endpoint": endpoint + (" (new questions)" if fresh else ""), "concurrency": concurrency, "requests": len(results),
        "failures": sum(1 for r in results if r[1] != 200), "throughput_per_s": len(results) / elapsed,
        "median_ms": statistics.median(latencies) if latencies else float("nan"),
        "p95_ms": percentile(latencies, 0.95) if latencies else float("nan"),
        "p99_ms": percentile(latencies, 0.99) if latencies else float("nan"),
        "split_ms": {k: round(v, 2) for k, v in split.items()},
    }


def table(rows: list[dict]) -> str:
    lines = ["| endpoint | concurrency | requests | failures | req/s | median ms | p95 ms | p99 ms | "
             "analysis | embedding | search | ranking | sentences | answer | HTTP+queue |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        s = r["split_ms"]
        lines.append(f"| {r['endpoint']} | {r['concurrency']} | {r['requests']} | {r['failures']} | "
                     f"{r['throughput_per_s']:.1f} | {r['median_ms']:.1f} | {r['p95_ms']:.1f} | {r['p99_ms']:.1f} | "
                     + " | ".join(f"{s[p]:.1f}" for p in (*PARTS, "http_and_queue")) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--endpoints", nargs="+", default=["retrieve", "ask"], choices=["retrieve", "ask"])
    parser.add_argument("--fresh", action="store_true", help="also ask questions the server has not seen "
                        "(no query-vector cache hits)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    pool = questions()
    for endpoint in args.endpoints:  # warm up: first requests load caches
        run(args.url, endpoint, 1, 1.0, pool)
    rows = [run(args.url, e, c, args.seconds, pool) for e in args.endpoints for c in args.concurrency]
    if args.fresh:
        rows += [run(args.url, "ask", c, args.seconds, pool, fresh=True) for c in args.concurrency]
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
