"""The attacks of issue 25 on the web interface's routes, against a real server, with /health
watched from another thread the whole time.

    .venv/bin/python bench/ui_attacks.py [--rounds 3]

Starts `fouassist serve` (lexical-only) with an API key on a loopback port and sends, per round:
every file part of the findings (/proc/self/environ, /dev/zero, ...) to every event; a chat
completion of 100 messages; 25 follow-up turns; a 200,000-character question to the chat; every
hostile value of the fuzzer (tests/test_ui_doors.py) to every argument of every event. Prints
what each attack got (statuses), its seconds, and /health's latency under it (median, p95, max).
The issue's target: /health under 1 s throughout.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import Server  # noqa: E402
from test_ui_doors import HOSTILE, KEY, SECRET_FILES, Events, file_part  # noqa: E402


class HealthWatch(threading.Thread):
    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.samples, self.running = url, [], True

    def run(self) -> None:
        with httpx.Client(timeout=30) as http:
            while self.running:
                started = time.perf_counter()
                http.get(f"{self.url}/health")
                self.samples.append(time.perf_counter() - started)
                time.sleep(0.05)

    def take(self) -> list[float]:
        taken, self.samples = self.samples, []
        return taken


def attacks(url: str):
    events = Events(url, session="bench")
    yield "F1/F2 file parts to every event", lambda: [
        events.send(index, [file_part(path)] * max(len(event["inputs"]), 1))[0]
        for path in SECRET_FILES for index, event in events.events.items()]
    messages = [{"role": "user" if n % 2 == 0 else "assistant", "content": f"Vad säger planen om ämne{n}?"}
                for n in range(99)] + [{"role": "user", "content": "Och i Mellansverige?"}]
    yield "F6 chat completion, 100 messages", lambda: [
        httpx.post(f"{url}/v1/chat/completions", json={"messages": messages}, timeout=120).status_code]
    history = [{"role": "user", "content": f"Och om ämne{n} i forskningsstrategin?"} for n in range(25)]
    yield "F6 25 follow-up turns", lambda: [
        httpx.post(f"{url}/v1/ask", json={"question": "Och i Mellansverige?", "history": history},
                   timeout=120).status_code]
    yield "F6 200,000 characters to the chat", lambda: [
        events.send(events.index("add_question"), ["forskning " * 20_000, None, "Svenska"])[0]]
    yield "fuzzer: every hostile value, every event", lambda: [
        events.send(index, [value if i == position else None for i in range(len(event["inputs"]))])[0]
        for index, event in events.events.items() for position in range(len(event["inputs"])) for value in HOSTILE]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    server = Server(Path(tempfile.mkdtemp(prefix="fouassist-attacks-")) / "data", env={"FOUASSIST_API_KEY": KEY, "FOUASSIST_RATE_LIMIT_ASK": "",
                                             "FOUASSIST_RATE_LIMIT_UI_EVENTS": ""})
    watch = HealthWatch(server.url)
    watch.start()
    try:
        print(f"{'attack':42} {'requests':>8} {'statuses':24} {'s':>6} {'health p50':>10} {'p95':>6} {'max':>6}")
        for round_number in range(args.rounds):
            for name, attack in attacks(server.url):
                watch.take()
                started = time.perf_counter()
                statuses = attack()
                seconds = time.perf_counter() - started
                time.sleep(0.1)  # at least one look at /health after each attack
                health = sorted(watch.take())
                p95 = health[min(len(health) - 1, int(0.95 * len(health)))]
                counts = ", ".join(f"{code}x{statuses.count(code)}" for code in sorted(set(statuses)))
                print(f"{name:42} {len(statuses):8} {counts:24} {seconds:6.1f} "
                      f"{statistics.median(health) * 1000:8.0f}ms {p95 * 1000:4.0f}ms {health[-1] * 1000:4.0f}ms")
    finally:
        watch.running = False
        server.stop()
    log = server.log_path.read_text(encoding="utf-8")
    print(f"tracebacks in the server log: {log.count('Traceback')}; unhandled errors: {log.count('Unhandled error')}")


if __name__ == "__main__":
    main()
