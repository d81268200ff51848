"""The service: built once from settings, shared by the CLI, the HTTP API and the UI.

It owns the models, the index and the catalog of complete documents, and offers the few
operations everything else is made of: ingest, delete, list, retrieve, ask, health.
"""

from __future__ import annotations

import fcntl
import logging
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from fouassist import __version__
from fouassist.analysis import Analyzer, Vocabulary
from fouassist.answer import Answer, AnswerSettings, Composer, stream_pieces
from fouassist.config import Settings
from fouassist.documents import Document, DocumentError, load_manifest, read_document, read_file
from fouassist.embedding import Embedder, ModelStatus, load_embedder, load_reranker
from fouassist.feedback import FeedbackStore
from fouassist.generation import Generator, load_generator
from fouassist.ingestion import ChunkSettings, IngestReport, Ingestor
from fouassist.retrieval import Retrieval, Retriever, RetrievalSettings, load_glossary
from fouassist.store import IndexStore, SearchFilters, open_client

log = logging.getLogger(__name__)

# Record fields that are bookkeeping, not metadata to show.
_INTERNAL = ("term_df", "text", "pipeline", "status")


class NotFound(Exception):
    """No document with this id."""


def _public(record: dict[str, Any]) -> dict[str, Any]:
    """A document record without its bookkeeping fields."""
    return {k: v for k, v in record.items() if k not in _INTERNAL}


class Busy(Exception):
    """Another process is writing to the index."""


