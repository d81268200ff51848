"""The catalog: the complete documents of the index as this process last read them, and what
follows from them (term statistics for ranking, the dense model of the vectors).

Several processes can share one Qdrant server. Each keeps its own catalog and re-reads it when
the index's catalog version has moved; it looks at the version at most every `interval_s`
seconds, and before answering once that interval has passed.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from fouassist.analysis import Analyzer, Vocabulary
from fouassist.retrieval import organisation_names
from fouassist.store import DocumentRecord, IndexStore


@dataclass
class Catalog:
    records: dict[str, DocumentRecord] = field(default_factory=dict)
    vocabulary: Vocabulary = field(default_factory=Vocabulary)
    version: int = 0
    dense_model: str | None = None  # identity of the model that made the index's dense vectors
    names: dict[str, set[str]] = field(default_factory=dict)  # organisation name words -> document ids

    @classmethod
    def read(cls, store: IndexStore, analyzer: Analyzer) -> Catalog:
        meta = store.meta()
        records = {r.id: r for r in store.records() if r.status == "complete"}
        vocabulary = Vocabulary()
        for record in records.values():
            vocabulary.add(record.language, record.chunk_count, record.term_df)
        names = organisation_names(analyzer, list(records.values()))
        return cls(records, vocabulary, meta.catalog_version, meta.dense_model, names)

    @property
    def chunks(self) -> int:
        return sum(r.chunk_count for r in self.records.values())

    def sorted(self) -> list[DocumentRecord]:
        return sorted(self.records.values(), key=lambda r: r.source)


class CatalogWatch:
    """Keeps a catalog in step with the index; `current()` is what readers use."""

    def __init__(self, store: IndexStore, analyzer: Analyzer, interval_s: float) -> None:
        self.store = store
        self.analyzer = analyzer
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self.catalog = Catalog.read(store, analyzer)
        self._checked = time.monotonic()

    def reload(self) -> Catalog:
        """Re-read the catalog now (after this process's own writes)."""
        with self._lock:
            self.catalog = Catalog.read(self.store, self.analyzer)
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
                    self.catalog = Catalog.read(self.store, self.analyzer)
                self._checked = time.monotonic()
            return self.catalog
