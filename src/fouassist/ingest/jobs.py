"""Background jobs for uploads: one worker, in order, with progress, outcome and error.

Indexing a large document takes minutes with a real embedding model. The API waits a few
seconds for an upload's job and answers as before when it is done in time; otherwise it answers
202 with the job's address, where the client (or the web interface) follows its progress.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from typing import Any, Literal

log = logging.getLogger(__name__)

JobStatus = Literal["queued", "running", "succeeded", "failed"]
STOPPED = ("stopped", "the service stopped before the document was indexed; send it again")  # (code, message)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass
class Job:
    id: str
    name: str  # the uploaded file's name
    status: JobStatus = "queued"
    created: str = field(default_factory=_now)
    started: str | None = None
    finished: str | None = None
    done: int = 0  # chunks written so far
    total: int = 0  # chunks of the document, once it has been read
    chunks_per_s: float | None = None  # since the first chunk was written
    seconds_left: float | None = None  # at that rate
    outcome: str | None = None  # added, replaced or unchanged
    document: dict[str, Any] | None = None  # the document's public record
    error: str | None = None  # what went wrong and what to do
    error_code: str | None = None  # the DocumentError code, "busy" or "internal"
    _finished: threading.Event = field(default_factory=threading.Event, repr=False)
    _writing_since: float | None = field(default=None, repr=False)

    def progress(self, done: int, total: int) -> None:
        now = time.monotonic()
        if self._writing_since is None:  # the first report: the chunks start being written
            self._writing_since = now
        elif done and now > self._writing_since:
            rate = done / (now - self._writing_since)
            self.chunks_per_s, self.seconds_left = round(rate, 2), round((total - done) / rate, 1)
        self.done, self.total = done, total

    def wait(self, timeout_s: float) -> bool:
        """Whether the job finished within `timeout_s`."""
        return self._finished.wait(timeout_s)

    def public(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}


class QueueFull(Exception):
    """The queued uploads already hold as many bytes as the queue may keep."""


Work = Callable[[Job], tuple[str, dict[str, Any]]]  # returns (outcome, public record)
Failure = Callable[[BaseException], tuple[str, str] | None]  # an error -> (code, message), None: unexpected


class JobQueue:
    """Runs submitted work one job at a time in a thread, and remembers the last `keep` jobs.
    The work waiting holds its upload's bytes: at most `max_queued_bytes` of them in all."""

    def __init__(self, explain: Failure, max_queued_bytes: int, keep: int = 200) -> None:
        self._explain = explain
        self._keep = keep
        self._max_queued_bytes = max_queued_bytes
        self._queued_bytes = 0
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[Job, Work, int] | None] = queue.SimpleQueue()
        self._closed = False
        self._worker = threading.Thread(target=self._run, name="fouassist-jobs", daemon=True)
        self._worker.start()

    def submit(self, name: str, work: Work, size: int = 0) -> Job:
        """Queue `work` on an upload of `size` bytes. Raises QueueFull when the queue has no room."""
        job = Job(id=uuid.uuid4().hex[:16], name=name)
        with self._lock:
            if self._closed:
                raise RuntimeError("the job queue has been closed")
            if self._queued_bytes + size > self._max_queued_bytes:
                raise QueueFull(f"the uploads waiting to be indexed hold {self._queued_bytes / 1024 / 1024:,.1f} MB; "
                                f"this one ({size / 1024 / 1024:,.1f} MB) would pass the limit of "
                                f"{self._max_queued_bytes / 1024 / 1024:,.0f} MB. Wait for the queued jobs to finish "
                                "(GET /v1/jobs) and send it again")
            self._queued_bytes += size
            self._jobs[job.id] = job
            while len(self._jobs) > self._keep:
                oldest = next(iter(self._jobs.values()))
                if oldest.status in ("queued", "running"):
                    break
                self._jobs.popitem(last=False)
        self._queue.put((job, work, size))
        return job

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def list(self) -> list[Job]:
        with self._lock:
            return list(reversed(self._jobs.values()))

    def close(self, wait_s: float) -> bool:
        """Stop the worker: the jobs still queued fail (code "stopped"); the one running ends as
        its work does (the caller makes the work stop). Waits at most `wait_s`; whether it ended."""
        with self._lock:
            self._closed = True
        self._queue.put(None)
        self._worker.join(wait_s)
        return not self._worker.is_alive()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            job, work, size = item
            try:
                if self._closed:
                    job.error_code, job.error = STOPPED
                    job.status = "failed"
                else:
                    self._perform(job, work)
            finally:
                del work, item  # the upload's bytes
                with self._lock:
                    self._queued_bytes -= size
                job.finished = _now()
                job._finished.set()

    def _perform(self, job: Job, work: Work) -> None:
        job.status, job.started = "running", _now()
        try:
            job.outcome, job.document = work(job)
            job.status = "succeeded"
        except BaseException as error:  # noqa: BLE001 - every failure is the job's outcome
            explained = self._explain(error)
            if explained is None:
                log.exception("Upload job %s (%s) failed", job.id, job.name)
                explained = ("internal", "the document could not be indexed because of an internal error; "
                                         f"the server log has the details under job {job.id}")
            job.error_code, job.error = explained
            job.status = "failed"
