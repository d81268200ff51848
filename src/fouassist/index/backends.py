"""Qdrant behind one small protocol, in the style of qdrant-client's local/remote split.

Two engines hold the index: Qdrant Edge (`qdrant-edge-py`, the Rust engine in-process, a shard
on disk: the default) and a Qdrant server or cluster (qdrant-client, when FOUASSIST_QDRANT_URL is
set). The store above builds every request once in the neutral terms of this module (`Where`,
`QueryPlan`) and each backend translates them into its own library's classes, so the search
logic exists once and the engine does all of it: filters, sparse IDF, cosine, weighted fusion.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

DENSE = "dense"
SPARSE = "lexical"
KEYWORD_FIELDS = ("kind", "status", "document_id", "source", "organisation", "language")
INTEGER_FIELDS = ("date_number",)


class IndexBusy(Exception):
    """The embedded index is open in another process (a running server)."""


# -- the neutral request language ---------------------------------------------------------------

@dataclass(frozen=True)
class Match:
    """The payload field `key` holds one of `values`."""

    key: str
    values: tuple[str | int, ...]


@dataclass(frozen=True)
class Range:
    key: str
    gte: int | None = None
    lte: int | None = None


Condition = Match | Range


@dataclass(frozen=True)
class Where:
    must: tuple[Condition, ...] = ()
    must_not: tuple[Condition, ...] = ()

    def __and__(self, other: Where) -> Where:
        return Where(self.must + other.must, self.must_not + other.must_not)


@dataclass(frozen=True)
class Sparse:
    indices: tuple[int, ...]
    values: tuple[float, ...]


@dataclass(frozen=True)
class Ranking:
    """One ranked list to fuse: a nearest-neighbour search in one named vector."""

    using: str  # DENSE or SPARSE
    vector: Sequence[float] | Sparse
    weight: float = 1.0


@dataclass(frozen=True)
class QueryPlan:
    """A search as the engine runs it: each ranking fetches `candidates` points that match
    `where`, and the rankings are fused with weighted reciprocal rank fusion."""

    rankings: tuple[Ranking, ...]
    where: Where
    limit: int
    candidates: int
    rrf_k: int = 2
    with_vectors: tuple[str, ...] = ()
    with_payload: bool = True


@dataclass
class Point:
    id: str
    payload: dict[str, Any]
    vectors: dict[str, Any] = field(default_factory=dict)  # DENSE: list[float], SPARSE: Sparse
    score: float = 0.0


class SearchBackend(Protocol):
    """What the store needs of an engine; nothing else."""

    def dense_size(self) -> int | None: ...
    def set_dense_size(self, size: int | None) -> None: ...
    def upsert(self, points: list[Point]) -> None: ...
    def set_vectors(self, vectors: dict[str, list[float]]) -> None: ...
    def set_payload(self, where: Where | list[str], payload: dict[str, Any]) -> None: ...
    def delete(self, where: Where | list[str]) -> None: ...
    def retrieve(self, ids: list[str], fields: list[str] | None = None) -> list[Point]: ...
    def scroll(self, where: Where, fields: list[str] | bool = True, exclude: list[str] | None = None,
               with_vectors: bool = False, batch: int = 256) -> Iterator[Point]: ...
    def count(self, where: Where) -> int: ...
    def query(self, plan: QueryPlan) -> list[Point]: ...
    def optimize(self) -> None: ...
    def close(self) -> None: ...


def _point(record) -> Point:
    """A record or scored point of either library as a neutral Point."""
    vectors = {}
    for name, value in (record.vector or {}).items() if isinstance(record.vector, dict) else ():
        vectors[name] = Sparse(tuple(value.indices), tuple(value.values)) if name == SPARSE else list(value)
    return Point(str(record.id), record.payload or {}, vectors, float(getattr(record, "score", 0.0) or 0.0))


# -- Qdrant Edge ----------------------------------------------------------------------------------

class EdgeBackend:
    """The embedded engine: one Qdrant Edge shard in a folder, with a write-ahead log."""

    def __init__(self, path: Path) -> None:
        try:
            import qdrant_edge as edge
        except ImportError as error:
            raise RuntimeError("embedded Qdrant needs the package qdrant-edge-py; install it "
                               "(pip install qdrant-edge-py) or set FOUASSIST_QDRANT_URL to a Qdrant server") from error
        self.q = edge
        self.path = path
        try:
            if (path / "edge_config.json").exists():
                self.shard = edge.EdgeShard.load(str(path))
            else:
                path.mkdir(parents=True, exist_ok=True)
                config = edge.EdgeConfig(sparse_vectors={SPARSE: edge.EdgeSparseVectorParams(modifier=edge.Modifier.Idf)})
                self.shard = edge.EdgeShard.create(str(path), config)
                for name in KEYWORD_FIELDS:
                    self.shard.update(edge.UpdateOperation.create_field_index(name, edge.PayloadSchemaType.Keyword))
                for name in INTEGER_FIELDS:
                    self.shard.update(edge.UpdateOperation.create_field_index(name, edge.PayloadSchemaType.Integer))
        except Exception as error:
            if "lock" in str(error).lower() or "in use" in str(error).lower():
                raise IndexBusy(f"the index folder {path} is in use by another fouassist process (probably a "
                                "running server); stop it, or send the work to the running server's API") from None
            raise

    # translation
    def _filter(self, where: Where | None):
        if where is None or not (where.must or where.must_not):
            return None
        return self.q.Filter(must=[self._condition(c) for c in where.must] or None,
                             must_not=[self._condition(c) for c in where.must_not] or None)

    def _condition(self, condition: Condition):
        if isinstance(condition, Range):
            return self.q.FieldCondition(key=condition.key, range=self.q.RangeFloat(gte=condition.gte, lte=condition.lte))
        return self.q.FieldCondition(key=condition.key, match=self.q.MatchAny(list(condition.values)))

    def _vector(self, value):
        return self.q.SparseVector(list(value.indices), list(value.values)) if isinstance(value, Sparse) else list(value)

    def _selector(self, where: Where | list[str]):
        return where if isinstance(where, list) else self._filter(where)

    # operations
    def dense_size(self) -> int | None:
        config = json.loads((self.path / "edge_config.json").read_text(encoding="utf-8"))
        return (config.get("vectors") or {}).get(DENSE, {}).get("size")

    def set_dense_size(self, size: int | None) -> None:
        if self.dense_size() is not None:
            self.shard.update(self.q.UpdateOperation.delete_vector_name(DENSE))
        if size:
            self.shard.update(self.q.UpdateOperation.create_dense_vector(DENSE, size, self.q.Distance.Cosine))
        self.shard.flush()

    def upsert(self, points: list[Point]) -> None:
        self.shard.update(self.q.UpdateOperation.upsert_points([
            self.q.Point(p.id, {k: self._vector(v) for k, v in p.vectors.items()}, p.payload) for p in points]))

    def set_vectors(self, vectors: dict[str, list[float]]) -> None:
        self.shard.update(self.q.UpdateOperation.update_vectors(
            [self.q.PointVectors(i, {DENSE: list(v)}) for i, v in vectors.items()]))

    def set_payload(self, where: Where | list[str], payload: dict[str, Any]) -> None:
        selector = self._selector(where)
        operation = self.q.UpdateOperation.set_payload if isinstance(selector, list) else \
            self.q.UpdateOperation.set_payload_by_filter
        self.shard.update(operation(selector, payload))

    def delete(self, where: Where | list[str]) -> None:
        selector = self._selector(where)
        if isinstance(selector, list):
            self.shard.update(self.q.UpdateOperation.delete_points(selector))
        else:
            self.shard.update(self.q.UpdateOperation.delete_points_by_filter(selector or self.q.Filter()))

    def retrieve(self, ids: list[str], fields: list[str] | None = None) -> list[Point]:
        selector = self.q.PayloadSelector.Include(fields) if fields else True
        return [_point(r) for r in self.shard.retrieve(ids, with_payload=selector, with_vector=False)]

    def scroll(self, where: Where, fields: list[str] | bool = True, exclude: list[str] | None = None,
               with_vectors: bool = False, batch: int = 256) -> Iterator[Point]:
        selector = self.q.PayloadSelector.Exclude(exclude) if exclude else \
            self.q.PayloadSelector.Include(fields) if isinstance(fields, list) else fields
        offset = None
        while True:
            records, offset = self.shard.scroll(self.q.ScrollRequest(
                offset=offset, limit=batch, filter=self._filter(where), with_payload=selector,
                with_vector=with_vectors))
            yield from (_point(r) for r in records)
            if offset is None:
                return

    def count(self, where: Where) -> int:
        return self.shard.count(self.q.CountRequest(exact=True, filter=self._filter(where)))

    def query(self, plan: QueryPlan) -> list[Point]:
        q = self.q
        flt = self._filter(plan.where)
        with_vector = list(plan.with_vectors) or False
        if len(plan.rankings) == 1:
            only = plan.rankings[0]
            request = q.QueryRequest(limit=plan.limit, query=q.Query.Nearest(self._vector(only.vector), using=only.using),
                                     filter=flt, with_payload=plan.with_payload, with_vector=with_vector)
        else:
            request = q.QueryRequest(
                limit=plan.limit, with_payload=plan.with_payload, with_vector=with_vector,
                prefetches=[q.Prefetch(limit=plan.candidates, filter=flt,
                                       query=q.Query.Nearest(self._vector(r.vector), using=r.using))
                            for r in plan.rankings],
                query=q.Fusion.Rrf(k=plan.rrf_k, weights=[r.weight for r in plan.rankings]))
        return [_point(p) for p in self.shard.query(request)]

    def optimize(self) -> None:
        self.shard.optimize()

    def close(self) -> None:
        self.shard.flush()
        self.shard.close()


# -- Qdrant server (qdrant-client) ---------------------------------------------------------------

class ServerBackend:
    """A collection on a Qdrant server or cluster, through qdrant-client. Also runs on
    qdrant-client's local mode, which implements the server's API (the conformance tests)."""

    def __init__(self, client, collection: str, shards: int = 1, replicas: int = 1) -> None:
        from qdrant_client import models

        self.client = client
        self.m = models
        self.collection = collection
        if not client.collection_exists(collection):
            client.create_collection(
                collection, vectors_config={},
                sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
                shard_number=shards, replication_factor=replicas)
            if not getattr(client, "_client", None).__class__.__name__ == "QdrantLocal":  # local mode has none
                for name in KEYWORD_FIELDS:
                    client.create_payload_index(collection, name, models.PayloadSchemaType.KEYWORD)
                for name in INTEGER_FIELDS:
                    client.create_payload_index(collection, name, models.PayloadSchemaType.INTEGER)

    def _filter(self, where: Where | None):
        if where is None or not (where.must or where.must_not):
            return None
        return self.m.Filter(must=[self._condition(c) for c in where.must] or None,
                             must_not=[self._condition(c) for c in where.must_not] or None)

    def _condition(self, condition: Condition):
        if isinstance(condition, Range):
            return self.m.FieldCondition(key=condition.key, range=self.m.Range(gte=condition.gte, lte=condition.lte))
        return self.m.FieldCondition(key=condition.key, match=self.m.MatchAny(any=list(condition.values)))

    def _vector(self, value):
        return self.m.SparseVector(indices=list(value.indices), values=list(value.values)) \
            if isinstance(value, Sparse) else list(value)

    def _selector(self, where: Where | list[str]):
        if isinstance(where, list):
            return self.m.PointIdsList(points=where)
        return self.m.FilterSelector(filter=self._filter(where) or self.m.Filter())

    def dense_size(self) -> int | None:
        vectors = self.client.get_collection(self.collection).config.params.vectors
        return vectors[DENSE].size if isinstance(vectors, dict) and DENSE in vectors else None

    def set_dense_size(self, size: int | None) -> None:
        if self.dense_size() is not None:
            self.client.delete_vector_name(self.collection, DENSE)
        if size:
            self.client.create_vector_name(self.collection, DENSE, self.m.DenseVectorNameConfig(
                dense=self.m.DenseVectorConfig(size=size, distance=self.m.Distance.COSINE)))

    def upsert(self, points: list[Point]) -> None:
        self.client.upsert(self.collection, wait=True, points=[
            self.m.PointStruct(id=p.id, payload=p.payload, vector={k: self._vector(v) for k, v in p.vectors.items()})
            for p in points])

    def set_vectors(self, vectors: dict[str, list[float]]) -> None:
        self.client.update_vectors(self.collection, wait=True, points=[
            self.m.PointVectors(id=i, vector={DENSE: list(v)}) for i, v in vectors.items()])

    def set_payload(self, where: Where | list[str], payload: dict[str, Any]) -> None:
        if isinstance(where, list):
            self.client.set_payload(self.collection, payload=payload, points=where, wait=True)
        else:
            self.client.set_payload(self.collection, payload=payload, points=self._selector(where), wait=True)

    def delete(self, where: Where | list[str]) -> None:
        self.client.delete(self.collection, points_selector=self._selector(where), wait=True)

    def retrieve(self, ids: list[str], fields: list[str] | None = None) -> list[Point]:
        return [_point(r) for r in self.client.retrieve(self.collection, ids, with_payload=fields or True)]

    def scroll(self, where: Where, fields: list[str] | bool = True, exclude: list[str] | None = None,
               with_vectors: bool = False, batch: int = 256) -> Iterator[Point]:
        selector = self.m.PayloadSelectorExclude(exclude=exclude) if exclude else fields
        offset = None
        while True:
            records, offset = self.client.scroll(self.collection, scroll_filter=self._filter(where), limit=batch,
                                                 offset=offset, with_payload=selector, with_vectors=with_vectors)
            yield from (_point(r) for r in records)
            if offset is None:
                return

    def count(self, where: Where) -> int:
        return self.client.count(self.collection, count_filter=self._filter(where), exact=True).count

    def query(self, plan: QueryPlan) -> list[Point]:
        m = self.m
        flt = self._filter(plan.where)
        with_vectors = list(plan.with_vectors) or False
        if len(plan.rankings) == 1:
            only = plan.rankings[0]
            result = self.client.query_points(self.collection, query=self._vector(only.vector), using=only.using,
                                              query_filter=flt, limit=plan.limit, with_payload=plan.with_payload,
                                              with_vectors=with_vectors)
        else:
            result = self.client.query_points(
                self.collection, limit=plan.limit, with_payload=plan.with_payload, with_vectors=with_vectors,
                prefetch=[m.Prefetch(query=self._vector(r.vector), using=r.using, limit=plan.candidates, filter=flt)
                          for r in plan.rankings],
                query=m.RrfQuery(rrf=m.Rrf(k=plan.rrf_k, weights=[r.weight for r in plan.rankings])))
        return [_point(p) for p in result.points]

    def optimize(self) -> None:
        """The server optimises in the background."""

    def close(self) -> None:
        self.client.close()


def open_backend(url: str, path: Path, collection: str, api_key: str | None = None, shards: int = 1,
                 replicas: int = 1, timeout_s: float = 10.0) -> SearchBackend:
    """A Qdrant server's collection when `url` is set, else the embedded Qdrant Edge shard at `path`."""
    if url:
        from qdrant_client import QdrantClient

        return ServerBackend(QdrantClient(url=url, api_key=api_key, timeout=int(timeout_s)), collection,
                             shards, replicas)
    return EdgeBackend(path)
