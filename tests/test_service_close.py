"""Closing a service stops the threads it started (all named fouassist-*): the upload worker and
the question embedder at once; the loaders (lemma tables, models, catalog) end on their own.
Closing twice is harmless. Real components: a service on a temporary data directory,
lexical-only and with the shipped model."""

from __future__ import annotations

import threading
import time

import pytest
from conftest import SHIPPED_MODEL, make_settings

from fouassist.index.embedding import ModelStatus
from fouassist.ingest.jobs import JobQueue
from fouassist.service import Models, Service

NOTE = ("Region Västerbotten bygger ett nytt sjukhus i Skellefteå. Sjukhuset ska öppna år 2030 och få "
        "tvåhundra vårdplatser. Bygget kostar fyra miljarder kronor och betalas av regionen.\n\n"
        "Det gamla sjukhuset stängs när det nya har öppnat.")


STOPPED_BY_CLOSE = {"fouassist-jobs", "fouassist-query-embedding", "fouassist-dense-update"}
# Not the service's: sentence-transformers' progress bars (off) start tqdm's monitor, which tqdm keeps.
LIBRARY_THREADS = {"tqdm_monitor"}


def started_since(before: set[threading.Thread]) -> list[str]:
    return sorted(t.name for t in threading.enumerate()
                  if t not in before and t.is_alive() and t.name not in LIBRARY_THREADS)


@pytest.mark.parametrize("model", ["", SHIPPED_MODEL], ids=["lexical", "shipped"])
def test_close_stops_every_thread_the_service_started(tmp_path, model):
    before = set(threading.enumerate())
    service = Service(make_settings(tmp_path / "data", embedding_model=model))
    job = service.submit_upload("sjukhus.txt", NOTE.encode("utf-8"))
    assert job.wait(300) and job.status == "succeeded", job.error
    answer = service.ask("När ska det nya sjukhuset i Skellefteå öppna?")
    assert answer.citations and answer.citations[0].document_id == job.document["id"]

    running = started_since(before)
    assert "fouassist-jobs" in running
    assert ("fouassist-query-embedding" in running) == bool(model)
    assert all(name.startswith("fouassist-") for name in running), running
    service.close()
    assert not set(started_since(before)) & STOPPED_BY_CLOSE
    for thread in threading.enumerate():  # the loaders are not waited for: they end on their own
        if thread not in before and thread.name.startswith("fouassist-"):
            thread.join(30)
    assert started_since(before) == []
    service.close()  # a second close does nothing


def test_closing_fails_the_queued_uploads_and_waits_a_bounded_time():
    queue = JobQueue(explain=lambda error: None, max_queued_bytes=1000)
    started, release = threading.Event(), threading.Event()
    running = queue.submit("slow.txt", lambda job: started.set() or release.wait() and ("added", {}))
    queued = queue.submit("next.txt", lambda job: ("added", {}))
    assert started.wait(10)
    assert queue.close(wait_s=0.2) is False  # the running job holds the worker; close gives up waiting
    release.set()
    assert running.wait(10) and running.status == "succeeded"
    assert queued.wait(10) and (queued.status, queued.error_code) == ("failed", "stopped")
    assert queue.close(wait_s=10) is True
    with pytest.raises(RuntimeError):
        queue.submit("late.txt", lambda job: ("added", {}))


def test_close_stops_the_writes_that_wait_for_the_model(tmp_path):
    """A server stopped while its model loads: the dense update and the upload waiting for the
    model stop at once (the upload fails with "stopped"), and nothing was written."""
    hold = tmp_path / "hold-models"
    hold.touch()
    before = set(threading.enumerate())  # other tests' services may still run their own threads
    service = Service(make_settings(tmp_path / "data", test_hold_models_file=hold),
                      Models(None, ModelStatus(False, None, code="unset")))
    try:
        service.writer.update_dense_in_background()
        job = service.submit_upload("sjukhus.txt", NOTE.encode("utf-8"))
        time.sleep(0.3)
        started = time.monotonic()
        service.close(wait_s=20)
        assert time.monotonic() - started < 5
        assert job.wait(5) and (job.status, job.error_code) == ("failed", "stopped")
        assert not set(started_since(before)) & STOPPED_BY_CLOSE
    finally:
        hold.unlink()
    reopened = Service(make_settings(tmp_path / "data"))
    assert reopened.documents() == []
    reopened.close()
