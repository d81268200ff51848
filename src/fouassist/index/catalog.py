"""The catalog: the complete documents of the index as this process last read them, and what
follows from them (term statistics for ranking, the dense model of the vectors).

Several processes can share one Qdrant server. Each keeps its own catalog and re-reads it when
the index's catalog version has moved; it looks at the version at most every `interval_s`
seconds, and before answering once that interval has passed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from fouassist.index.store import DocumentRecord, IndexStore
from fouassist.language.analysis import Analyzer, Vocabulary, term_key
from fouassist.language.lemmas import tokens
from fouassist.language.words import GENERIC_ORGANISATION_WORDS

T = TypeVar("T")


class Background(Generic[T]):
    """A value made in a thread of its own (a model, the glossary, term statistics); `get` waits for it.
    The thread is named `fouassist-<name>`."""

    def __init__(self, name: str, make: Callable[[], T]) -> None:
        self._value: T | None = None
        self._error: BaseException | None = None
        self.seconds: float | None = None  # how long making it took, once it is made (or failed)
        self._thread = threading.Thread(target=self._run, args=(make,), name=f"fouassist-{name}", daemon=True)
        self._thread.start()

    def _run(self, make: Callable[[], T]) -> None:
        started = time.perf_counter()
        try:
            self._value = make()
        except BaseException as error:  # reported by get(), in the thread that needs the value
            self._error = error
        finally:
            self.seconds = time.perf_counter() - started

    @property
    def ready(self) -> bool:
        return not self._thread.is_alive()

    @property
    def failed(self) -> bool:
        return self.ready and self._error is not None

    def get(self) -> T:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


@dataclass
class Catalog:
    records: dict[str, DocumentRecord] = field(default_factory=dict)
    version: int = 0
    dense_model: str | None = None  # identity of the model that made the index's dense vectors
    derived: Background[tuple[Vocabulary, dict[str, set[str]]]] | None = None

    @classmethod
    def read(cls, store: IndexStore, analyzer: Analyzer, readers: StoreReaders | None = None) -> Catalog:
        """The records at once; what follows from them (term statistics, the bulk of the data, and
        the organisations' names, which need the lemma tables) in the background, so that a
        large index answers /health before they are read. Questions wait for them. `readers`
        counts the threads reading the store, so that closing it can stop them first."""
        meta = store.meta()
        records = {r.id: r for r in store.records() if r.status == "complete"}
        readers = readers or StoreReaders()

        def derive() -> tuple[Vocabulary, dict[str, set[str]]]:
            with readers.reading():
                vocabulary = _vocabulary(store, set(records), readers)
            return vocabulary, organisation_names(analyzer, list(records.values()))

        return cls(records, meta.catalog_version, meta.dense_model, Background("catalog", derive))

    @property
    def vocabulary(self) -> Vocabulary:
        """Document frequencies of term keys over the chunks of the complete documents."""
        return self.derived.get()[0] if self.derived else Vocabulary()

    @property
    def names(self) -> dict[str, set[str]]:
        """Term key of a word of an organisation's name -> its documents."""
        return self.derived.get()[1] if self.derived else {}

    @property
    def chunks(self) -> int:
        return sum(r.chunk_count for r in self.records.values())

    def sorted(self) -> list[DocumentRecord]:
        return sorted(self.records.values(), key=lambda r: r.source)


class Closed(Exception):
    """The store is closing: a catalog still being read is abandoned."""


class StoreReaders:
    """The catalog threads that are reading the store; `close` stops them and waits for them."""

    def __init__(self) -> None:
        self.closing = False
        self._active = 0
        self._changed = threading.Condition()

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._changed:
            if self.closing:
                raise Closed("the index is closing")
            self._active += 1
        try:
            yield
        finally:
            with self._changed:
                self._active -= 1
                self._changed.notify_all()

    def close(self, wait_s: float) -> bool:
        """Whether every reader stopped within `wait_s` (each stops at its next row)."""
        with self._changed:
            self.closing = True
            return self._changed.wait_for(lambda: self._active == 0, wait_s)


def _vocabulary(store: IndexStore, complete: set[str], readers: StoreReaders) -> Vocabulary:
    vocabulary = Vocabulary()
    for document_id, language, chunk_count, term_df in store.term_statistics():
        if readers.closing:
            raise Closed("the index is closing")
        if document_id in complete:
            vocabulary.add(language, chunk_count, term_df)
    return vocabulary


class CatalogWatch:
    """Keeps a catalog in step with the index; `current()` is what readers use."""

    def __init__(self, store: IndexStore, analyzer: Analyzer, interval_s: float) -> None:
        self.store = store
        self.analyzer = analyzer
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self.readers = StoreReaders()
        self.catalog = Catalog.read(store, analyzer, self.readers)
        self._checked = time.monotonic()

    def reload(self) -> Catalog:
        """Re-read the catalog now (after this process's own writes)."""
        with self._lock:
            self.catalog = Catalog.read(self.store, self.analyzer, self.readers)
            self._checked = time.monotonic()
            return self.catalog

    def current(self) -> Catalog:
        """The catalog, re-read first when another process has changed the index and the last
        look at its version is older than the interval."""
        if time.monotonic() - self._checked < self.interval_s:
            return self.catalog
        with self._lock:
            if time.monotonic() - self._checked >= self.interval_s:
                if self.store.catalog_version() != self.catalog.version:
                    self.catalog = Catalog.read(self.store, self.analyzer, self.readers)
                self._checked = time.monotonic()
            return self.catalog

    def close(self, wait_s: float) -> bool:
        """Stop the catalog threads that read the store (it closes next), waiting at most `wait_s`;
        whether they stopped. What they go on to derive without the store ends on its own."""
        return self.readers.close(wait_s)


def organisation_names(analyzer: Analyzer, records: list[DocumentRecord]) -> dict[str, set[str]]:
    """Term key of a word of an organisation's name -> its documents, so that a question naming
    one can be scoped to them. Only whole words count: the parts of "Samverkansnämnden" or
    "Mellansverige" ("samverkan", "sverige") are topics, not names. (Each organisation is
    analysed once, however many documents it has.)"""
    keys_of: dict[tuple[str, str], list[str]] = {}
    names: dict[str, set[str]] = {}
    for record in records:
        organisation = (record.organisation or "", record.language)
        if organisation not in keys_of:
            name, language = organisation
            whole = {term_key(term) for word in tokens(name) for term, weight in analyzer.word_terms(word, language)
                     if weight == 1.0}
            keys_of[organisation] = sorted(whole - GENERIC_ORGANISATION_WORDS)
        for key in keys_of[organisation]:
            names.setdefault(key, set()).add(record.id)
    return names
