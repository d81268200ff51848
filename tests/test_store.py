"""The two engines agree, and several processes over one Qdrant server stay correct.

No Qdrant server can run here. qdrant-client's local mode implements the server's API, so the
same queries run on Qdrant Edge (the embedded default) and on the server path over local mode
must give the same rankings (allowing for the order of tied points), and each engine's hybrid
ranking must be the fusion of its own two rankings. Two `Service` objects sharing one client
keep separate state, the way two processes share a server.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn
from conftest import CORPUS, free_port, make_settings
from qdrant_client import QdrantClient

from fouassist.index.backends import EdgeBackend, ServerBackend
from fouassist.index.embedding import ModelStatus
from fouassist.index.store import IndexLayoutError, SearchFilters
from fouassist.serve.app import create_app
from fouassist.service import Models, Service, load_models

QUERIES = ["forskningstid", "samarbeid med industrien", "hälsodata för forskning", "Helse Midt-Norge handlingsplan",
           "kollektivtrafik", "innovationsmotor Västerbotten", "kliniska studier och patientmedverkan"]
FILTERS = [None, SearchFilters(languages=["sv"]), SearchFilters(date_from="2024-01-01"),
           SearchFilters(organisations=["Region Stockholm"]),
           SearchFilters(date_from="2023-01-01", date_to="2025-12-31", languages=["sv", "nb"])]


@pytest.fixture(scope="module")
def engines(tmp_path_factory, tiny_model):
    """The corpus in Qdrant Edge and in qdrant-client's local mode, with the same tiny model."""
    root = tmp_path_factory.mktemp("engines")
    settings = make_settings(root / "edge", embedding_model=str(tiny_model))
    models = load_models(settings)
    edge = Service(settings, models)
    server = Service(make_settings(root / "server", embedding_model=str(tiny_model)), models,
                     backend=ServerBackend(QdrantClient(path=str(root / "local-mode")), "fouassist"))
    for service in (edge, server):
        report = service.ingest_paths([CORPUS])
        assert len(report.added) == 5 and report.embedded + report.chunks >= 62
    yield edge, server
    edge.close()
    server.close()


def tie_groups(hits) -> list[list[str]]:
    """Ids grouped by equal score, best first; the order within a group is any engine's."""
    groups: list[list] = []
    for hit in sorted(hits, key=lambda h: -h.score):
        if groups and abs(hit.score - groups[-1][-1].score) <= 1e-4 * max(1.0, abs(hit.score)):
            groups[-1].append(hit)
        else:
            groups.append([hit])
    return [sorted(h.id for h in group) for group in groups]


RRF_K, DENSE_WEIGHT = 2, 1.5


def assert_fused_from_own_rankings(service, sparse, dense, filters, fused_hits) -> None:
    """The hybrid result of an engine is the weighted reciprocal rank fusion (Qdrant's formula) of
    that engine's own two rankings, score for score. With the single rankings compared across
    engines (tie groups and all), this compares the hybrid rankings exactly, ties included: the
    engines' results may differ only where they order tied points differently."""
    expected: dict[str, float] = {}
    for ranking, weight in (((sparse, None), 1.0), ((None, dense), DENSE_WEIGHT)):
        plan = service.store.plan(*ranking, filters, limit=30, candidates=30)
        for position, hit in enumerate(service.store.search(plan) if plan else []):
            expected[hit.id] = expected.get(hit.id, 0.0) + 1 / ((position + 1) / weight + RRF_K - 1)
    assert [h.score for h in fused_hits] == pytest.approx([expected[h.id] for h in fused_hits], rel=1e-5)
    left_out = [score for point, score in expected.items() if point not in {h.id for h in fused_hits}]
    assert not fused_hits or max(left_out, default=0.0) <= fused_hits[-1].score + 1e-9  # the best of them came back


def test_edge_is_the_embedded_engine(engines):
    edge, server = engines
    assert isinstance(edge.store.backend, EdgeBackend) and isinstance(server.store.backend, ServerBackend)
    assert (edge.settings.index_path / "edge_config.json").is_file()
    assert edge.store.count_chunks() == server.store.count_chunks() == 62


