"""Search in memory for embedded Qdrant, which scores every point in pure Python.

Embedded Qdrant (`QdrantClient(path=...)`) keeps all points in memory and loops over each one in
Python to score a sparse query: about 20 ms per thousand chunks, 170 ms at 8,000. This index holds
the same vectors as numpy arrays (an inverted index for the sparse vectors, a matrix for the dense
ones) and computes the same result: Qdrant's sparse dot product with its IDF modifier, cosine
similarity, and reciprocal rank fusion with Qdrant's constant. Embedded mode searches here and
reads payloads from Qdrant; with a Qdrant server none of this is used.
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fouassist.store import SearchFilters, date_number

RRF_K = 2  # qdrant-client's and Qdrant's default ranking constant


@dataclass
class Row:
    """What the index keeps of one chunk."""

    id: str
    document_id: str
    organisation: str | None
    language: str | None
    date_number: int | None
    sparse: tuple[list[int], list[float]]
    dense: list[float] | np.ndarray | None


class MemoryIndex:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._clear()

    def _clear(self) -> None:
        self.ids: list[str] = []
        self.documents: list[str] = []
        self.organisations: list[str | None] = []
        self.languages: list[str | None] = []
        self.dates = np.zeros(0, dtype=np.int64)
        self.alive = np.zeros(0, dtype=bool)
        self.row_sparse: list[tuple[list[int], list[float]]] = []
        self.postings: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}  # term -> parts of (rows, weights)
        self.document_frequency: dict[int, int] = {}
        self.dense_rows: list[np.ndarray | None] = []
        self._compiled: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._dense_matrix: np.ndarray | None = None
        self._dense_present = np.zeros(0, dtype=bool)
        self._rows_of_document: dict[str, list[int]] = {}
        self._row_of_id: dict[str, int] = {}

    def __len__(self) -> int:
        return int(self.alive.sum())

    # -- snapshots --------------------------------------------------------------------------------
    def save(self, path: Path, stamp: str) -> None:
        """Write the living rows to `path` (atomically), marked with the state of the store."""
        with self._lock:
            rows = [self._row(r) for r in np.flatnonzero(self.alive)]
        dimension = next((len(r.dense) for r in rows if r.dense is not None), 0)
        dense = np.zeros((len(rows), dimension), dtype=np.float32)
        present = np.zeros(len(rows), dtype=bool)
        for number, row in enumerate(rows):
            if row.dense is not None and len(row.dense) == dimension:
                dense[number], present[number] = row.dense, True
        lengths = np.array([len(r.sparse[0]) for r in rows], dtype=np.int64)
        temporary = path.with_name(path.name + ".tmp.npz")
        np.savez(
            temporary, stamp=np.array(stamp), ids=np.array([r.id for r in rows], dtype=str),
            documents=np.array([r.document_id for r in rows], dtype=str),
            organisations=np.array([r.organisation or "" for r in rows], dtype=str),
            languages=np.array([r.language or "" for r in rows], dtype=str),
            dates=np.array([r.date_number if r.date_number is not None else -1 for r in rows], dtype=np.int64),
            lengths=lengths,
            indices=np.array([i for r in rows for i in r.sparse[0]], dtype=np.int64),
            values=np.array([v for r in rows for v in r.sparse[1]], dtype=np.float32),
            dense=dense, present=present,
        )
        os.replace(temporary, path)

    def load(self, path: Path, stamp: str) -> bool:
        """Take the rows from a snapshot made in the same state of the store; False when there is none."""
        try:
            with np.load(path) as saved:
                if str(saved["stamp"]) != stamp:
                    return False
                bounds = np.concatenate([[0], np.cumsum(saved["lengths"])])
                indices, values = saved["indices"].tolist(), saved["values"].tolist()
                dense, present = saved["dense"], saved["present"]
                rows = [
                    Row(id=i, document_id=d, organisation=o or None, language=lang or None,
                        date_number=int(date) if date >= 0 else None,
                        sparse=(indices[bounds[n]:bounds[n + 1]], values[bounds[n]:bounds[n + 1]]),
                        dense=dense[n] if present[n] else None)
                    for n, (i, d, o, lang, date) in enumerate(zip(
                        saved["ids"].tolist(), saved["documents"].tolist(), saved["organisations"].tolist(),
                        saved["languages"].tolist(), saved["dates"].tolist()))
                ]
        except (OSError, KeyError, ValueError):
            return False
        self.replace_all(rows)
        return True

    # -- changes ----------------------------------------------------------------------------------
    def replace_all(self, rows: list[Row]) -> None:
        with self._lock:
            self._clear()
            self.add(rows)

    def add(self, rows: list[Row]) -> None:
        with self._lock:
            self._kill([self._row_of_id[r.id] for r in rows if r.id in self._row_of_id])  # upserts replace
            start = len(self.ids)
            terms, members, weights = [], [], []
            for number, row in enumerate(rows, start=start):
                self.ids.append(row.id)
                self._row_of_id[row.id] = number
                self.documents.append(row.document_id)
                self.organisations.append(row.organisation)
                self.languages.append(row.language)
                self._rows_of_document.setdefault(row.document_id, []).append(number)
                self.row_sparse.append((list(row.sparse[0]), list(row.sparse[1])))
                terms.extend(row.sparse[0])
                members.extend([number] * len(row.sparse[0]))
                weights.extend(row.sparse[1])
                self.dense_rows.append(np.asarray(row.dense, dtype=np.float32) if row.dense is not None else None)
            self._add_postings(np.asarray(terms, dtype=np.int64), np.asarray(members, dtype=np.int64),
                               np.asarray(weights, dtype=np.float32))
            self.dates = np.concatenate([self.dates, np.array(
                [row.date_number if row.date_number is not None else -1 for row in rows], dtype=np.int64)])
            self.alive = np.concatenate([self.alive, np.ones(len(rows), dtype=bool)])
            self._dense_matrix = None

    def _add_postings(self, terms: np.ndarray, members: np.ndarray, weights: np.ndarray) -> None:
        """Group (term, row, weight) triples by term with numpy: one sort, no per-posting Python."""
        if terms.size == 0:
            return
        order = np.argsort(terms, kind="stable")
        terms, members, weights = terms[order], members[order], weights[order]
        unique, first, counts = np.unique(terms, return_index=True, return_counts=True)
        for term, at, count in zip(unique.tolist(), first.tolist(), counts.tolist()):
            self.postings.setdefault(term, []).append((members[at:at + count], weights[at:at + count]))
            self.document_frequency[term] = self.document_frequency.get(term, 0) + count
            self._compiled.pop(term, None)

    def remove_document(self, document_id: str) -> None:
        with self._lock:
            self._kill(self._rows_of_document.pop(document_id, []))

    def _kill(self, rows: list[int]) -> None:
        """Dead rows stay in the arrays (masked out) but leave the document frequencies; when
        they outnumber the living, the arrays are rebuilt."""
        for row in rows:
            if self.alive[row]:
                self.alive[row] = False
                self._row_of_id.pop(self.ids[row], None)
                for index in self.row_sparse[row][0]:
                    self.document_frequency[index] -= 1
        dead = len(self.ids) - int(self.alive.sum())
        if dead > 1000 and dead > len(self.ids) // 2:
            self.replace_all([self._row(r) for r in np.flatnonzero(self.alive)])

    def _row(self, number: int) -> Row:
        dense = self.dense_rows[number]
        date = int(self.dates[number])
        return Row(self.ids[number], self.documents[number], self.organisations[number], self.languages[number],
                   date if date >= 0 else None, self.row_sparse[number], dense)

    # -- search -----------------------------------------------------------------------------------
    def _mask(self, filters: SearchFilters | None, visible: list[str] | None) -> np.ndarray:
        mask = self.alive.copy()
        documents = np.array(self.documents, dtype=object)
        if visible is not None:
            mask &= np.isin(documents, list(visible))
        if filters is None:
            return mask
        if filters.document_ids:
            mask &= np.isin(documents, filters.document_ids)
        if filters.organisations:
            mask &= np.isin(np.array(self.organisations, dtype=object), filters.organisations)
        if filters.languages:
            mask &= np.isin(np.array(self.languages, dtype=object), filters.languages)
        if filters.date_from or filters.date_to:
            dated = self.dates >= 0
            if filters.date_from:
                dated &= self.dates >= date_number(filters.date_from)
            if filters.date_to:
                dated &= self.dates <= date_number(filters.date_to)
            mask &= dated
        return mask

    def _posting_arrays(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if index not in self._compiled:
            parts = self.postings[index]
            self._compiled[index] = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
        return self._compiled[index]

    def _sparse_ranking(self, indices: list[int], values: list[float], mask: np.ndarray,
                        limit: int) -> list[tuple[int, float]]:
        total = int(self.alive.sum())
        scores = np.zeros(len(self.ids), dtype=np.float32)
        touched = np.zeros(len(self.ids), dtype=bool)
        for index, weight in zip(indices, values):
            if index not in self.postings:
                continue
            frequency = self.document_frequency.get(index, 0)
            idf = math.log((total - frequency + 0.5) / (frequency + 0.5) + 1)
            rows, term_weights = self._posting_arrays(index)
            scores[rows] += weight * idf * term_weights
            touched[rows] = True
        return _top(scores, touched & mask, limit)

    def _dense_ranking(self, query: list[float], mask: np.ndarray, limit: int) -> list[tuple[int, float]]:
        if self._dense_matrix is None:
            dimension = next((len(v) for v in self.dense_rows if v is not None), 0)
            matrix = np.zeros((len(self.dense_rows), dimension), dtype=np.float32)
            present = np.zeros(len(self.dense_rows), dtype=bool)
            for row, vector in enumerate(self.dense_rows):
                if vector is not None and len(vector) == dimension:
                    norm = float(np.linalg.norm(vector)) or 1.0
                    matrix[row] = vector / norm
                    present[row] = True
            self._dense_matrix, self._dense_present = matrix, present
        if self._dense_matrix.shape[1] != len(query):
            return []
        vector = np.asarray(query, dtype=np.float32)
        vector = vector / (float(np.linalg.norm(vector)) or 1.0)
        scores = self._dense_matrix @ vector
        return _top(scores, mask & self._dense_present, limit)

    def search(
        self,
        sparse: tuple[list[int], list[float]] | None,
        dense: list[float] | None,
        filters: SearchFilters | None,
        visible: list[str] | None,
        limit: int,
    ) -> list[tuple[str, float]]:
        """(chunk id, score): the sparse or dense ranking, or both fused with reciprocal rank fusion."""
        with self._lock:
            if not self.ids:
                return []
            mask = self._mask(filters, visible)
            rankings = []
            if dense is not None:
                rankings.append(self._dense_ranking(dense, mask, limit))
            if sparse is not None and sparse[0]:
                rankings.append(self._sparse_ranking(sparse[0], sparse[1], mask, limit))
            if len(rankings) == 1:
                return [(self.ids[row], score) for row, score in rankings[0]]
            fused: dict[int, float] = {}
            for ranking in rankings:
                for position, (row, _) in enumerate(ranking):
                    fused[row] = fused.get(row, 0.0) + 1.0 / (position + RRF_K)
            best = sorted(fused.items(), key=lambda item: -item[1])[:limit]
            return [(self.ids[row], score) for row, score in best]


def _top(scores: np.ndarray, allowed: np.ndarray, limit: int) -> list[tuple[int, float]]:
    """The `limit` best allowed rows, best first, with their scores."""
    candidates = np.flatnonzero(allowed)
    if candidates.size == 0:
        return []
    chosen = scores[candidates]
    if candidates.size > limit:
        keep = np.argpartition(-chosen, limit - 1)[:limit]
        candidates, chosen = candidates[keep], chosen[keep]
    order = np.argsort(-chosen, kind="stable")
    return [(int(candidates[i]), float(chosen[i])) for i in order]
