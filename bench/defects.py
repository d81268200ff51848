"""The denial-of-service and memory defects, measured against a real server (after the fixes).

    .venv/bin/python bench/defects.py [--work DIR] [--model NAME]

Starts `fouassist serve` (lexical-only unless --model) on a loopback port with an API key, sends
the inputs that used to exhaust it, and prints what each costs now: status, seconds, and the
server's RSS before and after (peak RSS for the largest accepted upload). The figures before the
fixes are in the issue that reported them; bench/README.md puts both side by side.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
KEY = "bench-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
PARAGRAPH = ("Region Exempel ska stärka den kliniska forskningen genom samverkan med universitet, "
             "högskolor och näringsliv, och genom att ge medarbetare tid för forskning i vardagen. ")


def status_of(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return float("nan")


def timed(call) -> tuple[object, float]:
    started = time.perf_counter()
    result = call()
    return result, time.perf_counter() - started


def docx(body: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", body)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/fouassist-defects"))
    parser.add_argument("--model", default="")
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    port = 8977
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "FOUASSIST_DATA_DIR": str(args.work / "data"), "FOUASSIST_API_KEY": KEY,
           "FOUASSIST_EMBEDDING_MODEL": args.model, "FOUASSIST_LOG_LEVEL": "WARNING", "GRADIO_ANALYTICS_ENABLED": "False",
           "FOUASSIST_RATE_LIMIT_ASK": "", "FOUASSIST_RATE_LIMIT_UPLOAD": "", "FOUASSIST_RATE_LIMIT_FEEDBACK": "20/minute",
           # an upload answers 202 after one second, so that a delete meets a running job
           "FOUASSIST_UPLOAD_WAIT_S": "1", "FOUASSIST_WRITE_WAIT_S": "2"}
    log = (args.work / "server.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "fouassist.cli", "serve", "--port", str(port)], env=env, cwd=ROOT,
                              stdout=log, stderr=subprocess.STDOUT)
    rows = []

    def row(item: str, what: str, status, seconds: float, note: str = "") -> None:
        rows.append((item, what, status, round(seconds, 2), round(status_of(server.pid, "VmRSS:")), note))
        print(rows[-1], flush=True)

    try:
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).json()["ui"] != "starting":
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        while httpx.get(f"{url}/health").json()["dense"]["state"] == "loading":
            time.sleep(0.5)
        row("-", "baseline after start-up", "", 0.0)
        word = "forskningstidsplanering" * 900
        response, seconds = timed(lambda: httpx.post(f"{url}/v1/ask", timeout=300, json={
            "question": "Och i Mellansverige?", "history": [{"role": "user", "content": word}]}))
        row("1", "ask with a 20,700-character history word", response.status_code, seconds)
        response, seconds = timed(lambda: httpx.post(f"{url}/v1/chat/completions", timeout=300, json={"messages": [
            {"role": "user", "content": "forsknings" * 4000}, {"role": "assistant", "content": "Svar."},
            {"role": "user", "content": "Och mer?"}]}))
        row("1", "chat with a 40,000-character earlier message", response.status_code, seconds)
        token = "kompetensförsörjningsforskningstidsplanering" * 43
        worst = [0.0, 0.0]
        threads = [threading.Thread(target=lambda n=n: httpx.post(f"{url}/v1/ask", timeout=300, json={
            "question": f"{token}{n}", "history": [{"role": "user", "content": ("forskningsinfrastruktur" * 86)[:1999]}]}))
            for n in range(45)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        while any(t.is_alive() for t in threads):
            _, seconds = timed(lambda: httpx.get(f"{url}/health", timeout=60))
            worst[0] = max(worst[0], seconds)
            _, seconds = timed(lambda: httpx.post(f"{url}/v1/ask", timeout=60,
                                                  json={"question": "Vad säger strategin om forskningstid?"}))
            worst[1] = max(worst[1], seconds)
        row("1", "45 concurrent 1,900-character tokens with history", "200", time.perf_counter() - started,
            f"/health at most {worst[0]:.2f} s, a normal question at most {worst[1]:.2f} s")

        text = "Plan.\n\n" + "forskningstid" * 15_400 + "\n\nSlut."
        response, seconds = timed(lambda: httpx.post(f"{url}/v1/documents", headers=AUTH, timeout=600,
                                                     files={"file": ("token.txt", text.encode())}))
        row("2", "200 KB upload of one 200,000-character token", response.status_code, seconds)
        bomb = docx(b"<w:document><w:body><w:p><w:r><w:t>" + b"a" * (500 * 1024 * 1024) + b"</w:t></w:r></w:p>"
                    b"</w:body></w:document>")
        response, seconds = timed(lambda: httpx.post(f"{url}/v1/documents", headers=AUTH, timeout=600,
                                                     files={"file": ("bomb.docx", bomb)}))
        row("2", f"{len(bomb) // 1024} KB DOCX expanding to 500 MB", response.status_code, seconds)
        largest = "".join(f"{n}. Avsnitt {n}\n\n{PARAGRAPH * 6}\n\n" for n in range(1, 3500))[:2_990_000]
        victim = httpx.get(f"{url}/v1/documents", headers=AUTH).json()["documents"][0]["id"]
        started = time.perf_counter()
        response, seconds = timed(lambda: httpx.post(f"{url}/v1/documents", headers=AUTH, timeout=60,
                                                     files={"file": ("storsta.txt", largest.encode())}))
        job = response.json().get("id") if response.status_code == 202 else response.json().get("job_id")
        refused, refuse_seconds = timed(lambda: httpx.delete(f"{url}/v1/documents/{victim}", headers=AUTH, timeout=60))
        progress = []
        while (state := httpx.get(f"{url}/v1/jobs/{job}", headers=AUTH).json())["status"] in ("queued", "running"):
            progress.append(f"{state['done']}/{state['total']} chunks")
            time.sleep(1)
        row("3", "largest accepted text (2.99 million characters)", f"{response.status_code} in {seconds:.1f} s, "
            f"job {state['status']}", time.perf_counter() - started,
            f"peak RSS {status_of(server.pid, 'VmHWM:'):.0f} MB; a delete meanwhile: {refused.status_code} "
            f"(Retry-After {refused.headers.get('retry-after')}) in {refuse_seconds:.1f} s; {len(progress)} progress polls, "
            f"last {progress[-1] if progress else None}")
        too_big = "x " * 2_000_000
        response, seconds = timed(lambda: httpx.post(f"{url}/v1/documents", headers=AUTH, timeout=60,
                                                     files={"file": ("for-stor.txt", too_big.encode())}))
        row("2", "text of 4 million characters", response.status_code, seconds)
        entry = {"rating": "helpful", "question": "Fråga?", "answer": "Svar.",
                 "citations": [{"id": 1, "document_id": "a", "title": "T", "quote": "q" * 1_900_000}]}
        response, seconds = timed(lambda: httpx.post(f"{url}/v1/feedback", json=entry, timeout=60))
        row("4", "feedback with a 1.9 MB quote", response.status_code, seconds)
        entry["citations"][0]["quote"] = "q"
        statuses = [httpx.post(f"{url}/v1/feedback", json=entry).status_code for _ in range(25)]
        row("4", "25 feedback posts in a row", f"{statuses.count(201)} x 201, {statuses.count(429)} x 429", 0.0)
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()
    out = ROOT / "bench" / "results" / "defects.json"
    out.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    print("| item | input | status | seconds | server RSS MB | note |\n|---|---|---|---:|---:|---|")
    for item in rows:
        print("| " + " | ".join(str(x) for x in item) + " |")


if __name__ == "__main__":
    main()