@pytest.mark.parametrize("mode", ["sparse", "dense", "hybrid"])
def test_edge_and_server_rank_alike(engines, mode):
    edge, server = engines
    compared = 0
    for query in QUERIES:
        analyzed = edge.interpreter.analyze(query, None, edge.catalog)
        sparse = edge.retriever.sparse_vector(analyzed) if mode != "dense" else None
        dense = edge.embedder().embed_query(query) if mode != "sparse" else None
        for filters in FILTERS:
            plan = edge.store.plan(sparse, dense, filters, limit=15, candidates=30, dense_weight=DENSE_WEIGHT)
            got, expected = edge.store.search(plan), server.store.search(plan)
            assert len(got) == len(expected), (query, filters, mode)
            if mode == "hybrid":
                assert_fused_from_own_rankings(edge, sparse, dense, filters, got)
                assert_fused_from_own_rankings(server, sparse, dense, filters, expected)
                compared += bool(got)
                continue
            assert [h.score for h in got] == pytest.approx([h.score for h in expected], rel=1e-3, abs=1e-5)
            # The same points in the same tie groups; only the last group may be cut differently.
            got_groups, expected_groups = tie_groups(got), tie_groups(expected)
            assert got_groups[:-1] == expected_groups[:-1], (query, filters, mode)
            for hit in got:
                twin = next((h for h in expected if h.id == hit.id), None)
                assert twin is None or twin.payload == hit.payload
            if filters is not None and filters.languages == ["sv"]:
                assert all(h.payload.language == "sv" for h in got)
            if filters is not None and filters.organisations:
                assert got and all(h.payload.organisation == "Region Stockholm" for h in got)
            compared += bool(got)
    assert compared >= len(QUERIES) * len(FILTERS) * 3 // 4  # most combinations find something


def test_edge_answers_like_the_server_path(engines):
    edge, server = engines
    for question in ("Vad säger strategin om forskningstid?", "Hva sier planen om samarbeid med industrien?"):
        a, b = edge.ask(question), server.ask(question)
        assert a.answer == b.answer and [c.start for c in a.citations] == [c.start for c in b.citations]


def test_an_index_of_the_old_layout_is_detected_and_never_read(tmp_path: Path):
    old = tmp_path / "data" / "qdrant"
    (old / "collection" / "fouassist_documents").mkdir(parents=True)
    (old / "meta.json").write_text('{"collections": {}, "aliases": {}}')
    with pytest.raises(IndexLayoutError, match="ingest --reset"):
        Service(make_settings(tmp_path / "data"))


def test_a_store_without_fouassist_metadata_is_refused(tmp_path: Path):
    client = QdrantClient(path=str(tmp_path / "foreign"))
    backend = ServerBackend(client, "fouassist")
    from fouassist.index.backends import Point

    backend.upsert([Point("00000000-0000-0000-0000-000000000001", {"something": "else"})])
    with pytest.raises(IndexLayoutError, match="ingest --reset"):
        Service(make_settings(tmp_path / "data"), Models(None, ModelStatus(False, None, code="unset")), backend=backend)
    client.close()


