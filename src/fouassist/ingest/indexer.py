"""Ingestion: documents -> chunks -> sparse and dense vectors -> the index, idempotently.

Each document is written in the order the store's readers rely on: its record (pending), its
chunks (pending), the chunks made visible, the record complete. Dense vectors are embedded in
batches as the chunks are written; when the model changes, `add_dense_vectors` re-embeds the
chunks already in the index from their stored text, without reading any file again.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from fouassist.config import ChunkingSettings
from fouassist.index.backends import Sparse
from fouassist.index.embedding import Embedder
from fouassist.index.store import ChunkPayload, DocumentRecord, IndexStore, SentencePayload, date_number
from fouassist.ingest.chunking import Chunk, chunk_document, embedding_text
from fouassist.ingest.documents import Document
from fouassist.language.analysis import ANALYZER_VERSION, Analyzer

log = logging.getLogger(__name__)

PIPELINE_VERSION = "2"
CONTEXT_WEIGHT = 0.5  # title and headings count half as much as the chunk's own words

BATCHES_PER_WRITE = 4  # embedding batches per group of chunks embedded and written together

Progress = Callable[[int], None]  # chunks just done
DocumentProgress = Callable[[int, int], None]  # (chunks done, chunks of the document)


def pipeline_version(settings: ChunkingSettings) -> str:
    """What made an index's chunks: a document made otherwise is read again."""
    return (f"{PIPELINE_VERSION}/{ANALYZER_VERSION}/"
            f"{settings.chunk_target_chars}-{settings.chunk_max_chars}-{settings.chunk_min_chars}")


@dataclass(frozen=True)
class PreparedDocument:
    document: Document
    rows: list[tuple[str, ChunkPayload, Sparse]]  # (chunk id, payload, lexical vector)
    term_df: Counter[str]


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (source, reason)
    chunks: int = 0
    embedded: int = 0  # chunks that got dense vectors
    seconds: float = 0.0
    dense: bool = False
    documents: list[dict[str, Any]] = field(default_factory=list)  # public records of added/replaced documents

    def summary(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.unchanged)} unchanged, {len(self.replaced)} replaced, "
            f"{len(self.failed)} failed; {self.chunks} chunks written in {self.seconds:.1f} s"
            f" ({'dense + lexical' if self.dense else 'lexical only'})"
        )


