"""The index: chunks, document records and the index's own metadata, in one Qdrant collection.

Every point has a `kind`:
- `chunk`: a passage with a sparse `lexical` vector (BM25 weights; Qdrant's IDF modifier adds
  the IDF) and, when a model is in use, a dense `dense` vector; its payload is a `ChunkPayload`;
- `document`: one per document, without vectors, its payload a `DocumentRecord` (metadata,
  cleaned text, term statistics, ingest status);
- `meta`: one point, `IndexMeta`: schema version, the dense model that made the vectors, and the
  catalog version that every write bumps, so that other processes sharing a Qdrant server know
  when to re-read the catalog.

Writes are ordered so that a reader never sees half a document: record (pending) -> chunks
(pending) -> chunks (complete) -> record (complete). Searches only see complete chunks, and
`repair` removes whatever an interrupted run left behind.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from fouassist.index.backends import (
    DENSE,
    SPARSE,
    Match,
    Point,
    QueryPlan,
    Range,
    Ranking,
    SearchBackend,
    Sparse,
    Where,
)

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
META_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "fouassist:index-meta"))
CHUNKS = Where(must=(Match("kind", ("chunk",)),))
RECORDS = Where(must=(Match("kind", ("document",)),))
VISIBLE = CHUNKS & Where(must=(Match("status", ("complete",)),))
Status = Literal["pending", "complete", "deleting"]


class IndexLayoutError(Exception):
    """The index was made by another version of fouassist; the message says what to run."""


class NotFound(Exception):
    """No document with this id."""


# -- the typed payloads ------------------------------------------------------------------------

class SentencePayload(BaseModel):
    """One sentence of a chunk, with what answers need without analysing the text again."""

    start: int  # offsets into the document text
    end: int
    terms: str  # index term keys of the sentence, space-separated
    section: str | None = None
    page: int | None = None
    heading: bool = False  # a heading or title rather than running text
    heading_index: int = 0  # into ChunkPayload.section_terms: the heading of the sentence's section


class ChunkPayload(BaseModel):
    """What the index keeps of a chunk; written by ingestion, read by retrieval and answers."""

    model_config = ConfigDict(extra="ignore")
    kind: Literal["chunk"] = "chunk"
    status: Status = "pending"
    document_id: str
    source: str
    title: str
    organisation: str | None = None
    language: str
    date: str | None = None
    date_number: int | None = None  # the date as YYYYMMDD, for range filters
    chunk_index: int
    text: str
    start: int
    end: int
    first_page: int | None = None
    last_page: int | None = None
    section: str | None = None
    heading_path: list[str] = Field(default_factory=list)
    sentences: list[SentencePayload] = Field(default_factory=list)
    context_terms: str = ""  # term keys of the title, organisation and headings
    section_terms: list[str] = Field(default_factory=list)  # term keys of each heading the sentences are under


class SectionRecord(BaseModel):
    number: str | None
    title: str
    level: int
    start: int
    end: int
    page: int | None = None


class DocumentRecord(BaseModel):
    """One document: its metadata (public), and the bookkeeping the index needs (internal)."""

    model_config = ConfigDict(extra="ignore")
    kind: Literal["document"] = "document"
    id: str
    source: str
    format: str
    title: str
    organisation: str | None = None
    date: str | None = None
    language: str
    sections: list[SectionRecord] = Field(default_factory=list)
    pages: int | None = None
    characters: int
    extra: dict[str, str] = Field(default_factory=dict)
    chunk_count: int = 0
    dense_model: str | None = None  # identity of the model that made its chunks' dense vectors
    ingested_at: str | None = None
    # internal
    status: Status = "pending"
    pipeline: str = ""
    term_df: dict[str, int] = Field(default_factory=dict)  # chunks per term key
    text: str = ""  # left out when the catalog is listed

    INTERNAL: ClassVar[tuple[str, ...]] = ("kind", "status", "pipeline", "term_df", "text")

    def public(self) -> dict[str, Any]:
        return self.model_dump(exclude=set(self.INTERNAL))


class IndexMeta(BaseModel):
    model_config = ConfigDict(extra="ignore")
    kind: Literal["meta"] = "meta"
    schema_version: int = SCHEMA_VERSION
    dense_model: str | None = None  # identity (name@checksum) of the model whose vectors the index holds
    dense_dimension: int | None = None
    catalog_version: int = 0


@dataclass(frozen=True)
class SearchFilters:
    document_ids: list[str] | None = None
    organisations: list[str] | None = None
    languages: list[str] | None = None
    date_from: str | None = None  # ISO dates, inclusive
    date_to: str | None = None

    def where(self) -> Where:
        must: list[Any] = []
        for key, values in (("document_id", self.document_ids), ("organisation", self.organisations),
                            ("language", self.languages)):
            if values:
                must.append(Match(key, tuple(values)))
        if self.date_from or self.date_to:
            must.append(Range("date_number", date_number(self.date_from), date_number(self.date_to)))
        return Where(must=tuple(must))


@dataclass
class Hit:
    id: str
    score: float  # the engine's fused (or single-ranking) score
    payload: ChunkPayload
    dense: list[float] | None = None


def date_number(iso: str | None) -> int | None:
    return int(iso[:10].replace("-", "")) if iso else None


def record_point_id(document_id: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"fouassist-document:{document_id}"))


def _of(document_id: str) -> Where:
    return Where(must=(Match("document_id", (document_id,)),))


class IndexStore:
    def __init__(self, backend: SearchBackend) -> None:
        self.backend = backend
        found = backend.retrieve([META_ID])
        if found:
            meta = IndexMeta.model_validate(found[0].payload)
            if meta.schema_version != SCHEMA_VERSION:
                raise IndexLayoutError(
                    f"the index was made by another version of fouassist (schema {meta.schema_version}, this one "
                    f"reads {SCHEMA_VERSION}); rebuild it with `fouassist ingest --reset`")
        elif backend.count(Where()):
            raise IndexLayoutError("the index holds points but no fouassist metadata, so it was made by an older "
                                   "version or another program; rebuild it with `fouassist ingest --reset`")
        else:
            self._write_meta(IndexMeta())

    # -- metadata --------------------------------------------------------------------------------
    def meta(self) -> IndexMeta:
        found = self.backend.retrieve([META_ID])
        return IndexMeta.model_validate(found[0].payload) if found else IndexMeta()

    def _write_meta(self, meta: IndexMeta) -> None:
        self.backend.upsert([Point(META_ID, meta.model_dump())])

    def catalog_version(self) -> int:
        found = self.backend.retrieve([META_ID], fields=["catalog_version"])
        return int(found[0].payload.get("catalog_version", 0)) if found else 0

    def bump(self) -> int:
        """Mark a change of the catalog. A time-based number, so that two writers on one server
        never publish the same version for different states."""
        version = max(self.catalog_version() + 1, time.time_ns())
        self.backend.set_payload([META_ID], {"catalog_version": version})
        return version

    def set_dense_model(self, identity: str | None, dimension: int | None) -> None:
        """Make room for vectors of another model: the old dense vectors are dropped at once,
        so that vectors of two models never meet in one search."""
        self.backend.set_payload([META_ID], {"dense_model": None, "dense_dimension": None})
        self.backend.set_dense_size(dimension)
        self.backend.set_payload([META_ID], {"dense_model": identity, "dense_dimension": dimension})
        self.bump()

    # -- document records ------------------------------------------------------------------------
    def put_record(self, record: DocumentRecord) -> None:
        self.backend.upsert([Point(record_point_id(record.id), record.model_dump())])

    def set_record(self, document_id: str, **fields: Any) -> None:
        self.backend.set_payload([record_point_id(document_id)], fields)

    def delete_record(self, document_id: str) -> None:
        self.backend.delete([record_point_id(document_id)])

    def record(self, document_id: str) -> DocumentRecord | None:
        found = self.backend.retrieve([record_point_id(document_id)])
        return DocumentRecord.model_validate(found[0].payload) if found else None

    def records(self) -> list[DocumentRecord]:
        """Every record, without its text and term statistics (`term_statistics` has those)."""
        return [DocumentRecord.model_validate(p.payload)
                for p in self.backend.scroll(RECORDS, exclude=["text", "term_df"], batch=512)]

    def term_statistics(self) -> Iterator[tuple[str, str, int, dict[str, int]]]:
        """(document id, language, chunks, chunks per term key) of every record."""
        for point in self.backend.scroll(RECORDS, fields=["id", "language", "chunk_count", "term_df"], batch=256):
            p = point.payload
            yield p["id"], p["language"], p.get("chunk_count", 0), p.get("term_df", {})

    # -- chunks ----------------------------------------------------------------------------------
    def write_chunks(self, chunks: list[tuple[str, ChunkPayload, Sparse, list[float] | None]]) -> None:
        """Write chunks as pending: (id, payload, sparse vector, dense vector or None)."""
        points = []
        for chunk_id, payload, sparse, dense in chunks:
            vectors: dict[str, Any] = {SPARSE: sparse}
            if dense is not None:
                vectors[DENSE] = dense
            points.append(Point(chunk_id, payload.model_dump(), vectors))
        if points:
            self.backend.upsert(points)

    def set_chunk_status(self, document_id: str, status: Status) -> None:
        self.backend.set_payload(CHUNKS & _of(document_id), {"status": status})

    def delete_chunks(self, document_id: str) -> None:
        self.backend.delete(CHUNKS & _of(document_id))

    def set_dense_vectors(self, vectors: dict[str, list[float]]) -> None:
        if vectors:
            self.backend.set_vectors(vectors)

    def count_chunks(self, document_id: str | None = None, visible_only: bool = True) -> int:
        where = VISIBLE if visible_only else CHUNKS
        return self.backend.count(where & _of(document_id) if document_id else where)

    def chunks(self, document_id: str | None = None) -> Iterator[tuple[str, ChunkPayload]]:
        where = VISIBLE & _of(document_id) if document_id else VISIBLE
        for point in self.backend.scroll(where, batch=512):
            yield point.id, ChunkPayload.model_validate(point.payload)

    def search(self, plan: QueryPlan) -> list[Hit]:
        return [Hit(p.id, p.score, ChunkPayload.model_validate(p.payload), p.vectors.get(DENSE))
                for p in self.backend.query(plan)]

    @staticmethod
    def plan(sparse: Sparse | None, dense: list[float] | None, filters: SearchFilters | None, limit: int,
             candidates: int, dense_weight: float = 1.0, sparse_weight: float = 1.0) -> QueryPlan | None:
        """The one hybrid query: a dense and a sparse ranking over visible chunks that match the
        filters, fused with weighted reciprocal rank fusion; None when there is nothing to search with."""
        rankings = []
        if dense is not None:
            rankings.append(Ranking(DENSE, tuple(dense), dense_weight))
        if sparse is not None and sparse.indices:
            rankings.append(Ranking(SPARSE, sparse, sparse_weight))
        if not rankings:
            return None
        where = VISIBLE & filters.where() if filters else VISIBLE
        return QueryPlan(tuple(rankings), where, limit=limit, candidates=max(candidates, limit),
                         with_vectors=(DENSE,) if dense is not None else ())

    # -- upkeep ----------------------------------------------------------------------------------
    def repair(self, complete: dict[str, int] | None = None) -> list[str]:
        """Remove what interrupted writes left behind; return the ids of the documents removed.
        `complete` (document id -> chunks, from a catalog just read) spares reading every record
        when nothing is amiss."""
        removed = []
        unfinished = Where(must_not=(Match("status", ("complete",)),))
        for point in self.backend.scroll(RECORDS & unfinished, fields=["id", "source", "status"], batch=1024):
            record = point.payload
            what = "deletion" if record.get("status") == "deleting" else "ingestion"
            log.warning("Removing %s (%s): its %s did not finish", record.get("source"), record["id"], what)
            self.delete_chunks(record["id"])
            self.delete_record(record["id"])
            removed.append(record["id"])
        if self.backend.count(CHUNKS & unfinished):
            self.backend.delete(CHUNKS & unfinished)
        chunks = self.count_chunks(visible_only=False)
        if complete is None or chunks != sum(complete.values()):  # the caller's view may be stale
            complete = {p.payload["id"]: p.payload.get("chunk_count", 0) for p in self.backend.scroll(
                RECORDS & Where(must=(Match("status", ("complete",)),)), fields=["id", "chunk_count"], batch=1024)}
        if chunks != sum(complete.values()):
            orphans = CHUNKS & Where(must_not=(Match("document_id", tuple(complete)),)) if complete else CHUNKS
            count = self.backend.count(orphans)
            self.backend.delete(orphans)
            log.warning("Removed %d chunks that belonged to no complete document", count)
        if removed:
            self.bump()
        return removed

    def reset(self) -> None:
        """Empty the index: every chunk and record; the dense model stays."""
        self.backend.delete(Where(must_not=(Match("kind", ("meta",)),)))
        self.bump()

    def optimize(self) -> None:
        self.backend.optimize()

    def close(self) -> None:
        self.backend.close()


def legacy_index(data_dir: Path) -> Path | None:
    """The folder of an index made by fouassist before Qdrant Edge (qdrant-client's local mode)."""
    old = data_dir / "qdrant"
    return old if (old / "meta.json").exists() or (old / "collection").is_dir() else None
