"""The service: built once from settings, shared by the CLI, the HTTP API and the UI.

It owns the models, the index and the catalog of complete documents, and offers the few
operations everything else is made of: ingest, delete, list, retrieve, ask, health.
"""

from __future__ import annotations

import fcntl
import logging
import re
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fouassist import __version__
from fouassist.ask.answer import Answer, AnswerSettings, Composer, stream_pieces
from fouassist.ask.answerability import AnswerabilityModel, Signals
from fouassist.ask.generation import Generator, load_generator
from fouassist.ask.retrieval import Retrieval, RetrievalSettings, Retriever, load_glossary
from fouassist.bounds import MAX_QUESTION_CHARS
from fouassist.config import Settings
from fouassist.feedback import FeedbackStore
from fouassist.index.backends import SearchBackend, open_backend
from fouassist.index.catalog import Background, CatalogWatch
from fouassist.index.embedding import Embedder, ModelStatus, load_embedder, load_reranker
from fouassist.index.store import DocumentRecord, IndexLayoutError, IndexStore, SearchFilters, legacy_index
from fouassist.ingest.documents import Document, ManifestEntry, content_id, load_manifest
from fouassist.ingest.indexer import ChunkSettings, Ingestor, IngestReport
from fouassist.ingest.jobs import Job, JobQueue
from fouassist.ingest.read_limits import DocumentError, ReadLimits
from fouassist.ingest.sandbox import ParseBudget, read_bounded
from fouassist.language.analysis import Analyzer
from fouassist.progress import progress_bar

log = logging.getLogger(__name__)


class NotFound(Exception):
    """No document with this id."""


class Busy(Exception):
    """Another writer holds the index."""


class QuestionTooLong(ValueError):
    """A question or an earlier question of its conversation is over the question limit."""


def bounded_conversation(question: str, history: list[dict[str, str]], max_messages: int
                         ) -> tuple[str, list[dict[str, str]]]:
    """The question and at most `max_messages` earlier messages, each within the question limit as
    the tokenizer will see it (after NFKC, which expands some characters 18-fold). Every door
    (API, chat completions, web interface) reaches the analyser through here."""
    kept = [m for m in history if m.get("role") in ("user", "assistant")][-max_messages:] if max_messages else []
    for name, text in [("question", question), *(("earlier question", m.get("content", "")) for m in kept
                                                  if m.get("role") == "user")]:
        length = len(unicodedata.normalize("NFKC", text))
        if length > MAX_QUESTION_CHARS:
            raise QuestionTooLong(f"the {name} has {length} characters once normalised (NFKC); "
                                  f"the limit is {MAX_QUESTION_CHARS}: shorten it")
    return question, kept


class _WriteLock:
    """One writer at a time: a thread lock within the process and, across processes that share
    the data directory, a lock file beside the index. A writer waits at most `wait_s`."""

    def __init__(self, path: Path, wait_s: float) -> None:
        self.path = path
        self.wait_s = wait_s
        self.thread_lock = threading.Lock()

    def locked(self) -> bool:
        return self.thread_lock.locked()

    def __enter__(self) -> None:
        if not self.thread_lock.acquire(timeout=self.wait_s):
            raise Busy(f"another change to the index is under way and did not finish within {self.wait_s:g} s; "
                       "try again shortly")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = self.path.open("a+")
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.file.close()
            self.thread_lock.release()
            raise Busy(f"another process is changing the index (lock file {self.path}); "
                       "wait for it to finish and try again") from None

    def __exit__(self, *exc) -> None:
        fcntl.flock(self.file, fcntl.LOCK_UN)
        self.file.close()
        self.thread_lock.release()


@dataclass
class Models:
    """What model loading produced; tests pass their own to skip loading."""

    embedder: Embedder | None
    embedder_status: ModelStatus
    reranker: Any = None