class _Uvicorn:
    """A real uvicorn server for one service, in a thread, on a loopback port."""

    def __init__(self, service: Service) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        config = uvicorn.Config(create_app(service), host="127.0.0.1", port=int(self.url.rsplit(":", 1)[1]),
                                log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def test_two_processes_sharing_a_server_see_each_others_changes(tmp_path: Path):
    client = QdrantClient(path=str(tmp_path / "shared-server"))
    refresh = 0.5
    one = Service(make_settings(tmp_path / "one", catalog_refresh_s=refresh),
                  backend=ServerBackend(client, "fouassist"))
    two = Service(make_settings(tmp_path / "two", catalog_refresh_s=refresh),
                  backend=ServerBackend(client, "fouassist"))
    servers = [_Uvicorn(one), _Uvicorn(two)]
    try:
        one.ingest_paths([CORPUS])
        time.sleep(refresh + 0.1)
        with httpx.Client(base_url=servers[0].url, timeout=30) as first, \
                httpx.Client(base_url=servers[1].url, timeout=30) as second:
            assert second.get("/health").json()["documents"] == 5
            text = ("Zebraforskning i regionen. Regionen avsätter tre miljoner kronor per år till zebraforskning "
                    "vid universitetssjukhuset, med start hösten 2026.")
            uploaded = first.post("/v1/documents", json={"title": "Zebraplan", "text": text,
                                                         "metadata": {"organisation": "Region Zebra"}})
            assert uploaded.status_code == 201, uploaded.text
            document_id = uploaded.json()["id"]
            time.sleep(refresh + 0.1)
            answer = second.post("/v1/ask", json={"question": "Hur mycket satsas på zebraforskning?"}).json()
            assert not answer["abstained"] and answer["citations"][0]["document_id"] == document_id
            citation = answer["citations"][0]
            opened = second.get(f"/v1/documents/{document_id}")
            assert opened.status_code == 200 and opened.json()["text"].startswith("Zebraforskning")
            context = second.get(f"/v1/documents/{document_id}/context",
                                 params={"start": citation["start"], "end": citation["end"]})
            assert context.status_code == 200 and "tre miljoner" in context.json()["text"]
            assert first.delete(f"/v1/documents/{document_id}").status_code == 204
            time.sleep(refresh + 0.1)
            for _ in range(3):
                after = second.post("/v1/ask", json={"question": "Hur mycket satsas på zebraforskning?"}).json()
                assert all(c["document_id"] != document_id for c in after["citations"] + after["closest"])
            assert second.get(f"/v1/documents/{document_id}").status_code == 404
            assert second.get("/health").json()["documents"] == 5
    finally:
        for server in servers:
            server.stop()
        one.close()
        two.close()


def test_deleted_documents_vanish_and_come_back_with_a_new_ingest(tmp_path: Path):
    service = Service(make_settings(tmp_path / "data"))
    try:
        service.ingest_paths([CORPUS])
        stockholm = next(r["id"] for r in service.documents() if r["source"].startswith("003"))
        service.delete(stockholm)
        assert service.store.count_chunks() == service.health()["chunks"] == 62 - 42
        assert all(p.document_id != stockholm for p in service.retrieve("forskningstid", top_k=10).passages)
        service.ingest_paths([CORPUS])
        assert service.store.count_chunks() == service.health()["chunks"] == 62
        assert "5.1.5" in [p.section for p in service.retrieve("forskningstid", top_k=3).passages]
    finally:
        service.close()


def test_tied_chunks_share_a_rank_and_keep_one_order(tmp_path: Path):
    """Two documents that differ in one word tie on a question without it; the engine returns
    ties in no fixed order, so retrieval orders them by id, gives them one rank, and cuts them
    the same way."""
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, word in (("a.txt", "läkare"), ("b.txt", "barnmorskor")):  # same length in terms, not in letters
        (folder / name).write_text(f"Forskningstid för kliniker ska öka. Regionen avsätter medel för {word}.\n",
                                   encoding="utf-8")
    service = Service(make_settings(tmp_path / "data", manifest=folder / "none.toml"))
    try:
        assert len(service.ingest_paths([folder]).added) == 2
        query = service.interpreter.analyze("forskningstid", "sv", service.catalog)
        runs = [service.retriever.fuse(query, None, None, 30, "lexical") for _ in range(5)]
        first = runs[0]
        assert len(first) == 2 and first[0].fused == first[1].fused
        assert first[0].chunk_id < first[1].chunk_id and first[0].fused_rank == first[1].fused_rank == 0
        assert all([p.chunk_id for p in run] == [p.chunk_id for p in first] for run in runs)
        assert [p.chunk_id for p in service.retriever.fuse(query, None, None, 1, "lexical")] == [first[0].chunk_id]
    finally:
        service.close()
