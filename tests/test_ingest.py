"""The real ingestion pipeline into embedded Qdrant on disk: idempotent, repairable, dense or not."""

import shutil
import threading
import time
from pathlib import Path

import pytest
from conftest import CORPUS, make_settings
from test_documents import pdf_bytes

from fouassist.index.backends import DENSE
from fouassist.index.embedding import load_embedder
from fouassist.index.store import CHUNKS, ChunkPayload
from fouassist.ingest.indexer import Ingestor
from fouassist.service import Service


def chunk_payloads(service: Service) -> list[ChunkPayload]:
    return [payload for _, payload in service.store.chunks()]


def dense_vectors(service: Service) -> list[list[float] | None]:
    return [p.vectors.get(DENSE) for p in service.store.backend.scroll(CHUNKS, with_vectors=True)]


def test_default_corpus_into_a_fresh_index(corpus_service):
    records = corpus_service.documents()
    assert len(records) == 5
    assert sorted(r["language"] for r in records) == ["nb", "sv", "sv", "sv", "sv"]
    payloads = chunk_payloads(corpus_service)
    assert len(payloads) == sum(r["chunk_count"] for r in records) == corpus_service.health()["chunks"]
    texts = {r["id"]: corpus_service.document(r["id"])["text"] for r in records}
    for payload in payloads:
        assert texts[payload.document_id][payload.start:payload.end] == payload.text
        for sentence in payload.sentences:
            assert payload.start <= sentence.start < sentence.end <= payload.end
        assert payload.status == "complete" and payload.first_page is None  # text files have no pages
    stockholm = [p for p in payloads if p.source.startswith("003")]
    assert all(p.section for p in stockholm)
    assert any(p.section == "5.1.5" and "forskningstid" in p.text for p in stockholm)


def test_reingest_is_a_no_op_and_changes_replace(tmp_path: Path):
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    service = Service(make_settings(tmp_path / "data"))
    try:
        first = service.ingest_paths([corpus])
        assert len(first.added) == 5 and first.chunks > 40
        chunks = service.health()["chunks"]

        again = service.ingest_paths([corpus])
        assert (again.added, again.replaced, len(again.unchanged), again.chunks) == ([], [], 5, 0)
        assert service.health()["chunks"] == chunks

        changed = corpus / "001_6408ebe17459a81e.txt"
        old_id = next(r["id"] for r in service.documents() if r["source"] == changed.name)
        changed.write_text(changed.read_text(encoding="utf-8") + "\n\nEtt nytt avsnitt om forskningstid i Midt-Norge.\n",
                           encoding="utf-8")
        replaced = service.ingest_paths([corpus])
        assert replaced.replaced == [changed.name] and len(replaced.unchanged) == 4
        records = service.documents()
        assert len(records) == 5 and old_id not in {r["id"] for r in records}
        assert service.store.count_chunks(old_id, visible_only=False) == 0
        assert service.health()["chunks"] == sum(r["chunk_count"] for r in records)

        changed.unlink()
        pruned = service.ingest_paths([corpus], prune=True)
        assert pruned.unchanged and len(service.documents()) == 4
        victim = service.documents()[0]["id"]
        service.delete(victim)
        assert service.store.count_chunks(victim, visible_only=False) == 0 and len(service.documents()) == 3
        assert service.health()["chunks"] == len(chunk_payloads(service))
    finally:
        service.close()