def load_models(settings: Settings) -> Models:
    embedder, status = load_embedder(settings)
    reranker, _ = load_reranker(settings.reranker_model, device=settings.embedding_device,
                                hub_timeout_s=settings.hub_timeout_s, cache_dir=settings.model_cache_dir)
    return Models(embedder, status, reranker)


class Service:
    """Built from settings; tests may pass the models and the backend (several services over
    one Qdrant client behave like processes sharing a server)."""

    def __init__(self, settings: Settings, models: Models | None = None, backend: SearchBackend | None = None) -> None:
        self.settings = settings
        self.analyzer = Analyzer()
        # The lemma tables and the models take seconds to load: they load while the index opens,
        # and the first question (or write) waits for them.
        self.glossary = Background("language-data", lambda: _load_language_data(self.analyzer))
        self.models: Background[Models] = Background(
            "models", lambda: _after_hold(settings.test_hold_models_file) or models or load_models(settings))
        legacy = legacy_index(settings.data_dir)
        if legacy is not None and not settings.qdrant_url and backend is None:
            raise IndexLayoutError(
                f"{legacy} holds an index made by an older fouassist (qdrant-client's local mode), which this "
                "version does not read; run `fouassist ingest --reset` to rebuild the index from the documents "
                "(upload again any document that was uploaded rather than ingested from a folder)")
        self.store = IndexStore(backend or open_backend(
            settings.qdrant_url, settings.index_path, settings.collection,
            settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None,
            settings.qdrant_shards, settings.qdrant_replicas))
        self.ingestor = Ingestor(self.analyzer, None, self.store, ChunkSettings(
            settings.chunk_target_chars, settings.chunk_max_chars, settings.chunk_min_chars,
            settings.bm25_k1, settings.bm25_b, settings.bm25_avg_terms), batch_pause_s=settings.test_batch_pause_s)
        self.watch = CatalogWatch(self.store, self.analyzer, settings.catalog_refresh_s)
        self.retriever = Retriever(
            self.analyzer, self.store, self.watch.current, self.glossary.get, self.embedder,
            RetrievalSettings.of(settings),
            reranker=_LazyReranker(self.models))
        self.composer = Composer(self.retriever, AnswerSettings(
            settings.answerable_threshold, settings.quote_min_score, settings.max_quotes, settings.max_quotes_per_document,
            settings.max_documents_in_answer, settings.document_share, settings.dense_sentence_weight,
            settings.second_quote_share),
            AnswerabilityModel.load(settings.answerability_model))
        self.generator: Generator | None = load_generator(settings, self.retriever, self.composer)
        self.feedback = FeedbackStore(settings.feedback_path)
        self.read_limits = ReadLimits(
            settings.max_document_chars, settings.max_expanded_mb, settings.max_pages, settings.max_page_chars,
            settings.max_html_nodes, settings.max_html_depth, settings.max_docx_paragraphs,
            settings.max_docx_elements, settings.max_chars_per_byte, settings.max_unpacked_ratio)
        self.parse_budget = ParseBudget(settings.parse_base_s, settings.parse_s_per_mb, settings.parse_wall_factor,
                                        settings.parse_memory_mb)
        self.jobs = JobQueue(explain=_job_failure, max_queued_bytes=settings.max_queued_upload_mb * 1024 * 1024)
        self._write_lock = _WriteLock(settings.data_dir / "write.lock", settings.write_wait_s)
        try:
            with self._write_lock:
                if self.store.repair({r.id: r.chunk_count for r in self.watch.current().records.values()}):
                    self.watch.reload()
        except Busy:  # another process is writing; what it leaves half done is its own to finish
            log.info("Another process is writing to the index; not checking it for unfinished documents now")

    # -- state ----------------------------------------------------------------------------------
    def embedder(self) -> Embedder | None:
        return self.models.get().embedder

    @property
    def catalog(self):
        return self.watch.current()

    def dense_status(self) -> dict[str, Any]:
        """Whether dense search is on, and if not why; `state` is loading while the model loads."""
        if not self.models.ready:
            return {"enabled": False, "state": "loading", "model": self.settings.embedding_model or None,
                    "reason": "the embedding model is loading; questions wait for it", "code": "loading"}
        status = self.models.get().embedder_status
        embedder = self.embedder()
        found = {"enabled": status.enabled, "state": "ready" if status.enabled else "off", "model": status.model,
                 "reason": status.reason, "code": status.code, "source": status.source, "checksum": status.checksum}
        if embedder is None:
            return found
        catalog = self.catalog
        if catalog.records and catalog.dense_model != embedder.identity:
            made_by = catalog.dense_model or "no model"
            return {**found, "enabled": False, "state": "off", "code": "index",
                    "reason": f"the index's dense vectors were made by {made_by}, not by {embedder.identity}; "
                              "run `fouassist ingest` to embed the documents again (the files are not re-read)"}
        missing = sum(1 for r in catalog.records.values() if r.dense_model != embedder.identity)
        if missing:
            found["reason"] = (f"{missing} document(s) have no dense vectors yet (ingested while the model was "
                               "off); run `fouassist ingest` to add them")
        return found

    def health(self, check_model: bool = True) -> dict[str, Any]:
        catalog = self.catalog
        return {
            "status": "ok",
            "documents": len(catalog.records),
            "chunks": catalog.chunks,
            "dense": self.dense_status(),
            "llm": self.llm_status(check_model),
            "version": __version__,
            "catalog_version": catalog.version,
        }

    def llm_status(self, check: bool = True) -> dict[str, Any]:
        """Whether generative answers are configured and the model server answers (checked at
        most every 30 s)."""
        if self.generator is None:
            return {"configured": False, "model": None, "reachable": None,
                    "reason": "no language model is configured (FOUASSIST_LLM_BASE_URL); answers are extractive"}
        reachable, reason = self.generator.model.reachable() if check else (None, None)
        return {"configured": True, "model": self.generator.model.model, "reachable": reachable, "reason": reason}

    # -- documents ------------------------------------------------------------------------------
    def documents(self) -> list[dict[str, Any]]:
        return [r.public() for r in self.catalog.sorted()]

    def document(self, document_id: str) -> dict[str, Any]:
        """A complete document's metadata and its cleaned text."""
        record = self.store.record(document_id) if document_id in self.catalog.records else None
        if record is None or record.status != "complete":
            raise NotFound(document_id)
        return {**record.public(), "text": record.text}

    def context(self, document_id: str, start: int, end: int, paragraphs: int = 2) -> dict[str, Any]:
        """The paragraphs around a span of a document, so a reader can check a quote in context."""
        document = self.document(document_id)
        text = document["text"]
        if not 0 <= start <= end <= len(text):
            raise ValueError(f"the span {start}-{end} is outside the document (0-{len(text)})")
        bounds, position = [], 0
        for block in text.split("\n\n"):
            bounds.append((position, position + len(block)))
            position += len(block) + 2
        first = next(i for i, (s, e) in enumerate(bounds) if start <= e)
        last = next((i for i, (s, e) in enumerate(bounds) if end <= e), len(bounds) - 1)
        excerpt_start = bounds[max(0, first - paragraphs)][0]
        excerpt_end = bounds[min(len(bounds) - 1, last + paragraphs)][1]
        return {
            "document_id": document_id, "title": document["title"], "organisation": document.get("organisation"),
            "start": excerpt_start, "end": excerpt_end, "text": text[excerpt_start:excerpt_end],
            "quote_start": start - excerpt_start, "quote_end": end - excerpt_start,
        }

    def delete(self, document_id: str) -> None:
        with self._write_lock:
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

    # -- ingestion -------------------------------------------------------------------------------
    def ingest_paths(self, paths: Iterable[Path], reset: bool = False, prune: bool = False,
                     progress: bool = False) -> IngestReport:
        """Ingest files and folders; a bad file is reported and skipped, the rest goes on."""
        started = time.perf_counter()
        files, failed = _expand(paths)
        report = IngestReport(failed=failed)
        manifest = load_manifest(self.settings.manifest)
        with self._write_lock:
            if reset:
                self.store.reset()
            self.watch.reload()
            report.embedded = self._prepare_dense(progress)
            records = dict(self.watch.catalog.records)  # this run's view; readers keep theirs until the reload
            report.dense = self.ingestor.embedder is not None
            sources = set()
            with progress_bar(progress, len(files), "Ingesting", "doc") as bar:
                for path in files:
                    bar.set_postfix_str(path.name[-30:])
                    try:
                        data = path.read_bytes()
                        if self._unchanged(content_id(data), records):
                            report.unchanged.append(path.name)
                            sources.add(path.name)
                        else:
                            document = self._read(path.name, data, manifest)
                            sources.add(document.source)
                            self._ingest(document, report, records)
                            self.store.bump()  # readers (here and elsewhere) pick it up within the refresh interval
                    except DocumentError as error:
                        log.warning("Skipped %s", error)
                        report.failed.append((error.source, error.reason))
                    except OSError as error:
                        report.failed.append((path.name, f"the file cannot be read ({error.strerror}); "
                                                         "check its permissions"))
                    bar.update(1)
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

    def ingest_bytes(self, name: str, data: bytes, title: str | None = None,
                     progress: Callable[[int, int], None] | None = None) -> tuple[str, dict[str, Any]]:
        """Ingest one uploaded file; returns (outcome, public record). Raises DocumentError or Busy."""
        known = self._indexed(data)
        if known is not None:
            return "unchanged", known.public()
        document = self._read(name, data, load_manifest(self.settings.manifest), title)
        return self._ingest_one(document, progress)

    def ingest_text(self, title: str, text: str, metadata: dict[str, Any] | None = None,
                    progress: Callable[[int, int], None] | None = None) -> tuple[str, dict[str, Any]]:
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

    def _ingest_one(self, document: Document, progress: Callable[[int, int], None] | None = None
                    ) -> tuple[str, dict[str, Any]]:
        report = IngestReport()
        with self._write_lock:
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

    def _unchanged(self, document_id: str, records: dict[str, DocumentRecord]) -> bool:
        """Whether the index already holds this content, made the way this version makes it."""
        existing = records.get(document_id)
        embedder = self.embedder()
        return existing is not None and existing.pipeline == self.ingestor.settings.version() and (
            embedder is None or existing.dense_model == embedder.identity)

    def _ingest(self, document: Document, report: IngestReport, records: dict[str, DocumentRecord],
                progress: Callable[[int, int], None] | None = None) -> None:
        if self._unchanged(document.id, records):
            report.unchanged.append(document.source)
            return
        existing = records.get(document.id)
        older = [r.id for r in records.values() if r.source == document.source and r.id != document.id]
        if existing:
            self.store.delete_chunks(document.id)  # re-processing: the chunking may differ
        record = self.ingestor.write(document, progress)
        for old in older:
            self._remove(old)
            records.pop(old, None)
        records[document.id] = record
        (report.replaced if older or existing else report.added).append(document.source)
        report.chunks += record.chunk_count
        report.documents.append(record.public())

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
            done = self.ingestor.add_dense_vectors(records, progress=bar.update)
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
        with self._write_lock:
            self._prepare_dense(progress)
        return None

    # -- questions --------------------------------------------------------------------------------
    def retrieve(self, query: str, top_k: int | None = None, filters: SearchFilters | None = None,
                 language: str | None = None, search: str = "hybrid") -> Retrieval:
        """The best passages; `search` is hybrid, lexical or dense (the eval's configurations)."""
        return self.retriever.search(query, top_k or self.settings.top_k, filters, language, search)

    def ask(self, question: str, top_k: int | None = None, filters: SearchFilters | None = None,
            history: list[dict[str, str]] | None = None, mode: str = "extractive", search: str = "hybrid") -> Answer:
        """The complete answer (what ask_stream gives last)."""
        *_, answer = self.ask_stream(question, top_k, filters, history, mode, search)
        return answer

    def signals(self, question: str, history: list[dict[str, str]] | None = None, search: str = "hybrid") -> Signals:
        """What the answerability model sees of a question (for training it)."""
        question, history = bounded_conversation(question, history or [], self.settings.max_history_messages)
        language = self.analyzer.detect_language(question)
        query = self.retriever.resolve_follow_up(question, history)
        retrieval = self.retriever.search(query, self.settings.top_k, None, language, search)
        signals, _, _ = self.composer.assess(question, retrieval)
        return signals

    def ask_stream(self, question: str, top_k: int | None = None, filters: SearchFilters | None = None,
                   history: list[dict[str, str]] | None = None, mode: str = "extractive",
                   search: str = "hybrid") -> Iterator[str | Answer]:
        """The answer as pieces of text as they become ready, then the complete Answer (with its
        citations) last. `mode` is extractive (quotes) or generative (a language model writes,
        its citations verified; extractive when no model is configured, with the reason).
        A question over the limit raises QuestionTooLong here, before anything streams."""
        question, history = bounded_conversation(question, history or [], self.settings.max_history_messages)
        return self._answer_events(question, top_k, filters, history, mode, search)

    def _answer_events(self, question: str, top_k: int | None, filters: SearchFilters | None,
                       history: list[dict[str, str]], mode: str, search: str) -> Iterator[str | Answer]:
        earlier = [m["content"] for m in history if m.get("role") == "user"]
        fallback = self.analyzer.detect_language(earlier[-1]) if earlier else "sv"
        language = self.analyzer.detect_language(question, default=fallback)
        generator = self.generator if mode == "generative" else None
        query = (generator.rewrite(question, history, language) if generator and earlier else None) \
            or self.retriever.resolve_follow_up(question, history)
        if len(query) > MAX_QUESTION_CHARS:  # a follow-up adds the subject's words: the result has the limit too
            query = query[:MAX_QUESTION_CHARS].rsplit(" ", 1)[0]
        retrieval = self.retriever.search(query, top_k or self.settings.top_k, filters, language, search)

        def extractive() -> Answer:
            answer = self.composer.compose(question, retrieval, language)
            answer.query = query
            return answer

        if generator is None:
            answer = extractive()
            if mode == "generative":
                answer.fallback_reason = ("no language model is configured (set FOUASSIST_LLM_BASE_URL and "
                                          "FOUASSIST_LLM_MODEL); this is the extractive answer")
            yield from stream_pieces(answer.answer)
            yield answer
            return
        for event in generator.stream(question, retrieval, language, extractive):
            if isinstance(event, Answer):
                event.query = query
            yield event

    def close(self) -> None:
        self.store.close()


class _LazyReranker:
    """The optional cross-encoder, which loads with the other models; None-like when absent."""

    def __init__(self, models: Background[Models]) -> None:
        self.models = models

    def __bool__(self) -> bool:
        return self.models.get().reranker is not None

    def predict(self, *args, **kwargs):
        return self.models.get().reranker.predict(*args, **kwargs)


def _after_hold(hold_file: Path | None) -> None:
    """Test only (Settings.test_hold_models_file): wait while the file exists."""
    while hold_file is not None and hold_file.exists():
        time.sleep(0.05)


def _job_failure(error: BaseException) -> tuple[str, str] | None:
    """What a failed upload job reports: (code, message) for the failures a user can act on."""
    if isinstance(error, DocumentError):
        return error.code, str(error)
    if isinstance(error, Busy):
        return "busy", str(error)
    return None


def _load_language_data(analyzer: Analyzer) -> dict[str, set[str]]:
    try:
        glossary = load_glossary(analyzer)  # lemmatizes its entries: loads simplemma, wordfreq
        analyzer.detect_language("Vad säger strategin? Hva sier planen?")
        return glossary
    except Exception:
        log.exception("The sv/nb glossary could not be loaded; questions are not widened across languages")
        return {}


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
