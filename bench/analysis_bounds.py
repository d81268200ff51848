"""Cost of the lexical analysis on hostile input: the old analyser (commit --old) versus this one.

    python bench/analysis_bounds.py [--old 22a82b1] [--timeout 30] [--only CASE ...]

Each case runs in a fresh process per analyser (so that peak memory is that case's alone) after
the dictionaries are loaded and warmed up; a case still running after --timeout seconds is
stopped and shown as "> N s". Printed per case and analyser: seconds; the process's RSS once
warmed up ("ready MB"), its peak RSS ("peak MB", getrusage ru_maxrss: the whole process, so
never below the warm-up's own peak), RSS still held after the call and a garbage collection,
above "ready" ("kept +MB": what the caches keep); and what came out (terms, longest term) or
the error.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))


def _random_letters(n: int, seed: int) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyzåäö") for _ in range(n))


# name -> (description, what it runs)
CASES = {
    "token-200k": ("term_weights of one 200,000-letter token (an uploaded text)",
                   lambda a, m: a.term_weights(_random_letters(200_000, 1), "sv")),
    "token-6k": ("word_terms of one 6,000-letter token (one of 45 concurrent requests that stalled the server)",
                 lambda a, m: a.word_terms(_random_letters(6000, 4), "sv")),
    "forskning-10k": ("word_terms of 'forskning' x 1,112 (10,008 letters of real words)",
                      lambda a, m: a.word_terms("forskning" * 1112, "sv")),
    "forskning-40k": ("word_terms of 'forskning' x 4,445 (40,005 letters of real words)",
                      lambda a, m: a.word_terms("forskning" * 4445, "sv")),
    "hyphen-chain-10k": ("word_terms of 'forsknings-' x 900 + 'tid' (9,903 characters)",
                         lambda a, m: a.word_terms("forsknings-" * 900 + "tid", "sv")),
    "many-long-tokens": ("term_weights of 45 tokens of 6,000 letters (270 kB)",
                         lambda a, m: a.term_weights(" ".join(_random_letters(6000, i) for i in range(45)), "sv")),
    "many-47-letter": ("term_weights of 2,000 distinct 47-letter tokens (96 kB): the costliest text per byte "
                       "that the bounds still analyse",
                       lambda a, m: a.term_weights(" ".join(_random_letters(47, 10_000 + i) for i in range(2000)),
                                                   "sv")),
    "question-20k-word": ("analyze_query of a question with a 20,000-letter word",
                          lambda a, m: a.analyze_query("Vad säger strategin om " + _random_letters(20_000, 2) + "?")),
    "detect-1MB": ("detect_language of 1 MB: one 500,000-letter token, then Swedish sentences",
                   lambda a, m: a.detect_language(_random_letters(500_000, 3) + " och det är viktigt" * 26_000)),
    "corpus": ("term_weights of the default corpus (5 documents, 44 kB), cold caches: the normal case",
               lambda a, m: sum((a.term_weights(p.read_text(encoding="utf-8"), "sv")
                                 for p in sorted((ROOT / "ingest" / "corpus").glob("*.txt"))), start=_counter())),
}


def _counter():
    from collections import Counter

    return Counter()


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _summary(result) -> str:
    if isinstance(result, str):
        return f"'{result}'"
    if hasattr(result, "concepts"):
        keys = [k for c in result.concepts for k in c.keys()]
        return f"{len(result.concepts)} concepts, {len(keys)} keys, longest key {max(map(len, keys), default=0)}"
    terms = list(result.keys()) if isinstance(result, dict) else [t for t, _ in result]
    return f"{len(terms)} terms, longest {max(map(len, terms), default=0)}"


def child(which: str, case: str, commit: str) -> None:
    sys.setrecursionlimit(1000)
    if which == "old":
        from analysis_equivalence import load_old

        module = load_old(commit)
    else:
        from fouassist.language import analysis as module
    analyzer = module.Analyzer()
    for lang in module.LANGUAGES:  # load and warm the dictionaries
        analyzer.term_weights("Forskningstiden och kompetensförsörjningen i life-science-industrin", lang)
    analyzer.detect_language("Vad säger planen? Hva sier planen? Kva seier planen?")
    gc.collect()
    print(json.dumps({"ready_rss": _rss_mb(), "ready_maxrss": _maxrss_mb()}), flush=True)
    started = time.perf_counter()
    try:
        outcome = _summary(CASES[case][1](analyzer, module))
    except RecursionError as error:
        outcome = f"RecursionError: {error}"
    seconds = time.perf_counter() - started
    gc.collect()
    print(json.dumps({"seconds": seconds, "rss": _rss_mb(), "maxrss": _maxrss_mb(), "outcome": outcome}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", default="22a82b1")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds before a case is stopped")
    parser.add_argument("--only", nargs="*", choices=list(CASES), help="cases to run (default: all)")
    parser.add_argument("--child", nargs=2, metavar=("WHICH", "CASE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.old)
        return
    print(f"{'case':<18} {'code':<4} {'seconds':>9} {'ready MB':>9} {'peak MB':>9} {'kept +MB':>9}  outcome")
    for case in args.only or list(CASES):
        print(f"# {case}: {CASES[case][0]}", flush=True)
        for which in ("old", "new"):
            row = _run_with_timeout(which, case, args.old, args.timeout)
            seconds = f"> {args.timeout:.0f}" if row.get("timed_out") else f"{row['seconds']:.3f}"
            kept = "–" if row["kept"] is None else f"{row['kept']:.1f}"
            print(f"{case:<18} {which:<4} {seconds:>9} {row['ready']:>9.0f} {row['peak']:>9.0f} {kept:>9}  "
                  f"{row['outcome']}", flush=True)


def _run_with_timeout(which: str, case: str, commit: str, timeout: float) -> dict:
    command = [sys.executable, __file__, "--child", which, case, "--old", commit]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    ready = json.loads(process.stdout.readline())
    started = time.monotonic()
    try:
        line = _readline(process, timeout)
    except TimeoutError:
        process.kill()
        _, _, usage = os.wait4(process.pid, 0)
        process.returncode = -9
        process.stdout.close()
        return {"seconds": time.monotonic() - started, "timed_out": True, "ready": ready["ready_rss"],
                "peak": usage.ru_maxrss / 1024, "kept": None, "outcome": "stopped"}
    process.wait()
    done = json.loads(line)
    return {"seconds": done["seconds"], "ready": ready["ready_rss"], "peak": done["maxrss"],
            "kept": done["rss"] - ready["ready_rss"], "outcome": done["outcome"]}


def _readline(process: subprocess.Popen, timeout: float) -> str:
    import selectors

    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    if not selector.select(timeout):
        raise TimeoutError
    return process.stdout.readline()


if __name__ == "__main__":
    main()
