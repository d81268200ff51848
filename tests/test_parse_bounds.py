"""Security issue 25, F7 and F8, and the streamed feedback export, against a real server.

Each hostile upload of the issue is sent as it was (or smaller, where its size only made it
slower): it is refused with a reason, or read within its budget; what a reader may take is
bounded by counts, then by a deadline and a memory cap; a slow document does not hold the queue;
an identical upload is not read again; the queue's bytes are capped.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import hostile
import httpx
import pytest
from conftest import Server

from fouassist.feedback import Feedback, FeedbackStore

QUIET = {"FOUASSIST_AUTO_INGEST": "false"}
# A reader with little time and memory, and a small queue that answers at once (202).
TIGHT = {**QUIET, "FOUASSIST_PARSE_BASE_S": "5", "FOUASSIST_PARSE_S_PER_MB": "1", "FOUASSIST_PARSE_MEMORY_MB": "50",
         "FOUASSIST_MAX_UPLOAD_MB": "1", "FOUASSIST_MAX_QUEUED_UPLOAD_MB": "1", "FOUASSIST_UPLOAD_WAIT_S": "0",
         "FOUASSIST_RATE_LIMIT_UPLOAD": ""}


@pytest.fixture(scope="module")
def bounded(tmp_path_factory):
    running = Server(tmp_path_factory.mktemp("bounded") / "data", env=QUIET, wait_for_ui=False)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def tight(tmp_path_factory):
    running = Server(tmp_path_factory.mktemp("tight") / "data", env=TIGHT, wait_for_ui=False)
    yield running
    running.stop()


def post(url: str, name: str, data: bytes) -> httpx.Response:
    return httpx.post(f"{url}/v1/documents", files={"file": (name, data)}, timeout=120)


def finished_job(url: str, name: str, timeout_s: float = 120) -> dict:
    """The newest upload job named `name`, once it has finished."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = next(j for j in httpx.get(f"{url}/v1/jobs", timeout=10).json()["jobs"] if j["name"] == name)
        if job["status"] in ("succeeded", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"the job of {name} did not finish in {timeout_s} s")


def upload(url: str, name: str, data: bytes) -> dict:
    post(url, name, data)
    return finished_job(url, name)


def refused(job: dict, code: str, *words: str) -> bool:
    return job["status"] == "failed" and job["error_code"] == code and all(w in job["error"] for w in words)


# -- the hostile shapes, with the default limits ---------------------------------------------------

def test_lines_that_all_end_in_a_hyphen_are_joined_in_linear_time(bounded):
    job = upload(bounded.url, "hyphens.txt", hostile.hyphen_lines(80_000))
    assert job["status"] == "succeeded", job
    text = httpx.get(f"{bounded.url}/v1/documents/{job['document']['id']}", timeout=10).json()["text"]
    # One paragraph: the first hyphen splits a word the word list knows ("abab"), the later ones
    # follow a hyphenated word ("abab-ab-"), so they stay.
    assert text == "abab-" + "ab-" * 19_998


@pytest.mark.parametrize(("name", "build", "words"), [
    ("nested.html", lambda: hostile.nested_html(199_000), "more than 200 levels of nested HTML elements"),
    ("flood.html", lambda: hostile.paragraph_flood(4_000_000), "more than 200,000 HTML elements"),
    ("tom.docx", lambda: hostile.empty_paragraphs_docx(27_000), "times its size when unpacked"),
    ("stycken.docx", lambda: hostile.numbered_paragraphs_docx(50_001), "more than 50,000 paragraphs"),
    ("delad.pdf", lambda: hostile.shared_stream_pdf(21_000), "more than 20 characters of text per byte"),
    ("sidor.pdf", lambda: hostile.pdf(2001, hostile.text_lines(1)), "more than 2,000 pages"),
    ("sida.pdf", lambda: hostile.pdf(1, hostile.text_lines(3000), compress=False), "characters on page 1"),
    ("ritning.pdf", lambda: hostile.pdf(1, hostile.drawing(200_000)), "times its size in drawing instructions"),
], ids=["nested-html-199KB", "p-flood-4MB", "docx-empty-paragraphs-27KB", "docx-50001-paragraphs",
        "pdf-shared-stream-21KB", "pdf-2001-pages", "pdf-page-of-3000-lines", "pdf-drawing-200000-operations"])
