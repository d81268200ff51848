"""The Qdrant index: one collection of chunks with a dense and a sparse named vector, and one
collection of document records.

Chunks live in a physical collection `<name>_<n>` reached through the alias `<name>`; when
the dense model changes (or first becomes available), `rebuild` fills a new physical
collection and swaps the alias, so the old index serves until the new one is complete.
Document records (metadata, cleaned text, term statistics, ingest status) live in
`<name>_documents`, one point without vectors per document. The same code runs against
embedded Qdrant (a folder on disk) and a Qdrant server.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qdrant_client import QdrantClient, models

log = logging.getLogger(__name__)

DENSE = "dense"
SPARSE = "lexical"
SCHEMA_VERSION = 1


class IndexBusy(Exception):
    """The embedded index folder is held by another process (a running server)."""


@dataclass
class SearchFilters:
    document_ids: list[str] | None = None
    organisations: list[str] | None = None
    languages: list[str] | None = None
    date_from: str | None = None  # ISO dates, inclusive
    date_to: str | None = None


@dataclass
class Hit:
    id: str
    score: float
    payload: dict[str, Any]


def date_number(iso: str | None) -> int | None:
    return int(iso[:10].replace("-", "")) if iso else None


def record_point_id(document_id: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"fouassist-document:{document_id}"))


def open_client(url: str, path, api_key: str | None = None, timeout_s: float = 10.0) -> QdrantClient:
    if url:
        return QdrantClient(url=url, api_key=api_key, timeout=int(timeout_s))
    path.mkdir(parents=True, exist_ok=True)
    try:
        return QdrantClient(path=str(path))
    except RuntimeError as error:
        if "already accessed" in str(error):
            raise IndexBusy(
                f"the index folder {path} is in use by another fouassist process (probably a running server); "
                "stop it, or send the work to the running server's API"
            ) from None
        raise


class IndexStore:
    def __init__(self, client: QdrantClient, name: str, embedded: bool, shards: int = 1, replicas: int = 1,
                 in_memory_search: bool = True, snapshot: Path | None = None) -> None:
        self.client = client
        self.name = name
        self.records = f"{name}_documents"
        self.embedded = embedded
        self.shards = shards
        self.replicas = replicas
        self._ensure_records()
        # Embedded Qdrant scores every point in Python; search a numpy copy of the vectors instead.
        self.memory = None
        self.snapshot = snapshot
        if embedded and in_memory_search:
            from fouassist.memory_index import MemoryIndex

            self.memory = MemoryIndex()
            self._load_memory()

    def _stamp(self) -> str:
        """What the snapshot of the in-memory index must match: collection, size, documents."""
        records = sorted((r["id"], r.get("status"), r.get("pipeline"), r.get("dense_model"), r.get("chunk_count"))
                         for r in self.all_records(fields=["id", "status", "pipeline", "dense_model", "chunk_count"]))
        digest = hashlib.sha256(json.dumps(records).encode()).hexdigest()[:16]
        return f"{self.physical()}:{self.count_chunks()}:{digest}"

    def save_memory(self) -> None:
        """Keep the in-memory index on disk, so that the next start need not rebuild it."""
        if self.memory is not None and self.snapshot is not None:
            self.memory.save(self.snapshot, self._stamp())

    def _load_memory(self) -> None:
        if self.memory is None:
            return
        if self.physical() is None:
            self.memory.replace_all([])
            return
        if self.snapshot is not None and self.memory.load(self.snapshot, self._stamp()):
            return
        fields = ["document_id", "organisation", "language", "date_number"]
        rows, offset = [], None
        while True:
            points, offset = self.client.scroll(self.name, limit=1024, offset=offset,
                                                with_payload=fields, with_vectors=True)
            rows.extend(_row(p.id, p.vector, p.payload or {}) for p in points)
            if offset is None:
                break
        self.memory.replace_all(rows)

    # -- collections --------------------------------------------------------------------------
    def _collection_args(self) -> dict[str, Any]:
        if self.embedded:
            return {}
        return {"shard_number": self.shards, "replication_factor": self.replicas}

    def _ensure_records(self) -> None:
        if not self.client.collection_exists(self.records):
            self.client.create_collection(self.records, vectors_config={}, **self._collection_args())
            if not self.embedded:
                for field in ("document_id", "source", "status"):
                    self.client.create_payload_index(self.records, field, models.PayloadSchemaType.KEYWORD)

    def physical(self) -> str | None:
        for alias in self.client.get_aliases().aliases:
            if alias.alias_name == self.name:
                return alias.collection_name
        return None

    def dense_config(self) -> tuple[str | None, int | None]:
        """(model, dimension) of the dense vectors in the index, (None, None) when it has none."""
        physical = self.physical()
        if physical is None:
            return None, None
        info = self.client.get_collection(physical)
        metadata = info.config.metadata or {}
        vectors = info.config.params.vectors
        if isinstance(vectors, dict) and DENSE in vectors:
            return metadata.get("dense_model"), vectors[DENSE].size
        return None, None

    def create(self, dense_model: str | None, dimension: int | None) -> str:
        """Create a new, empty physical chunk collection and return its name (not yet aliased)."""
        physical = f"{self.name}_{int(time.time() * 1000)}"
        vectors = {DENSE: models.VectorParams(size=dimension, distance=models.Distance.COSINE)} if dimension else {}
        self.client.create_collection(
            physical,
            vectors_config=vectors,
            sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
            metadata={"dense_model": dense_model, "schema": SCHEMA_VERSION},
            **self._collection_args(),
        )
        if not self.embedded:
            for field in ("document_id", "organisation", "language"):
                self.client.create_payload_index(physical, field, models.PayloadSchemaType.KEYWORD)
            self.client.create_payload_index(physical, "date_number", models.PayloadSchemaType.INTEGER)
        return physical

    def point_to(self, physical: str) -> None:
        """Point the alias at `physical` in one operation and drop the collection it pointed at."""
        old = self.physical()
        operations: list[Any] = []
        if old is not None:
            operations.append(models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=self.name)))
        operations.append(
            models.CreateAliasOperation(create_alias=models.CreateAlias(collection_name=physical, alias_name=self.name))
        )
        self.client.update_collection_aliases(change_aliases_operations=operations)
        if old is not None and old != physical:
            self.client.delete_collection(old)
        self._drop_strays()
        self._load_memory()

    def _drop_strays(self) -> None:
        """Remove half-built chunk collections left by an interrupted rebuild."""
        current = self.physical()
        prefix = f"{self.name}_"
        for collection in self.client.get_collections().collections:
            name = collection.name
            if name.startswith(prefix) and name[len(prefix):].isdigit() and name != current:
                log.info("Removing unused collection %s left by an interrupted rebuild", name)
                self.client.delete_collection(name)

    def ensure(self, dense_model: str | None, dimension: int | None) -> None:
        if self.physical() is None:
            self.point_to(self.create(dense_model, dimension))

    def reset(self, dense_model: str | None, dimension: int | None) -> None:
        """Empty the whole index (chunks and records)."""
        self.point_to(self.create(dense_model, dimension))
        self.client.delete_collection(self.records)
        self._ensure_records()

    # -- chunks -------------------------------------------------------------------------------
    def upsert_chunks(self, points: list[models.PointStruct], collection: str | None = None) -> None:
        """Write chunks to the live index (or, during a rebuild, to the named collection)."""
        if not points:
            return
        self.client.upsert(collection or self.name, points=points, wait=True)
        if self.memory is not None and collection in (None, self.name):
            self.memory.add([_row(p.id, p.vector, p.payload or {}) for p in points])

    def delete_chunks(self, document_id: str) -> None:
        self.client.delete(
            self.name,
            points_selector=models.FilterSelector(filter=_match("document_id", [document_id])),
            wait=True,
        )
        if self.memory is not None:
            self.memory.remove_document(document_id)

    def delete_chunks_except(self, document_ids: list[str]) -> int:
        """Delete chunks whose document is not in `document_ids` (orphans); return how many."""
        orphan = models.Filter(must_not=[models.FieldCondition(key="document_id", match=models.MatchAny(any=document_ids))]) \
            if document_ids else None
        count = self.client.count(self.name, count_filter=orphan, exact=True).count
        if count:
            selector = models.FilterSelector(filter=orphan or models.Filter())
            self.client.delete(self.name, points_selector=selector, wait=True)
            self._load_memory()
        return count

    def count_chunks(self, document_id: str | None = None) -> int:
        flt = _match("document_id", [document_id]) if document_id else None
        return self.client.count(self.name, count_filter=flt, exact=True).count

    def scroll_chunks(self, with_vectors: bool = False, batch: int = 256) -> Iterator[models.Record]:
        offset = None
        while True:
            points, offset = self.client.scroll(
                self.name, limit=batch, offset=offset, with_payload=True, with_vectors=with_vectors
            )
            yield from points
            if offset is None:
                return

    def chunks_of(self, document_id: str) -> list[dict[str, Any]]:
        points, _ = self.client.scroll(
            self.name, scroll_filter=_match("document_id", [document_id]), limit=100_000, with_payload=True
        )
        return sorted((p.payload or {} for p in points), key=lambda p: p.get("chunk_index", 0))

    def search(
        self,
        sparse: models.SparseVector | None,
        dense: list[float] | None,
        filters: SearchFilters | None,
        visible: list[str] | None,
        limit: int,
    ) -> list[Hit]:
        """Hybrid search: dense and sparse rankings fused with reciprocal rank fusion; in one
        Qdrant query (two prefetches and a FusionQuery), or in memory for embedded Qdrant."""
        has_sparse = sparse is not None and bool(sparse.indices)
        if dense is None and not has_sparse:
            return []
        if self.memory is not None:
            ranked = self.memory.search((sparse.indices, sparse.values) if has_sparse else None, dense,
                                        filters, visible, limit)
            if not ranked:
                return []
            payloads = {str(p.id): p.payload or {} for p in self.client.retrieve(self.name, [i for i, _ in ranked])}
            return [Hit(i, score, payloads[i]) for i, score in ranked if i in payloads]
        flt = build_filter(filters, visible)
        prefetch = []
        if dense is not None:
            prefetch.append(models.Prefetch(query=dense, using=DENSE, limit=limit, filter=flt))
        if has_sparse:
            prefetch.append(models.Prefetch(query=sparse, using=SPARSE, limit=limit, filter=flt))
        if len(prefetch) == 1:
            only = prefetch[0]
            result = self.client.query_points(
                self.name, query=only.query, using=only.using, query_filter=flt, limit=limit, with_payload=True
            )
        else:
            result = self.client.query_points(
                self.name, prefetch=prefetch, query=models.FusionQuery(fusion=models.Fusion.RRF),
                limit=limit, with_payload=True,
            )
        return [Hit(str(p.id), float(p.score), p.payload or {}) for p in result.points]

    # -- document records ----------------------------------------------------------------------
    def put_record(self, record: dict[str, Any]) -> None:
        self.client.upsert(
            self.records,
            points=[models.PointStruct(id=record_point_id(record["id"]), vector={}, payload=record)],
            wait=True,
        )

    def update_record(self, document_id: str, **fields: Any) -> None:
        self.client.set_payload(self.records, payload=fields, points=[record_point_id(document_id)], wait=True)

    def delete_record(self, document_id: str) -> None:
        self.client.delete(
            self.records, points_selector=models.PointIdsList(points=[record_point_id(document_id)]), wait=True
        )

    def record(self, document_id: str, with_text: bool = True) -> dict[str, Any] | None:
        points = self.client.retrieve(
            self.records, ids=[record_point_id(document_id)], with_payload=True if with_text else
            models.PayloadSelectorExclude(exclude=["text"])
        )
        return points[0].payload if points else None

    def all_records(self, with_text: bool = False, fields: list[str] | None = None) -> list[dict[str, Any]]:
        selector: Any = fields or (True if with_text else models.PayloadSelectorExclude(exclude=["text"]))
        records, offset = [], None
        while True:
            points, offset = self.client.scroll(self.records, limit=256, offset=offset, with_payload=selector)
            records.extend(p.payload or {} for p in points)
            if offset is None:
                return records

    def close(self) -> None:
        self.client.close()


def _row(point_id, vector, payload: dict[str, Any]):
    """What the in-memory index keeps of a point."""
    from fouassist.memory_index import Row

    vectors = vector if isinstance(vector, dict) else {}
    sparse = vectors.get(SPARSE)
    dense = vectors.get(DENSE)
    return Row(
        id=str(point_id), document_id=payload.get("document_id", ""), organisation=payload.get("organisation"),
        language=payload.get("language"), date_number=payload.get("date_number"),
        sparse=(list(sparse.indices), list(sparse.values)) if sparse is not None else ([], []),
        dense=list(dense) if dense is not None else None,
    )


def _match(field: str, values: Iterable[str]) -> models.Filter:
    return models.Filter(must=[models.FieldCondition(key=field, match=models.MatchAny(any=list(values)))])


def build_filter(filters: SearchFilters | None, visible: list[str] | None = None) -> models.Filter | None:
    """A Qdrant filter from the request's filters; `visible` limits hits to complete documents."""
    must: list[Any] = []
    if filters is not None:
        if filters.document_ids:
            must.append(models.FieldCondition(key="document_id", match=models.MatchAny(any=filters.document_ids)))
        if filters.organisations:
            must.append(models.FieldCondition(key="organisation", match=models.MatchAny(any=filters.organisations)))
        if filters.languages:
            must.append(models.FieldCondition(key="language", match=models.MatchAny(any=filters.languages)))
        if filters.date_from or filters.date_to:
            must.append(models.FieldCondition(
                key="date_number",
                range=models.Range(gte=date_number(filters.date_from), lte=date_number(filters.date_to)),
            ))
    if visible is not None:
        must.append(models.FieldCondition(key="document_id", match=models.MatchAny(any=visible)))
    return models.Filter(must=must) if must else None