class _WriteLock:
    """One writer at a time: a thread lock within the process and, across processes that share
    the data directory (several CLIs against one Qdrant server), a lock file beside it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.thread_lock = threading.Lock()

    def locked(self) -> bool:
        return self.thread_lock.locked()

    def __enter__(self) -> None:
        self.thread_lock.acquire()
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
    embedder, status = load_embedder(
        settings.embedding_model,
        query_prefix=settings.embedding_query_prefix,
        passage_prefix=settings.embedding_passage_prefix,
        batch_size=settings.embedding_batch_size,
        device=settings.embedding_device,
        hub_timeout_s=settings.hub_timeout_s,
    )
    reranker, _ = load_reranker(settings.reranker_model, device=settings.embedding_device,
                                hub_timeout_s=settings.hub_timeout_s)
    return Models(embedder, status, reranker)


class Service:
    def __init__(self, settings: Settings, models: Models | None = None) -> None:
        self.settings = settings
        self.analyzer = Analyzer()
        # The lemma and word-frequency tables take a second or two to load; they load while the
        # index opens, and the first question waits for them.
        self._language_ready = False
        self._language_data = threading.Thread(target=self._load_language_data, name="language-data", daemon=True)
        self._language_data.start()
        self.models = models or load_models(settings)
        self.embedder = self.models.embedder
        self.store = IndexStore(
            open_client(settings.qdrant_url, settings.qdrant_path,
                        settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None),
            settings.collection,
            embedded=not settings.qdrant_url,
            shards=settings.qdrant_shards,
            replicas=settings.qdrant_replicas,
            in_memory_search=settings.in_memory_search,
            snapshot=settings.data_dir / "memory-index.npz",
        )
        self.store.ensure(self.embedder.name if self.embedder else None,
                          self.embedder.dimension if self.embedder else None)
        self.ingestor = Ingestor(self.analyzer, self.embedder, self.store, ChunkSettings(
            settings.chunk_target_chars, settings.chunk_max_chars, settings.chunk_min_chars,
            settings.bm25_k1, settings.bm25_b, settings.bm25_avg_terms,
        ))
        self.vocabulary = Vocabulary()
        self.retriever = Retriever(
            self.analyzer, self.store, None, self.vocabulary, {},
            RetrievalSettings(settings.candidates, settings.diversity_decay, settings.rank_weight),
            reranker=self.models.reranker,
        )
        self.composer = Composer(self.retriever, AnswerSettings(
            settings.abstain_min_coverage, settings.quote_min_coverage, settings.max_quotes,
            settings.max_documents_in_answer,
        ))
        self.generator: Generator | None = load_generator(settings, self.retriever, self.composer)
        self.feedback = FeedbackStore(settings.feedback_path)
        self._write_lock = _WriteLock(settings.data_dir / "write.lock")
        self.catalog: dict[str, dict[str, Any]] = {}
        try:
            with self._write_lock:
                removed = self.ingestor.repair()
                if removed:
                    log.warning("Repaired the index: removed %d unfinished document(s)", len(removed))
                self._reload()
        except Busy:  # another process is writing; what it leaves half done is its own to finish
            log.info("Another process is writing to the index; not checking it for unfinished documents now")
            self._reload()

    # -- state ----------------------------------------------------------------------------------
    def _load_language_data(self) -> None:
        try:
            self._glossary = load_glossary(self.analyzer)  # lemmatizes its entries: loads simplemma, wordfreq
            self.analyzer.detect_language("Vad säger strategin? Hva sier planen?")
        except Exception:
            log.exception("The sv/nb glossary could not be loaded; questions are not widened across languages")
            self._glossary = {}

    def _ready(self) -> None:
        if not self._language_ready:
            self._language_data.join()
            self.retriever.glossary = self._glossary
            self._language_ready = True

    def _reload(self) -> None:
        """Re-read the catalog of complete documents and what follows from it."""
        records = [r for r in self.store.all_records() if r.get("status") == "complete"]
        vocabulary = Vocabulary()
        for record in records:
            vocabulary.add(record["language"], record.get("chunk_count", 0), record.get("term_df", {}))
        self.vocabulary = self.retriever.vocabulary = vocabulary
        self.catalog = {r["id"]: r for r in records}
        self.retriever.set_documents(records)
        model, _ = self.store.dense_config()
        dense_ready = self.embedder is not None and model == self.embedder.name
        self.retriever.embedder = self.embedder if dense_ready else None

    def dense_status(self) -> ModelStatus:
        status = self.models.embedder_status
        if status.enabled and self.retriever.embedder is None:
            return ModelStatus(False, status.model, "the index has no dense vectors from this model yet; "
                               "run `fouassist ingest` to add them", status.dimension, code="index")
        return status

    def health(self, check_model: bool = True) -> dict[str, Any]:
        dense = self.dense_status()
        return {
            "status": "ok",
            "documents": len(self.catalog),
            "chunks": sum(r.get("chunk_count", 0) for r in self.catalog.values()),
            "dense": {"enabled": dense.enabled, "model": dense.model, "reason": dense.reason, "code": dense.code},
            "llm": self.llm_status(check_model),
            "version": __version__,
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
        records = sorted(self.catalog.values(), key=lambda r: r["source"])
        return [_public(r) for r in records]

    def document(self, document_id: str) -> dict[str, Any]:
        if document_id not in self.catalog:
            raise NotFound(document_id)
        record = self.store.record(document_id) or {}
        return {k: v for k, v in record.items() if k not in ("term_df", "pipeline", "status")}

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
            if document_id not in self.catalog:
                raise NotFound(document_id)
            self._remove(document_id)
            self._reload()

    def _remove(self, document_id: str) -> None:
        self.store.update_record(document_id, status="deleting")
        self.catalog.pop(document_id, None)  # stop citing it before its chunks go
        self.store.delete_chunks(document_id)
        self.store.delete_record(document_id)

    # -- ingestion -------------------------------------------------------------------------------
    def _manifest(self) -> dict:
        return load_manifest(self.settings.manifest)

    def ingest_paths(self, paths: Iterable[Path], reset: bool = False, prune: bool = False,
                     progress: bool = False) -> IngestReport:
        """Ingest files and folders; a bad file is reported and skipped, the rest goes on."""
        started = time.perf_counter()
        report = IngestReport(dense=self.embedder is not None)
        files = _expand(paths, report)
        manifest = self._manifest()
        with self._write_lock:
            if reset:
                self.store.reset(self.embedder.name if self.embedder else None,
                                 self.embedder.dimension if self.embedder else None)
                self._reload()
            self._add_dense_vectors(progress)
            sources = set()
            bar = tqdm(total=len(files), unit="doc", desc="Ingesting", disable=not progress)
            with bar:
                for path in files:
                    bar.set_postfix_str(path.name[-30:])
                    try:
                        document = read_file(path, self.analyzer, manifest)
                    except DocumentError as error:
                        log.warning("Skipped %s", error)
                        report.failed.append((error.source, error.reason))
                    else:
                        sources.add(document.source)
                        self._ingest(document, report)
                    bar.update(1)
            if prune:
                for record in list(self.catalog.values()):
                    if record["source"] not in sources:
                        self._remove(record["id"])
            self._reload()
            if report.added or report.replaced or prune:
                self.store.save_memory()
        report.seconds = time.perf_counter() - started
        return report

    def ingest_bytes(self, name: str, data: bytes, title: str | None = None) -> tuple[str, dict[str, Any]]:
        """Ingest one uploaded file; returns (outcome, record). Raises DocumentError."""
        document = read_document(name, data, self.analyzer, self._manifest(), title=title)
        return self._ingest_one(document)

    def ingest_text(self, title: str, text: str, metadata: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        name = (metadata or {}).get("source") or f"{_slug(title)}.txt"
        document = read_document(name if name.endswith(".txt") else f"{name}.txt", text.encode("utf-8"),
                                 self.analyzer, {}, title=title)
        for key in ("organisation", "date", "language"):
            if (metadata or {}).get(key):
                setattr(document, key, metadata[key])
        return self._ingest_one(document)

    def _ingest_one(self, document: Document) -> tuple[str, dict[str, Any]]:
        report = IngestReport()
        with self._write_lock:
            self._ingest(document, report)
            self._reload()
        outcome = "added" if report.added else "replaced" if report.replaced else "unchanged"
        record = self.catalog.get(document.id) or next(
            (r for r in self.catalog.values() if r["source"] == document.source), {})
        return outcome, _public(record)

    def _ingest(self, document: Document, report: IngestReport) -> None:
        version = self.ingestor.settings.version()
        existing = self.catalog.get(document.id)
        dense_name = self.embedder.name if self.embedder else None
        if existing and existing.get("pipeline") == version and (dense_name is None or existing.get("dense_model") == dense_name):
            report.unchanged.append(document.source)
            return
        older = [r["id"] for r in self.catalog.values() if r["source"] == document.source and r["id"] != document.id]
        if existing:
            self.store.delete_chunks(document.id)  # re-processing: the chunking may differ
        record = self.ingestor.write(document)
        for old in older:
            self._remove(old)
        self.catalog[document.id] = record
        (report.replaced if older or existing else report.added).append(document.source)
        report.chunks += record["chunk_count"]
        report.documents.append(_public(record))

    def _add_dense_vectors(self, progress: bool) -> None:
        if self.embedder is None:
            return
        pending = sum(r.get("chunk_count", 0) for r in self.catalog.values())
        model, dimension = self.store.dense_config()
        stale = any(r.get("dense_model") != self.embedder.name for r in self.catalog.values())
        if model == self.embedder.name and dimension == self.embedder.dimension and not stale:
            return
        bar = tqdm(total=pending, unit="chunk", desc="Adding dense vectors", disable=not progress or not pending)
        with bar if progress else nullcontext():
            done = self.ingestor.add_dense_vectors(progress=bar.update)
        log.info("Added dense vectors from %s to %d chunks", self.embedder.name, done)
        self._reload()

    def ensure_default_corpus(self, progress: bool = False) -> IngestReport | None:
        """Ingest the default corpus into an empty index (what `serve` does on first start)."""
        if self.catalog and (self.embedder is None or self.retriever.embedder is not None):
            return None
        report = self.ingest_paths([self.settings.corpus_dir], progress=progress)
        log.info("Default corpus: %s", report.summary())
        return report

    # -- questions --------------------------------------------------------------------------------
    def retrieve(self, query: str, top_k: int | None = None, filters: SearchFilters | None = None,
                 language: str | None = None, search: str = "hybrid") -> Retrieval:
        """The best passages; `search` is hybrid, lexical or dense (the eval's configurations)."""
        self._ready()
        return self.retriever.search(query, top_k or self.settings.top_k, filters, self._visible(), language, search)

    def ask(self, question: str, top_k: int | None = None, filters: SearchFilters | None = None,
            history: list[dict[str, str]] | None = None, mode: str = "extractive", search: str = "hybrid") -> Answer:
        """The complete answer (what ask_stream gives last)."""
        *_, answer = self.ask_stream(question, top_k, filters, history, mode, search)
        return answer

    def ask_stream(self, question: str, top_k: int | None = None, filters: SearchFilters | None = None,
                   history: list[dict[str, str]] | None = None, mode: str = "extractive",
                   search: str = "hybrid") -> Iterator[str | Answer]:
        """The answer as pieces of text as they become ready, then the complete Answer (with its
        citations) last. `mode` is extractive (quotes) or generative (a language model writes,
        its citations verified; extractive when no model is configured, with the reason)."""
        self._ready()
        history = history or []
        earlier = [m["content"] for m in history if m.get("role") == "user"]
        fallback = self.analyzer.detect_language(earlier[-1]) if earlier else "sv"
        language = self.analyzer.detect_language(question, default=fallback)
        generator = self.generator if mode == "generative" else None
        query = (generator.rewrite(question, history, language) if generator and earlier else None) \
            or self.retriever.resolve_follow_up(question, history)
        retrieval = self.retriever.search(query, top_k or self.settings.top_k, filters, self._visible(), language,
                                          search)

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

    def _visible(self) -> list[str] | None:
        """Only complete documents are searched; None when the index holds nothing else."""
        return list(self.catalog) if self._write_lock.locked() else None

    def close(self) -> None:
        self.store.save_memory()
        self.store.close()


def _expand(paths: Iterable[Path], report: IngestReport) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")))
        elif path.is_file():
            files.append(path)
        else:
            report.failed.append((str(path), "no such file or folder"))
    return list(dict.fromkeys(files))


def _slug(title: str) -> str:
    import re

    return re.sub(r"[^\w-]+", "-", title.lower()).strip("-")[:60] or "document"