def test_a_hostile_upload_is_refused_with_the_limit_it_passes(bounded, name, build, words):
    job = upload(bounded.url, name, build())
    assert refused(job, "too_large", words, "limit"), job


def test_html_within_the_limits_keeps_its_blocks_and_ends_unclosed_paragraphs(bounded):
    page = (b"<html><head><title>Plan 2025</title><script>var x = '<p>nej</p>';</script></head><body>"
            b"<nav><p>Meny</p></nav><h2>Forskning</h2><p>Regionen satsar p&aring; klinisk forskning."
            b"<p>Ett andra stycke om <b>innovation</b> i v\xc3\xa5rden.<ul><li>Ett<li>Tv\xc3\xa5</ul></body></html>")
    job = upload(bounded.url, "plan.html", page)
    assert job["status"] == "succeeded", job
    text = httpx.get(f"{bounded.url}/v1/documents/{job['document']['id']}", timeout=10).json()["text"]
    assert "## Forskning" not in text and "Forskning" in text
    assert "Regionen satsar på klinisk forskning.\n\nEtt andra stycke om innovation i vården." in text
    assert "- Ett\n- Två" in text and "Meny" not in text and "nej" not in text


def test_pdf_pages_that_share_one_content_stream_are_read_each_as_a_page(bounded):
    job = upload(bounded.url, "delad-kort.pdf", hostile.pdf(150, hostile.text_lines(20)))
    assert job["status"] == "succeeded", job
    assert job["document"]["pages"] == 150


# -- the reader's deadline and memory cap, and the queue ----------------------------------------------------

def test_a_slow_document_fails_at_its_deadline_and_the_next_one_is_read(tight):
    slow = hostile.pdf(40, hostile.drawing(20_000), shared_resources=False, compress=False)
    assert len(slow) < 1024 * 1024
    post(tight.url, "seg.pdf", slow)
    quick = post(tight.url, "snabb.txt", "Regionen satsar på forskning och innovation i vården.".encode())
    assert quick.status_code == 202
    job = finished_job(tight.url, "seg.pdf")
    assert refused(job, "too_slow", "took longer than", "the limit for a file of its size", ".txt file"), job
    assert finished_job(tight.url, "snabb.txt")["status"] == "succeeded"


def test_a_document_that_needs_more_memory_than_the_reader_may_take_is_refused(tight):
    job = upload(tight.url, "rader.txt", "a\n".encode() * 500_000)
    assert refused(job, "too_large", "more than 50 MB of memory"), job


def test_uploads_beyond_the_queue_limit_get_429_with_retry_after(tight):
    slow = hostile.pdf(40, hostile.drawing(20_000), shared_resources=False, compress=False)
    assert post(tight.url, "kö-1.pdf", slow).status_code == 202
    full = post(tight.url, "kö-2.txt", b"Regionen satsar p\xc3\xa5 forskning. " * 16_000)
    assert full.status_code == 429 and full.headers["Retry-After"] == "5", full.text
    assert "would pass the limit of 1 MB" in full.json()["message"] and "GET /v1/jobs" in full.json()["message"]
    finished_job(tight.url, "kö-1.pdf")
    assert post(tight.url, "kö-2.txt", b"Regionen satsar p\xc3\xa5 forskning. " * 16_000).status_code == 202
    assert finished_job(tight.url, "kö-2.txt")["status"] == "succeeded"