class Ingestor:
    def __init__(self, analyzer: Analyzer, embedder: Embedder | None, store: IndexStore, settings: ChunkingSettings,
                 batch_pause_s: float = 0.0):
        self.analyzer = analyzer
        self.embedder = embedder
        self.store = store
        self.settings = settings
        self.batch_pause_s = batch_pause_s  # test only (Settings.test_batch_pause_s)

    # -- one document -------------------------------------------------------------------------
    def chunks(self, document: Document) -> list[Chunk]:
        s = self.settings
        return chunk_document(document, s.chunk_target_chars, s.chunk_max_chars, s.chunk_min_chars)

    def _payload(self, document: Document, chunk: Chunk) -> tuple[ChunkPayload, Counter[str]]:
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
            sentences.append(SentencePayload(
                start=sentence.start, end=sentence.end, terms=" ".join(sorted(weights)),
                section=section.number if section else None, page=document.page_at(sentence.start),
                heading=sentence.heading, heading_index=headings.index(heading)))
        context = self.analyzer.term_weights(chunk.context(document), lang)
        for key, weight in context.items():
            counts[key] += CONTEXT_WEIGHT * weight
        payload = ChunkPayload(
            document_id=document.id, source=document.source, title=document.title,
            organisation=document.organisation, language=lang, date=document.date,
            date_number=date_number(document.date), chunk_index=chunk.index, text=chunk.text,
            start=chunk.start, end=chunk.end, first_page=document.page_at(chunk.start),
            last_page=document.page_at(max(chunk.start, chunk.end - 1)), section=chunk.section,
            heading_path=chunk.heading_path, sentences=sentences, context_terms=" ".join(sorted(context)),
            section_terms=headings,
        )
        return payload, counts

    def _sparse(self, counts: Counter[str]) -> Sparse:
        s = self.settings
        vector = self.analyzer.bm25_vector(counts, s.bm25_k1, s.bm25_b, s.bm25_avg_terms)
        indices = sorted(vector)
        return Sparse(tuple(indices), tuple(float(vector[i]) for i in indices))

    def _embed(self, payloads: list[ChunkPayload]) -> list[list[float]]:
        assert self.embedder is not None
        texts = [embedding_text(p.title, p.organisation, p.heading_path, p.text) for p in payloads]
        return [vector.tolist() for vector in self.embedder.embed_passages(texts)]

    def prepare(self, document: Document) -> PreparedDocument:
        """Chunks, their payloads and lexical vectors: all of a document's indexing that needs no
        model, which `Writer` runs for the next file while this one is embedded."""
        rows, term_df = [], Counter()
        for chunk in self.chunks(document):
            payload, counts = self._payload(document, chunk)
            term_df.update(counts.keys())
            rows.append((chunk.id, payload, self._sparse(counts)))
        return PreparedDocument(document, rows, term_df)

    def write(self, prepared: PreparedDocument, progress: DocumentProgress | None = None) -> DocumentRecord:
        """Index one prepared document (record pending -> chunks -> complete) and return its record.
        Chunks are embedded and written in groups of several batches: the embedder sorts a group by
        length, so that a batch pads little, and the store takes one write per group."""
        document, rows = prepared.document, prepared.rows
        record = DocumentRecord(
            **document.record(), text=document.text, status="pending", chunk_count=len(rows),
            term_df=dict(prepared.term_df), pipeline=pipeline_version(self.settings),
            dense_model=self.embedder.identity if self.embedder else None,
            ingested_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )
        self.store.put_record(record)
        batch = self.embedder.batch_size * BATCHES_PER_WRITE if self.embedder else 256
        for first in range(0, len(rows), batch):
            if progress:
                progress(first, len(rows))
            if first:
                time.sleep(self.batch_pause_s)
            part = rows[first:first + batch]
            dense = self._embed([payload for _, payload, _ in part]) if self.embedder else [None] * len(part)
            self.store.write_chunks([(i, p, s, d) for (i, p, s), d in zip(part, dense)])
        if progress:
            progress(len(rows), len(rows))
        self.store.set_chunk_status(document.id, "complete")
        self.store.set_record(document.id, status="complete")
        record.status = "complete"
        return record

    # -- dense vectors for what the index holds -------------------------------------------------
    def add_dense_vectors(self, records: list[DocumentRecord], progress: Progress | None = None) -> int:
        """Give every chunk of `records` a vector from the current model, starting the dense
        space afresh when the index holds another model's vectors. Returns the chunks embedded."""
        assert self.embedder is not None
        identity = self.embedder.identity
        meta = self.store.meta()
        if meta.dense_model != identity or meta.dense_dimension != self.embedder.dimension:
            if records:
                log.info("The index's dense vectors are from %s; re-embedding every chunk with %s",
                         meta.dense_model or "no model", identity)
            self.store.set_dense_model(identity, self.embedder.dimension)
            stale = records
        else:
            stale = [r for r in records if r.dense_model != identity]
        done = 0
        for record in stale:
            rows = list(self.store.chunks(record.id))
            for first in range(0, len(rows), self.embedder.batch_size):
                part = rows[first:first + self.embedder.batch_size]
                vectors = self._embed([payload for _, payload in part])
                self.store.set_dense_vectors({chunk_id: v for (chunk_id, _), v in zip(part, vectors)})
                done += len(part)
                if progress:
                    progress(len(part))
            self.store.set_record(record.id, dense_model=identity)
        return done