def test_bad_files_are_reported_and_the_batch_goes_on(tmp_path: Path, service: Service):
    folder = tmp_path / "batch"
    folder.mkdir()
    (folder / "trasig.pdf").write_bytes(b"%PDF-1.4\n garbage that is no pdf")
    (folder / "binar.txt").write_bytes(bytes(range(256)) * 20)
    (folder / "okand.xyz").write_text("något", encoding="utf-8")
    (folder / "strategi.pdf").write_bytes(pdf_bytes([
        "Regional strategi för forskning\n\n1. Inledning\nForskningen i regionen ska stärkas.",
        "2. Forskningstid\nAlla läkare ska få avsatt forskningstid varje vecka.",
        "3. Samverkan\nRegionen ska samverka med universitet och näringsliv.",
    ]))
    report = service.ingest_paths([folder])
    assert report.added == ["strategi.pdf"]
    failed = dict(report.failed)
    assert set(failed) == {"trasig.pdf", "binar.txt", "okand.xyz"}
    assert "damaged" in failed["trasig.pdf"] and "binary" in failed["binar.txt"] and "unsupported" in failed["okand.xyz"]
    assert [(p.first_page, p.last_page) for p in chunk_payloads(service)] == [(1, 3)]  # one short chunk
    answer = service.ask("Vad säger strategin om forskningstid?")
    assert answer.citations[0].quote == "Alla läkare ska få avsatt forskningstid varje vecka."
    assert answer.citations[0].page == 2


def test_an_interrupted_ingest_is_repaired_on_the_next_start(tmp_path: Path, monkeypatch):
    settings = make_settings(tmp_path / "data")
    service = Service(settings)
    service.ingest_paths([CORPUS / "000_e037c6c320c49dd6.txt"])

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # as if Ctrl-C hit between the chunks and the final status

    monkeypatch.setattr(service.store, "set_record", crash)
    with pytest.raises(KeyboardInterrupt):
        service.ingest_paths([CORPUS / "003_81549dc504a92b33.txt"])
    assert service.store.count_chunks(visible_only=False) > 4  # the half-written document's chunks are on disk
    service.close()
    monkeypatch.undo()

    restarted = Service(settings)
    try:
        assert [r["source"] for r in restarted.documents()] == ["000_e037c6c320c49dd6.txt"]
        assert restarted.store.count_chunks() == restarted.documents()[0]["chunk_count"]
        again = restarted.ingest_paths([CORPUS])
        assert sorted(again.added) == ["001_6408ebe17459a81e.txt", "002_c2cc87c31f0f7b33.txt",
                                       "003_81549dc504a92b33.txt", "004_e0c735d67305268f.txt"]
        assert restarted.store.count_chunks() == sum(r["chunk_count"] for r in restarted.documents())
    finally:
        restarted.close()


def test_repair_trusts_no_stale_catalog_and_removes_only_orphans(tmp_path: Path):
    service = Service(make_settings(tmp_path / "data"))
    try:
        service.ingest_paths([CORPUS / "000_e037c6c320c49dd6.txt", CORPUS / "003_81549dc504a92b33.txt"])
        records = {r["id"]: r["chunk_count"] for r in service.documents()}
        total = sum(records.values())
        first, second = sorted(records)
        # a catalog read before another process finished `second`: its chunks are not orphans
        assert service.store.repair({first: records[first]}) == []
        assert service.store.count_chunks(visible_only=False) == total
        # a record lost with its chunks still there: those chunks are orphans
        service.store.delete_record(second)
        assert service.store.repair({first: records[first]}) == []
        assert service.store.count_chunks(visible_only=False) == records[first]
        assert service.store.count_chunks() == records[first]
    finally:
        service.close()


def test_dense_vectors_from_a_tiny_local_model(tmp_path: Path, tiny_model: Path):
    service = Service(make_settings(tmp_path / "data", embedding_model=str(tiny_model), embedding_batch_size=8))
    try:
        report = service.ingest_paths([CORPUS])
        assert report.dense and len(report.added) == 5
        health = service.health()
        assert health["dense"]["enabled"] is True and health["dense"]["state"] == "ready"
        assert health["dense"]["model"] == str(tiny_model) and health["dense"]["reason"] is None
        assert health["dense"]["source"] == f"local directory {tiny_model}" and len(health["dense"]["checksum"]) == 64
        meta = service.store.meta()
        assert meta.dense_model == f"{tiny_model}@{health['dense']['checksum'][:12]}" and meta.dense_dimension == 32
        assert all(r["dense_model"] == meta.dense_model for r in service.documents())
        vectors = dense_vectors(service)
        assert len(vectors) == 62 and all(len(v) == 32 for v in vectors)
        result = service.retrieve("Vad säger strategin om forskningstid?", top_k=5)
        assert "embedding" in result.timings_ms
        assert any(p.section == "5.1.5" for p in result.passages)
    finally:
        service.close()


