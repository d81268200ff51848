"""The service: built once from settings, shared by the CLI, the HTTP API and the UI.

A thin facade over the parts it builds (the models, the index and its catalog, the read path that
answers questions, the write path that changes the index) and closes again. Reads are answered
here from the parts; every change goes to the Writer (`fouassist.ingest.writer`).
"""

from __future__ import annotations

import logging
import time
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fouassist import __version__
from fouassist.ask.answer import Answer, Composer, stream_pieces
from fouassist.ask.answerability import AnswerabilityModel, Signals
from fouassist.ask.generation import Generator, load_generator
from fouassist.ask.question import Interpreter, Question, load_glossary
from fouassist.ask.retrieval import Retrieval, Retriever
from fouassist.bounds import MAX_QUESTION_CHARS
from fouassist.config import IndexSettings, Settings
from fouassist.feedback import FeedbackStore
from fouassist.index.backends import SearchBackend, open_backend
from fouassist.index.catalog import Background, CatalogWatch
from fouassist.index.embedding import Embedder, ModelStatus, load_embedder, load_reranker
from fouassist.index.store import IndexLayoutError, IndexStore, NotFound, SearchFilters, legacy_index
from fouassist.ingest.indexer import IngestReport
from fouassist.ingest.jobs import Job
from fouassist.ingest.write_lock import Busy
from fouassist.ingest.writer import Writer
from fouassist.language.analysis import Analyzer
from fouassist.language.sentences import split_sentences

__all__ = ["Busy", "Models", "NotFound", "QuestionTooLong", "Service", "bounded_conversation", "load_models"]

log = logging.getLogger(__name__)

CLOSE_WAIT_S = 30.0  # how long close() waits, in all, for the service's threads to end


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


@dataclass
class Models:
    """What model loading produced; tests pass their own to skip loading."""

    embedder: Embedder | None
    embedder_status: ModelStatus
    reranker: Any = None

    def close(self, wait_s: float) -> bool:
        """Stop the embedder's thread; whether it ended within `wait_s`."""
        return self.embedder.close(wait_s) if self.embedder is not None else True


def load_models(settings: Settings) -> Models:
    embedder, status = load_embedder(settings.embedding)
    reranker, _ = load_reranker(settings.embedding)
    return Models(embedder, status, reranker)


