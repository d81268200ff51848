"""What the hostile uploads of security issue 25 (F7) cost now, through the real upload path.

Starts `fouassist serve` (lexical only, empty index), uploads each shape over HTTP, follows its
job, and prints per shape: the job's seconds (read + index), seconds per MB of the upload, the
seconds of reading alone (the same bounded reader, called here), the
peak memory over the server's baseline (PSS of the server and every process under it: the
forkserver and the reader process, so shared pages count once), and the outcome.
Targets (issue 25): <= 5 s per MB for an accepted upload; <= 300 MB over the baseline.

    .venv/bin/python bench/parse_bounds.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import hostile  # noqa: E402
from conftest import Server  # noqa: E402

from fouassist.config import Settings  # noqa: E402
from fouassist.ingest.read_limits import DocumentError  # noqa: E402
from fouassist.ingest.sandbox import read_bounded  # noqa: E402
from fouassist.service import Service  # noqa: E402

ENV = {"FOUASSIST_AUTO_INGEST": "false", "FOUASSIST_RATE_LIMIT_UPLOAD": ""}
MB = 1024 * 1024


def shapes() -> list[tuple[str, str, bytes]]:
    prose = "".join(f"Regionen satsar på klinisk forskning och innovation i vården, med {n} nya tjänster.\n\n"
                    for n in range(12_000)).encode()
    return [
        ("hyphen lines 80 KB (was 31-34 s)", "hyphens.txt", hostile.hyphen_lines(80_000)),
        ("hyphen lines 1 MB", "hyphens-1mb.txt", hostile.hyphen_lines(MB)),
        ("nested HTML 199 KB (was 107 s)", "nested.html", hostile.nested_html(199_000)),
        ("<p> flood 4 MB (was 50 s, 1.2 GB)", "flood.html", hostile.paragraph_flood(4_000_000)),
        ("<p>x</p> 1 MB, within the limits", "blocks.html", b"<p>x</p>" * (MB // 8)),
        ("DOCX of empty paragraphs 27 KB (was 38 s, 1 GB)", "empty.docx", hostile.empty_paragraphs_docx(27_000)),
        ("DOCX of 50,001 short paragraphs", "numbered.docx", hostile.numbered_paragraphs_docx(50_001)),
        ("PDF, pages share a stream, 21 KB (was 62 s, 542 MB)", "shared.pdf", hostile.shared_stream_pdf(21_000)),
        ("PDF, 150 pages share a short stream", "shared-short.pdf", hostile.pdf(150, hostile.text_lines(20))),
        ("PDF, shared stream, own resources", "unshared.pdf",
         hostile.pdf(150, hostile.text_lines(400), shared_resources=False)),
        ("PDF, drawing within the unpacked ratio", "drawing.pdf",
         hostile.pdf(40, hostile.drawing(20_000), shared_resources=False, compress=False)),
        ("plain prose 1 MB (reference)", "prose.txt", prose[:MB]),
    ]


def tree(pid: int) -> list[int]:
    """`pid` and every process under it."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                parent = int(Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def pss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            continue  # a reader process that has just ended
    return total / 1024


class PeakMemory:
    """Samples the PSS of a process tree every 20 ms while it runs."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self.running = pid, 0.0, True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        while self.running:
            self.peak = max(self.peak, pss_mb(tree(self.pid)))
            time.sleep(0.02)

    def stop(self) -> float:
        self.running = False
        self.thread.join()
        return self.peak


def finished_job(url: str, name: str) -> dict:
    while True:
        job = next(j for j in httpx.get(f"{url}/v1/jobs", timeout=30).json()["jobs"] if j["name"] == name)
        if job["status"] in ("succeeded", "failed"):
            return job
        time.sleep(0.05)


def seconds(job: dict) -> float:
    started, finished = (datetime.fromisoformat(job[k]) for k in ("started", "finished"))
    return (finished - started).total_seconds()


def read_seconds(name: str, data: bytes, service: Service) -> float:
    """Reading alone, by the reader the server uses, with the server's limits and budget."""
    started = time.perf_counter()
    try:
        read_bounded(name, data, service.writer.parse_budget, {}, None, service.writer.read_limits)
    except DocumentError:
        pass
    return time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        local = Service(Settings(data_dir=Path(folder) / "local", embedding_model="", auto_ingest=False))
        read_seconds("warm.txt", "Regionen satsar på forskning.".encode(), local)
        server = Server(Path(folder) / "data", env=ENV, wait_for_ui=False)
        try:
            warm = "Regionen satsar på forskning.".encode()
            httpx.post(f"{server.url}/v1/documents", files={"file": ("warm.txt", warm)}, timeout=120)
            finished_job(server.url, "warm.txt")  # the forkserver is up
            print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs")
            print(f"{'shape':52} {'KB':>8} {'job s':>7} {'s/MB':>7} {'read s/MB':>9} {'peak MB':>8}  outcome")
            for label, name, data in shapes():
                baseline = pss_mb(tree(server.process.pid))
                memory = PeakMemory(server.process.pid)
                httpx.post(f"{server.url}/v1/documents", files={"file": (name, data)}, timeout=600)
                job = finished_job(server.url, name)
                peak = memory.stop() - baseline
                took = seconds(job)
                read = read_seconds(name, data, local)
                outcome = (f"accepted ({job['document']['characters']:,} chars)" if job["status"] == "succeeded"
                           else f"refused {job['error_code']}: {job['error'].split(': ', 1)[1][:70]}")
                size_mb = len(data) / MB
                print(f"{label:52} {len(data) / 1024:8.1f} {took:7.2f} {took / size_mb:7.1f} {read / size_mb:9.1f} "
                      f"{peak:8.0f}  {outcome}", flush=True)
            print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        finally:
            server.stop()
            local.close()


if __name__ == "__main__":
    main()
