"""The write path: every change to the index goes through one Writer, under its write lock.

Files and folders (the command line), uploads in the background (`jobs`), deletion, dense
vectors for the loaded model, and the repair of what an interrupted writer left half done.
Readers keep the catalog they have until the writer reloads it after a change.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from fouassist.config import Settings
from fouassist.index.catalog import CatalogWatch
from fouassist.index.embedding import Embedder
from fouassist.index.store import DocumentRecord, IndexStore, NotFound
from fouassist.ingest.documents import Document, ManifestEntry, content_id, load_manifest
from fouassist.ingest.indexer import DocumentProgress, Ingestor, IngestReport, PreparedDocument, pipeline_version
from fouassist.ingest.jobs import STOPPED, Job, JobQueue
from fouassist.ingest.read_limits import DocumentError, ReadLimits
from fouassist.ingest.sandbox import ParseBudget, read_bounded
from fouassist.ingest.write_lock import Busy, WriteLock
from fouassist.language.analysis import Analyzer
from fouassist.progress import progress_bar

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")


class Stopped(Exception):
    """The writer is closing: the change under way stops between two batches (what it leaves
    half done is repaired on the next start, as after a crash)."""


class Writer:
    """Owns the write lock, the ingestor and the upload jobs. `embedder` gives the loaded model
    (it waits while the model loads), `embedder_ready` whether it has loaded."""

    def __init__(self, settings: Settings, analyzer: Analyzer, store: IndexStore, watch: CatalogWatch,
                 embedder: Callable[[], Embedder | None], embedder_ready: Callable[[], bool]) -> None:
        self.settings = settings
        self.store = store
        self.watch = watch
        self._embedder = embedder
        self._embedder_ready = embedder_ready
        self.ingestor = Ingestor(analyzer, None, store, settings.chunking,
                                 batch_pause_s=settings.test_batch_pause_s)
        self.read_limits = ReadLimits.of(settings)
        self.parse_budget = ParseBudget.of(settings)
        self.jobs = JobQueue(explain=_job_failure, max_queued_bytes=settings.max_queued_upload_mb * 1024 * 1024)
        self.lock = WriteLock(settings.data_dir / "write.lock", settings.write_wait_s)
        self._stopping = threading.Event()
        self._dense_update: threading.Thread | None = None

    def repair(self) -> None:
        """Remove what an interrupted writer left half done (unless another process writes now)."""
        try:
            with self.lock:
                if self.store.repair({r.id: r.chunk_count for r in self.watch.current().records.values()}):
                    self.watch.reload()
        except Busy:  # another process is writing; what it leaves half done is its own to finish
            log.info("Another process is writing to the index; not checking it for unfinished documents now")

    # -- files and folders ------------------------------------------------------------------------
    def ingest_paths(self, paths: Iterable[Path], reset: bool = False, prune: bool = False,
                     progress: bool = False) -> IngestReport:
        """Ingest files and folders; a bad file is reported and skipped, the rest goes on."""
        started = time.perf_counter()
        files, failed = _expand(paths)
        report = IngestReport(failed=failed)
        manifest = load_manifest(self.settings.manifest)
        with self.lock:
            if reset:
                self.store.reset()
            self.watch.reload()
            report.embedded = self._prepare_dense(progress)
            records = dict(self.watch.catalog.records)  # this run's view; readers keep theirs until the reload
            report.dense = self.ingestor.embedder is not None
            sources = self._ingest_files(files, manifest, report, records, progress)
            if prune:
                for record in list(records.values()):
                    if record.source not in sources:
                        self._remove(record.id)
            if prune or reset:
                self.store.bump()
            if report.chunks >= 1000:
                self.store.optimize()
            self.watch.reload()
        report.seconds = time.perf_counter() - started
        return report

    def _ingest_files(self, files: list[Path], manifest: dict[str, ManifestEntry], report: IngestReport,
                      records: dict[str, DocumentRecord], progress: bool) -> set[str]:
        """Under the write lock: each file that is new or changed; returns the sources seen. The next
        file is read, parsed and prepared in a thread while this one is embedded and written."""
        sources, chunks_before, started = set(), report.chunks, time.perf_counter()
        with progress_bar(progress, len(files), "Ingesting", "doc") as bar:
            for path, read in _one_ahead(files, lambda path: self._read_file(path, manifest, records)):
                if isinstance(read, DocumentError):
                    log.warning("Skipped %s", read)
                    report.failed.append((read.source, read.reason))
                elif isinstance(read, OSError):
                    report.failed.append((path.name, f"the file cannot be read ({read.strerror}); "
                                                     "check its permissions"))
                elif read is None:
                    report.unchanged.append(path.name)
                    sources.add(path.name)
                else:
                    sources.add(read.document.source)
                    self._ingest(read.document, report, records, prepared=read)
                    self.store.bump()  # readers (here and elsewhere) pick it up within the refresh interval
                chunks_per_s = (report.chunks - chunks_before) / max(time.perf_counter() - started, 1e-9)
                bar.set_postfix_str(f"{chunks_per_s:.1f} chunks/s, {path.name[-30:]}")
                bar.update(1)
        return sources

    def _read_file(self, path: Path, manifest: dict[str, ManifestEntry], records: dict[str, DocumentRecord]
                   ) -> PreparedDocument | DocumentError | OSError | None:
        """A file read and prepared for indexing; None when the index holds its content already."""
        try:
            data = path.read_bytes()
            if self._unchanged(content_id(data), records):
                return None
            return self.ingestor.prepare(self._read(path.name, data, manifest))
        except (DocumentError, OSError) as error:
            return error

    # -- uploads ------------------------------------------------------------------------------------
    def ingest_bytes(self, name: str, data: bytes, title: str | None = None,
                     progress: DocumentProgress | None = None) -> tuple[str, dict[str, Any]]:
        """Ingest one uploaded file; returns (outcome, public record). Raises DocumentError or Busy."""
        known = self._indexed(data)
        if known is not None:
            return "unchanged", known.public()
        document = self._read(name, data, load_manifest(self.settings.manifest), title)
        return self._ingest_one(document, progress)

    def ingest_text(self, title: str, text: str, metadata: dict[str, Any] | None = None,
                    progress: DocumentProgress | None = None) -> tuple[str, dict[str, Any]]:
        name = (metadata or {}).get("source") or f"{_slug(title)}.txt"
        data = text.encode("utf-8")
        known = self._indexed(data)
        if known is not None:
            return "unchanged", known.public()
        document = self._read(name if name.endswith(".txt") else f"{name}.txt", data, {}, title)
        for key in ("organisation", "date", "language"):
            if (metadata or {}).get(key):
                setattr(document, key, metadata[key])
        return self._ingest_one(document, progress)

    def submit_upload(self, name: str, data: bytes, title: str | None = None) -> Job:
        """Ingest an uploaded file in the background; the job tells how far it got. Raises QueueFull."""
        return self.jobs.submit(name, lambda job: self.ingest_bytes(name, data, title, job.progress), len(data))

    def submit_text(self, title: str, text: str, metadata: dict[str, Any] | None = None) -> Job:
        name = (metadata or {}).get("source") or title
        return self.jobs.submit(name, lambda job: self.ingest_text(title, text, metadata, job.progress),
                                len(text.encode("utf-8")))

    def _read(self, name: str, data: bytes, manifest: dict[str, ManifestEntry], title: str | None = None) -> Document:
        """One file's document, read within the limits and the time and memory budget."""
        return read_bounded(name, data, self.parse_budget, manifest, title, self.read_limits)

    def _indexed(self, data: bytes) -> DocumentRecord | None:
        """The record of this very content when the index holds it as this version makes it: an
        identical upload is found unchanged without being read again."""
        records = self.watch.reload().records
        document_id = content_id(data)
        return records[document_id] if self._unchanged(document_id, records) else None

    def _ingest_one(self, document: Document, progress: DocumentProgress | None = None
                    ) -> tuple[str, dict[str, Any]]:
        report = IngestReport()
        with self.lock:
            self.watch.reload()
            self._prepare_dense(progress=False)
            records = dict(self.watch.catalog.records)
            self._ingest(document, report, records, progress)
            if report.added or report.replaced:
                self.store.bump()
            records = self.watch.reload().records
        outcome = "added" if report.added else "replaced" if report.replaced else "unchanged"
        record = records.get(document.id) or next(r for r in records.values() if r.source == document.source)
        return outcome, record.public()

    # -- one document -------------------------------------------------------------------------------
    def _unchanged(self, document_id: str, records: dict[str, DocumentRecord]) -> bool:
        """Whether the index already holds this content, made the way this version makes it."""
        existing = records.get(document_id)
        embedder = self.embedder()
        return existing is not None and existing.pipeline == pipeline_version(self.ingestor.settings) and (
            embedder is None or existing.dense_model == embedder.identity)

    def _ingest(self, document: Document, report: IngestReport, records: dict[str, DocumentRecord],
                progress: DocumentProgress | None = None, prepared: PreparedDocument | None = None) -> None:
        if self._unchanged(document.id, records):
            report.unchanged.append(document.source)
            return
        existing = records.get(document.id)
        older = [r.id for r in records.values() if r.source == document.source and r.id != document.id]
        if existing:
            self.store.delete_chunks(document.id)  # re-processing: the chunking may differ

        def batch_done(done: int, total: int) -> None:
            self._go_on()
            if progress:
                progress(done, total)

        record = self.ingestor.write(prepared or self.ingestor.prepare(document), batch_done)
        for old in older:
            self._remove(old)
            records.pop(old, None)
        records[document.id] = record
        (report.replaced if older or existing else report.added).append(document.source)
        report.chunks += record.chunk_count
        report.documents.append(record.public())

    def delete(self, document_id: str) -> None:
        with self.lock:
            if document_id not in self.watch.reload().records:
                raise NotFound(document_id)
            self._remove(document_id)
            self.store.bump()
            self.watch.reload()

    def _remove(self, document_id: str) -> None:
        self.store.set_chunk_status(document_id, "deleting")  # no search sees it from here on
        self.store.set_record(document_id, status="deleting")
        self.store.delete_chunks(document_id)
        self.store.delete_record(document_id)

    # -- dense vectors ------------------------------------------------------------------------------
    def _prepare_dense(self, progress: bool) -> int:
        """Under the write lock: make the index's dense vectors those of the loaded model, from the
        chunks' stored text. Returns how many chunks were embedded."""
        self.ingestor.embedder = embedder = self.embedder()
        if embedder is None:
            return 0
        records = list(self.watch.current().records.values())
        if self.store.meta().dense_model == embedder.identity and all(r.dense_model == embedder.identity
                                                                      for r in records):
            return 0
        pending = sum(r.chunk_count for r in records)
        with progress_bar(progress, pending, "Adding dense vectors", "chunk") as bar:
            def embedded(count: int) -> None:
                self._go_on()
                bar.update(count)

            done = self.ingestor.add_dense_vectors(records, progress=embedded)
        if done:
            log.info("Added dense vectors from %s to %d chunks", embedder.identity, done)
        self.store.bump()
        self.watch.reload()
        return done

    def ensure_default_corpus(self, progress: bool = False) -> IngestReport | None:
        """First start: ingest the default corpus into the empty index. Later starts: give the
        chunks vectors from the loaded model where they lack them (no file is read again)."""
        if not self.watch.reload().records:
            report = self.ingest_paths([self.settings.corpus_dir], progress=progress)
            log.info("Default corpus: %s", report.summary())
            return report
        with self.lock:
            self._prepare_dense(progress)
        return None

    def update_dense_in_background(self) -> None:
        """`ensure_default_corpus` in a thread of its own (fouassist-dense-update), so that the API
        serves while the chunks get vectors from a new model."""
        self._dense_update = threading.Thread(target=self._update_dense, name="fouassist-dense-update", daemon=True)
        self._dense_update.start()

    def _update_dense(self) -> None:
        try:
            self.ensure_default_corpus()
        except Busy as error:
            log.warning("Dense vectors not updated now: %s", error)
        except Stopped:
            log.info("Dense vectors not all updated: the service stopped; the next start goes on")

    def embedder(self) -> Embedder | None:
        """The loaded model; while it loads, a close stops the wait."""
        while not self._embedder_ready():
            self._go_on()
            self._stopping.wait(0.05)
        return self._embedder()

    # -- closing ------------------------------------------------------------------------------------
    def _go_on(self) -> None:
        if self._stopping.is_set():
            raise Stopped("the service is stopping")

    def close(self, wait_s: float) -> bool:
        """Stop the upload jobs and the dense update: the change under way stops at its next batch,
        queued uploads fail (code "stopped"). Waits at most `wait_s`; whether everything ended."""
        deadline = time.monotonic() + wait_s
        self._stopping.set()
        ended = self.jobs.close(wait_s)
        if self._dense_update is not None:
            self._dense_update.join(max(0.0, deadline - time.monotonic()))
            ended = ended and not self._dense_update.is_alive()
        return ended


def _one_ahead(items: list[T], work: Callable[[T], R]) -> Iterator[tuple[T, R]]:
    """(item, work(item)) in order, `work` running in a thread one item ahead of the caller."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fouassist-read") as pool:
        ahead: deque = deque()
        for item in items:
            ahead.append((item, pool.submit(work, item)))
            if len(ahead) > 1:
                done, future = ahead.popleft()
                yield done, future.result()
        while ahead:
            done, future = ahead.popleft()
            yield done, future.result()


def _job_failure(error: BaseException) -> tuple[str, str] | None:
    """What a failed upload job reports: (code, message) for the failures a user can act on."""
    if isinstance(error, DocumentError):
        return error.code, str(error)
    if isinstance(error, Busy):
        return "busy", str(error)
    if isinstance(error, Stopped):
        return STOPPED
    return None


def _expand(paths: Iterable[Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    files: list[Path] = []
    failed: list[tuple[str, str]] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")))
        elif path.is_file():
            files.append(path)
        else:
            failed.append((str(path), "no such file or folder"))
    return list(dict.fromkeys(files)), failed


def _slug(title: str) -> str:
    return re.sub(r"[^\w-]+", "-", title.lower()).strip("-")[:60] or "document"