def test_an_identical_upload_is_found_unchanged_without_being_read_again(tmp_path):
    data_dir = tmp_path / "data"
    document = "Regionen satsar på klinisk forskning och innovation i vården.\n".encode() * 200
    first = Server(data_dir, env=QUIET, wait_for_ui=False)
    try:
        post(first.url, "plan.txt", document)
        assert finished_job(first.url, "plan.txt")["outcome"] == "added"
    finally:
        first.stop()
    # The document is now over the limit: only an upload that is not read again can succeed.
    second = Server(data_dir, env={**QUIET, "FOUASSIST_MAX_DOCUMENT_CHARS": "1000"}, wait_for_ui=False)
    try:
        again = post(second.url, "plan.txt", document)
        assert again.status_code == 200 and again.json()["outcome"] == "unchanged", again.text
        changed = upload(second.url, "plan.txt", document + "En rad till.\n".encode())
        assert refused(changed, "too_large", "more than 1,000 characters"), changed
    finally:
        second.stop()


# -- F8: a JSON text document may be as long as the README says ---------------------------------------------

def test_a_json_text_document_may_have_more_than_20000_characters(bounded):
    text = "Regionen satsar på klinisk forskning och innovation i vården. " * 2000
    response = httpx.post(f"{bounded.url}/v1/documents", json={"title": "Lång plan", "text": text}, timeout=120)
    assert response.status_code in (201, 202), response.text
    job = finished_job(bounded.url, "Lång plan")
    assert job["status"] == "succeeded" and job["document"]["characters"] == len(text.strip())


def test_a_json_text_document_over_the_document_limit_is_a_413_that_names_the_limit(bounded):
    text = "a " * 1_500_001
    response = httpx.post(f"{bounded.url}/v1/documents", json={"title": "För lång", "text": text}, timeout=120)
    if response.status_code == 202:
        job = finished_job(bounded.url, "För lång")
        assert refused(job, "too_large", "more than 3,000,000 characters"), job
    else:
        assert response.status_code == 413 and "more than 3,000,000 characters" in response.json()["message"]


# -- the feedback export streams ---------------------------------------------------------------------------

def test_the_feedback_export_is_streamed_and_neutralises_formulas(bounded, tmp_path):
    entry = {"rating": "not_helpful", "question": "Vad säger planen?", "answer": "Inget.", "comment": "=1+1"}
    for _ in range(3):
        assert httpx.post(f"{bounded.url}/v1/feedback", json=entry, timeout=10).status_code == 201
    with httpx.stream("GET", f"{bounded.url}/v1/feedback", params={"format": "csv"}, timeout=10) as response:
        assert response.headers.get("transfer-encoding") == "chunked" and "content-length" not in response.headers
        rows = response.read().decode().splitlines()
    assert rows[0].startswith("id,created,rating,comment") and len(rows) == 4
    assert all(",'=1+1," in row for row in rows[1:])
    lines = httpx.get(f"{bounded.url}/v1/feedback", timeout=10).text.splitlines()
    assert len(lines) == 3 and all('"comment": "=1+1"' in line for line in lines)


def test_the_cli_feedback_export_writes_every_entry_piece_by_piece(tmp_path):
    store = FeedbackStore(tmp_path / "data" / "feedback" / "feedback.jsonl")
    for number in range(3):
        store.add(Feedback(rating="helpful", question=f"Fråga {number}?", answer="Svar.", comment="@SUM(A1)"))
    env = {**os.environ, "FOUASSIST_DATA_DIR": str(tmp_path / "data")}
    command = [sys.executable, "-m", "fouassist.cli", "feedback", "export", "--format", "csv"]
    printed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert printed.returncode == 0, printed.stderr
    rows = printed.stdout.splitlines()
    assert len(rows) == 4 and all(",'@SUM(A1)," in row for row in rows[1:]) and "Fråga 2?" in rows[3]
    written = subprocess.run([*command, "--out", str(tmp_path / "ut.csv")], env=env, capture_output=True, text=True,
                             timeout=120)
    assert written.returncode == 0 and "Wrote 3 entries" in written.stderr
    assert (tmp_path / "ut.csv").read_text(encoding="utf-8").splitlines() == rows
