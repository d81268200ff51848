"""The in-memory search of embedded mode gives what Qdrant's own query gives."""

from pathlib import Path

import pytest

from conftest import CORPUS, make_settings
from fouassist.service import Service
from fouassist.store import SearchFilters

QUERIES = ["forskningstid", "samarbeid med industrien", "hälsodata för forskning", "Helse Midt-Norge handlingsplan",
           "kollektivtrafik", "innovationsmotor Västerbotten"]
FILTERS = [None, SearchFilters(languages=["sv"]), SearchFilters(date_from="2024-01-01"),
           SearchFilters(organisations=["Region Stockholm"])]


@pytest.fixture(scope="module")
def services(tmp_path_factory, tiny_model):
    data = tmp_path_factory.mktemp("store") / "data"
    fast = Service(make_settings(data, embedding_model=str(tiny_model)))
    fast.ingest_paths([CORPUS])
    fast.close()
    slow = Service(make_settings(data, embedding_model=str(tiny_model), in_memory_search=False))
    slow_hits = {}
    try:
        assert slow.store.memory is None
        for query in QUERIES:
            sparse = slow.retriever.sparse_vector(slow.retriever.analyze(query))
            dense = slow.embedder.embed_query(query)
            for number, filters in enumerate(FILTERS):
                for mode, vectors in (("sparse", (sparse, None)), ("dense", (None, dense)), ("hybrid", (sparse, dense))):
                    slow_hits[query, number, mode] = slow.store.search(*vectors, filters, None, 20)
    finally:
        slow.close()
    fast = Service(make_settings(data, embedding_model=str(tiny_model)))
    yield fast, slow_hits
    fast.close()


def tie_groups(hits) -> list[list[str]]:
    """Ids grouped by equal score, best first; the order within a group is any implementation's."""
    ordered = sorted(hits, key=lambda h: -h.score)
    groups: list[list] = []
    for hit in ordered:
        if groups and abs(hit.score - groups[-1][-1].score) <= 1e-4 * max(1.0, abs(hit.score)):
            groups[-1].append(hit)
        else:
            groups.append([hit])
    return [sorted(h.id for h in group) for group in groups]


def test_memory_search_matches_qdrants_query(services):
    fast, slow_hits = services
    assert fast.store.memory is not None and len(fast.store.memory) == fast.health()["chunks"]
    compared = 0
    for (query, number, mode), expected in slow_hits.items():
        if mode == "hybrid" and any(len(g) > 1 for m in ("sparse", "dense") for g in tie_groups(slow_hits[query, number, m])):
            continue  # reciprocal rank fusion of tied ranks depends on how each engine orders ties
        sparse = fast.retriever.sparse_vector(fast.retriever.analyze(query))
        dense = fast.embedder.embed_query(query)
        vectors = {"sparse": (sparse, None), "dense": (None, dense), "hybrid": (sparse, dense)}[mode]
        got = fast.store.search(*vectors, FILTERS[number], None, 20)
        assert len(got) == len(expected)
        assert [h.score for h in got] == pytest.approx([h.score for h in expected], rel=1e-3, abs=1e-5)
        # The same documents with the same scores; only near-ties at the cut may differ.
        scores, cut = {h.id: h.score for h in expected}, expected[-1].score if expected else 0.0
        for hit in got:
            assert hit.score == pytest.approx(scores.get(hit.id, cut), rel=1e-3, abs=1e-5), (query, number, mode)
        reference = {h.id: h.payload for h in expected}
        for hit in got:
            assert hit.id not in reference or hit.payload == reference[hit.id]
        compared += 1
    assert compared >= len(slow_hits) * 2 // 3


def test_memory_index_follows_deletes_and_replacements(tmp_path: Path):
    service = Service(make_settings(tmp_path / "data"))
    try:
        service.ingest_paths([CORPUS])
        memory = service.store.memory
        stockholm = next(r["id"] for r in service.documents() if r["source"].startswith("003"))
        service.delete(stockholm)
        assert len(memory) == service.health()["chunks"]
        assert all(p.document_id != stockholm for p in service.retrieve("forskningstid", top_k=10).passages)
        service.ingest_paths([CORPUS])
        assert len(memory) == service.health()["chunks"]
        assert "5.1.5" in [p.section for p in service.retrieve("forskningstid", top_k=3).passages]
    finally:
        service.close()
