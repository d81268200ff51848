"""Ingestion: documents -> chunks -> sparse and dense vectors -> the index, idempotently.

Each document is written in three steps: its record with status "pending", its chunks, then
the status "complete". Readers only see complete documents, and `repair` removes whatever an
interrupted run left behind (pending records, chunks without a complete record), so a killed
ingest never leaves half a document in the answers and the next run simply writes it again.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from qdrant_client import models

from fouassist.analysis import ANALYZER_VERSION, Analyzer
from fouassist.chunking import Chunk, chunk_context, chunk_document
from fouassist.documents import Document
from fouassist.embedding import Embedder
from fouassist.store import DENSE, SPARSE, IndexStore, date_number

log = logging.getLogger(__name__)

PIPELINE_VERSION = "1"
CONTEXT_WEIGHT = 0.5  # title and headings count half as much as the chunk's own words

Progress = Callable[[int], None]


@dataclass
class ChunkSettings:
    target_chars: int
    max_chars: int
    min_chars: int
    bm25_k1: float
    bm25_b: float
    bm25_avg_terms: float

    def version(self) -> str:
        return f"{PIPELINE_VERSION}/{ANALYZER_VERSION}/{self.target_chars}-{self.max_chars}-{self.min_chars}"


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (source, reason)
    chunks: int = 0
    seconds: float = 0.0
    dense: bool = False
    documents: list[dict[str, Any]] = field(default_factory=list)  # records of added/replaced documents

    def summary(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.unchanged)} unchanged, {len(self.replaced)} replaced, "
            f"{len(self.failed)} failed; {self.chunks} chunks written in {self.seconds:.1f} s"
            f" ({'dense + lexical' if self.dense else 'lexical only'})"
        )


class Ingestor:
    def __init__(self, analyzer: Analyzer, embedder: Embedder | None, store: IndexStore, settings: ChunkSettings):
        self.analyzer = analyzer
        self.embedder = embedder
        self.store = store
        self.settings = settings

    # -- one document -------------------------------------------------------------------------
    def chunks(self, document: Document) -> list[Chunk]:
        s = self.settings
        return chunk_document(document, s.target_chars, s.max_chars, s.min_chars)

    def _payload(self, document: Document, chunk: Chunk) -> tuple[dict[str, Any], Counter[str]]:
        lang = document.language
        counts: Counter[str] = Counter()
        sentences = []
        headings: list[str] = []  # terms of the headings of the sections the chunk's sentences are in
        for sentence in chunk.sentences:
            weights = self.analyzer.term_weights(document.text[sentence.start:sentence.end], lang)
            counts.update(weights)
            section = document.section_at(sentence.start)
            heading = " ".join(sorted(self.analyzer.term_weights(section.title, lang))) if section else ""
            if heading not in headings:
                headings.append(heading)
            sentences.append([
                sentence.start, sentence.end, " ".join(sorted(weights)), section.number if section else None,
                document.page_at(sentence.start), sentence.heading, headings.index(heading),
            ])
        context = self.analyzer.term_weights(chunk.context(document), lang)
        for key, weight in context.items():
            counts[key] += CONTEXT_WEIGHT * weight
        payload = {
            "document_id": document.id, "source": document.source, "title": document.title,
            "organisation": document.organisation, "language": lang, "date": document.date,
            "date_number": date_number(document.date), "chunk_index": chunk.index, "text": chunk.text,
            "start": chunk.start, "end": chunk.end, "page": chunk.page, "section": chunk.section,
            "heading_path": chunk.heading_path, "sentences": sentences, "context_terms": " ".join(sorted(context)),
            "section_terms": headings,
        }
        return payload, counts

    def _sparse(self, counts: Counter[str]) -> models.SparseVector:
        s = self.settings
        vector = self.analyzer.bm25_vector(counts, s.bm25_k1, s.bm25_b, s.bm25_avg_terms)
        indices = sorted(vector)
        return models.SparseVector(indices=indices, values=[float(vector[i]) for i in indices])

    def write(self, document: Document, progress: Progress | None = None) -> dict[str, Any]:
        """Index one document (record pending -> chunks -> complete) and return its record."""
        chunks = self.chunks(document)
        payloads, term_df = [], Counter()
        points: list[models.PointStruct] = []
        for chunk in chunks:
            payload, counts = self._payload(document, chunk)
            payloads.append(payload)
            term_df.update(counts.keys())
            points.append(models.PointStruct(id=chunk.id, vector={SPARSE: self._sparse(counts)}, payload=payload))
        record = {
            **document.record(), "text": document.text, "status": "pending", "chunk_count": len(chunks),
            "term_df": dict(term_df), "pipeline": self.settings.version(),
            "dense_model": self.embedder.name if self.embedder else None,
            "ingested_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        self.store.put_record(record)
        batch = self.embedder.batch_size if self.embedder else 256
        for first in range(0, len(points), batch):
            part = points[first:first + batch]
            if self.embedder is not None:
                vectors = self.embedder.embed_passages(
                    [f"{chunk.context(document)}\n{chunk.text}" for chunk in chunks[first:first + batch]]
                )
                for point, vector in zip(part, vectors):
                    point.vector[DENSE] = vector.tolist()
            self.store.upsert_chunks(part)
            if progress:
                progress(len(part))
        self.store.update_record(document.id, status="complete")
        record["status"] = "complete"
        return record

    # -- upkeep -------------------------------------------------------------------------------
    def repair(self) -> list[str]:
        """Remove what interrupted runs left behind; return the ids of the documents removed."""
        removed = []
        complete = []
        for record in self.store.all_records():
            if record.get("status") == "complete":
                complete.append(record["id"])
            else:
                log.warning("Removing %s (%s): its ingestion did not finish", record.get("source"), record["id"])
                self.store.delete_chunks(record["id"])
                self.store.delete_record(record["id"])
                removed.append(record["id"])
        # Chunks without a complete record can only be left by a run cut short; when the counts
        # agree there are none, and the (slow, filtered) search for them is not needed.
        expected = sum(r.get("chunk_count", 0) for r in self.store.all_records() if r.get("status") == "complete")
        if removed or self.store.count_chunks() != expected:
            orphans = self.store.delete_chunks_except(complete)
            if orphans:
                log.warning("Removed %d chunks that belonged to no complete document", orphans)
        return removed

    def add_dense_vectors(self, progress: Progress | None = None) -> int:
        """Give every chunk a dense vector from the current model, rebuilding the collection when
        the index was built without one or with another model. Returns the chunks embedded."""
        assert self.embedder is not None
        model, dimension = self.store.dense_config()
        records = [r for r in self.store.all_records() if r.get("status") == "complete"]
        stale = {r["id"] for r in records if r.get("dense_model") != self.embedder.name}
        if model == self.embedder.name and dimension == self.embedder.dimension and not stale:
            return 0
        rebuild = model != self.embedder.name or dimension != self.embedder.dimension
        target = self.store.create(self.embedder.name, self.embedder.dimension) if rebuild else self.store.name
        done = 0
        batch: list[models.Record] = []

        def flush() -> None:
            nonlocal done, batch
            texts = [
                f"{chunk_context(p.payload['title'], p.payload['organisation'], p.payload['heading_path'])}\n{p.payload['text']}"
                for p in batch
            ]
            vectors = self.embedder.embed_passages(texts)
            points = [
                models.PointStruct(id=p.id, payload=p.payload, vector={DENSE: v.tolist(), SPARSE: p.vector[SPARSE]})
                for p, v in zip(batch, vectors)
            ]
            self.store.upsert_chunks(points, collection=target)
            done += len(points)
            if progress:
                progress(len(points))
            batch = []

        for point in self.store.scroll_chunks(with_vectors=True):
            if rebuild or point.payload.get("document_id") in stale:
                batch.append(point)
                if len(batch) >= self.embedder.batch_size:
                    flush()
        if batch:
            flush()
        if rebuild:
            self.store.point_to(target)
        for record in records:
            if record.get("dense_model") != self.embedder.name:
                self.store.update_record(record["id"], dense_model=self.embedder.name)
        return done