class Service:
    """Built from settings; tests may pass the models and the backend (several services over
    one Qdrant client behave like processes sharing a server). Models passed in are the caller's
    to close; those the service loads, it closes."""

    def __init__(self, settings: Settings, models: Models | None = None, backend: SearchBackend | None = None) -> None:
        self.settings = settings
        self.analyzer = Analyzer()
        # The lemma tables and the models take seconds to load: they load while the index opens,
        # and the first question (or write) waits for them.
        self.glossary = Background("language-data", lambda: _load_language_data(self.analyzer))
        self._owns_models = models is None
        self.models: Background[Models] = Background(
            "models", lambda: _after_hold(settings.test_hold_models_file) or models or load_models(settings))
        self.store = IndexStore(backend or _open_backend(settings.index))
        self.watch = CatalogWatch(self.store, self.analyzer, settings.index.catalog_refresh_s)
        self.interpreter = Interpreter(self.analyzer, self.watch.current, self.glossary.get)
        self.retriever = Retriever(self.store, self.embedder, settings.retrieval, reranker=_LazyReranker(self.models))
        self.composer = Composer(settings.answer, AnswerabilityModel.load(settings.answer.answerability_model))
        self.generator: Generator | None = load_generator(settings.generation, self.interpreter, self.composer)
        self.feedback = FeedbackStore(settings.feedback_path)
        self.writer = Writer(settings, self.analyzer, self.store, self.watch, self.embedder, lambda: self.models.ready)
        self.jobs = self.writer.jobs
        self._closed = False
        self.writer.repair()

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
                 "reason": status.reason, "code": status.code, "source": status.source, "checksum": status.checksum,
                 "load_s": round(self.models.seconds or 0.0, 2), "backend": status.backend, "warning": status.warning}
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

    # -- changes: the writer's ---------------------------------------------------------------------
    def ingest_paths(self, paths: Iterable[Path], reset: bool = False, prune: bool = False,
                     progress: bool = False) -> IngestReport:
        return self.writer.ingest_paths(paths, reset, prune, progress)

    def ensure_default_corpus(self, progress: bool = False) -> IngestReport | None:
        return self.writer.ensure_default_corpus(progress)

    def submit_upload(self, name: str, data: bytes, title: str | None = None) -> Job:
        return self.writer.submit_upload(name, data, title)

    def submit_text(self, title: str, text: str, metadata: dict[str, Any] | None = None) -> Job:
        return self.writer.submit_text(title, text, metadata)

    def delete(self, document_id: str) -> None:
        self.writer.delete(document_id)

    # -- questions --------------------------------------------------------------------------------
    def retrieve(self, query: str, top_k: int | None = None, filters: SearchFilters | None = None,
                 language: str | None = None, search: str = "hybrid") -> Retrieval:
        """The best passages; `search` is hybrid, lexical or dense (the eval's configurations)."""
        question = self.interpreter.understand(query, language=language)
        return self.retriever.search(question, top_k or self.settings.top_k, filters, search, with_sentences=False)

    def ask(self, question: str, top_k: int | None = None, filters: SearchFilters | None = None,
            history: list[dict[str, str]] | None = None, mode: str = "extractive", search: str = "hybrid") -> Answer:
        """The complete answer (what ask_stream gives last)."""
        *_, answer = self.ask_stream(question, top_k, filters, history, mode, search)
        return answer

    def signals(self, question: str, history: list[dict[str, str]] | None = None, search: str = "hybrid") -> Signals:
        """What the answerability model sees of a question (for training it)."""
        understood = self.understand(question, history or [], "extractive")
        signals, _ = self.composer.assess(self.retriever.search(understood, self.settings.top_k, None, search))
        return signals

    def understand(self, question: str, history: list[dict[str, str]], mode: str) -> Question:
        """The question, once, against the catalog of this moment (whatever changes meanwhile);
        QuestionTooLong when it or an earlier question is over the limit."""
        question, history = bounded_conversation(question, history, self.settings.max_history_messages)
        rewrite = self.generator.rewrite if self.generator and mode == "generative" else None
        return self.interpreter.understand(question, history, self.catalog, rewrite=rewrite)

    def ask_stream(self, question: str, top_k: int | None = None, filters: SearchFilters | None = None,
                   history: list[dict[str, str]] | None = None, mode: str = "extractive",
                   search: str = "hybrid") -> Iterator[str | Answer]:
        """The answer as pieces of text as they become ready, then the complete Answer (with its
        citations) last. `mode` is extractive (quotes) or generative (a language model writes,
        its citations verified; extractive when no model is configured, with the reason).
        A question over the limit raises QuestionTooLong here, before anything streams."""
        understood = self.understand(question, history or [], mode)
        return self._answer_events(understood, top_k, filters, mode, search)

    def _answer_events(self, question: Question, top_k: int | None, filters: SearchFilters | None,
                       mode: str, search: str) -> Iterator[str | Answer]:
        retrieval = self.retriever.search(question, top_k or self.settings.top_k, filters, search)
        generator = self.generator if mode == "generative" else None

        def extractive() -> Answer:
            answer = self.composer.compose(retrieval)
            answer.query = question.search_text
            return answer

        if generator is None:
            answer = extractive()
            if mode == "generative":
                answer.fallback_reason = ("no language model is configured (set FOUASSIST_LLM_BASE_URL and "
                                          "FOUASSIST_LLM_MODEL); this is the extractive answer")
            yield from stream_pieces(answer.answer)
            yield answer
            return
        for event in generator.stream(retrieval, extractive):
            if isinstance(event, Answer):
                event.query = question.search_text
            yield event

    def close(self, wait_s: float = CLOSE_WAIT_S) -> None:
        """Stop the service's threads and close the index; a second call does nothing. The upload
        jobs, the dense update and the question embedder stop, and the catalog threads stop
        reading the index, waiting at most `wait_s` in all. What only loads (the lemma tables, the
        models, the organisations' names) is not waited for, since a quick command would wait
        seconds for what it never used: it touches nothing closed, starts nothing, and ends."""
        if self._closed:
            return
        self._closed = True
        deadline = time.monotonic() + wait_s

        def left() -> float:
            return max(0.0, deadline - time.monotonic())

        ended = self.writer.close(left())
        if self._owns_models and self.models.ready and not self.models.failed:
            ended = self.models.get().close(left()) and ended
        ended = self.watch.close(left()) and ended
        if not ended:
            log.warning("Some of the service's threads did not stop within %g s; they end with the process", wait_s)
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


def _open_backend(settings: IndexSettings) -> SearchBackend:
    legacy = legacy_index(settings.data_dir)
    if legacy is not None and not settings.qdrant_url:
        raise IndexLayoutError(
            f"{legacy} holds an index made by an older fouassist (qdrant-client's local mode), which this "
            "version does not read; run `fouassist ingest --reset` to rebuild the index from the documents "
            "(upload again any document that was uploaded rather than ingested from a folder)")
    return open_backend(url=settings.qdrant_url, path=settings.index_path, collection=settings.collection,
                        api_key=settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None,
                        shards=settings.qdrant_shards, replicas=settings.qdrant_replicas)


def _load_language_data(analyzer: Analyzer) -> dict[str, set[str]]:
    try:
        glossary = load_glossary(analyzer)  # lemmatizes its entries: loads simplemma, wordfreq
        analyzer.detect_language("Vad säger strategin? Hva sier planen?")
        for language in ("sv", "nb"):  # the sentence models (NLTK): seconds the first answer would wait
            split_sentences("Strategin gäller. Planen gjelder.", language)
        return glossary
    except Exception:
        log.exception("The sv/nb glossary could not be loaded; questions are not widened across languages")
        return {}