def test_missing_model_means_lexical_only_and_a_later_run_adds_dense_vectors(tmp_path: Path, tiny_model: Path):
    data = tmp_path / "data"
    missing = tmp_path / "no-such-model"
    lexical = Service(make_settings(data, embedding_model=str(missing)))
    try:
        lexical.ingest_paths([CORPUS])
        dense = lexical.health()["dense"]
        assert dense["enabled"] is False and dense["model"] == str(missing)
        assert "does not exist" in dense["reason"] and dense["code"] == "missing"
        assert lexical.store.meta().dense_model is None and dense_vectors(lexical) == [None] * 62
        assert lexical.ask("Vad säger strategin om forskningstid?").citations
    finally:
        lexical.close()

    upgraded = Service(make_settings(data, embedding_model=str(tiny_model)))
    try:
        assert upgraded.embedder() is not None  # the model has loaded (in the background)
        dense = upgraded.health()["dense"]
        assert dense["code"] == "index" and dense["enabled"] is False  # not until the vectors are there
        assert "run `fouassist ingest`" in dense["reason"]
        report = upgraded.ingest_paths([CORPUS])
        assert len(report.unchanged) == 5
        assert upgraded.health()["dense"]["enabled"] is True
        assert report.embedded == 62
        vectors = dense_vectors(upgraded)
        assert vectors and all(len(v) == 32 for v in vectors)
        assert len(vectors) == upgraded.health()["chunks"]
    finally:
        upgraded.close()


def test_a_hub_model_fails_fast_without_network(monkeypatch, tmp_path: Path):
    # An empty cache and no hub: loading must give up in seconds, not retry for minutes.
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    started = time.monotonic()
    settings = make_settings(tmp_path / "data", embedding_model="intfloat/multilingual-e5-base", hub_timeout_s=2,
                             model_cache_dir=tmp_path / "models")
    embedder, status = load_embedder(settings.embedding)
    elapsed = time.monotonic() - started
    assert embedder is None and status.enabled is False
    assert "cannot be reached" in status.reason
    assert elapsed < 30, f"gave up only after {elapsed:.0f} s"


def test_files_are_read_and_prepared_in_a_thread_one_ahead_of_the_writing(tmp_path: Path, monkeypatch):
    """Reading, parsing, chunking and analysing run in the reader thread while the previous file
    is embedded and written; files are written in order, and a bad one is reported on its own."""
    folder = tmp_path / "library"
    folder.mkdir()
    for path in sorted(CORPUS.glob("*.txt"))[:3]:
        shutil.copy(path, folder / path.name)
    (folder / "002b-broken.pdf").write_bytes(b"%PDF-1.7 not really")
    threads, written = [], []
    real_prepare, real_write = Ingestor.prepare, Ingestor.write
    monkeypatch.setattr(Ingestor, "prepare", lambda self, document: (
        threads.append(threading.current_thread().name), real_prepare(self, document))[1])
    monkeypatch.setattr(Ingestor, "write", lambda self, prepared, progress=None: (
        written.append(prepared.document.source), real_write(self, prepared, progress))[1])
    service = Service(make_settings(tmp_path / "data"))
    try:
        report = service.ingest_paths([folder])
    finally:
        service.close()
    assert written == sorted(p.name for p in folder.glob("*.txt")) == report.added
    assert [source for source, _ in report.failed] == ["002b-broken.pdf"]
    assert len(threads) == 3 and all(name.startswith("fouassist-read") for name in threads)
