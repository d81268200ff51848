"""The embedding model on onnxruntime (float32 and int8) beside torch: the same vectors where they
must be the same, an identity of its own where they are not, a start without torch, and a fall back
to torch float32 (never to lexical-only) with a warning when the backend asked for cannot run.

The exports are made once into the user's model cache (about 15 s each on two cores), as the
service does on its first start."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import CORPUS, child_environment, make_settings

from fouassist.config import Settings
from fouassist.index import model_cache
from fouassist.index.embedding import load_embedder
from fouassist.index.onnx_model import MODEL_FILE
from fouassist.service import Models, Service

MODEL = "intfloat/multilingual-e5-small"


def embedding_settings(**values):
    return make_settings(Path("/nonexistent"), embedding_model=MODEL, **values).embedding


@pytest.fixture(scope="module")
def passages() -> list[str]:
    text = " ".join(p.read_text(encoding="utf-8") for p in sorted(CORPUS.glob("*.txt")))
    words = text.split()
    return [" ".join(words[i:i + 120]) for i in range(0, 120 * 40, 120)]


@pytest.fixture(scope="module")
def embedders():
    loaded = {}
    for backend, quantization in (("torch", "none"), ("onnx", "none"), ("onnx", "int8")):
        embedder, status = load_embedder(embedding_settings(embedding_backend=backend,
                                                            embedding_quantization=quantization))
        loaded[backend, quantization] = embedder, status
    yield loaded
    for embedder, _ in loaded.values():
        embedder.close(5)


def test_float32_on_onnx_gives_torchs_vectors_and_shares_their_identity(embedders, passages):
    (torch_model, torch_status), (onnx_model, onnx_status) = embedders["torch", "none"], embedders["onnx", "none"]
    assert torch_status.backend == "torch float32" and onnx_status.backend.startswith("onnxruntime float32")
    assert onnx_status.warning is None
    cosines = (torch_model.embed_passages(passages) * onnx_model.embed_passages(passages)).sum(axis=1)
    assert cosines.min() >= 0.9999
    query = "Hva sier planen om samarbeid med industrien?"
    assert np.dot(torch_model.embed_query(query), onnx_model.embed_query(query)) >= 0.9999
    assert onnx_model.identity == torch_model.identity


def test_int8_vectors_are_close_but_never_share_an_index_with_float32(embedders, passages):
    (torch_model, _), (int8_model, status) = embedders["torch", "none"], embedders["onnx", "int8"]
    assert status.backend.startswith("onnxruntime int8")
    cosines = (torch_model.embed_passages(passages) * int8_model.embed_passages(passages)).sum(axis=1)
    print(f"int8 against float32 over {len(passages)} passages: min {cosines.min():.4f} mean {cosines.mean():.4f}")
    assert 0.95 <= cosines.min() < 0.9999 and cosines.mean() >= 0.98
    assert int8_model.identity == torch_model.identity + "+int8"


def test_float32_batches_give_each_text_its_own_vector(embedders, passages):
    model, _ = embedders["onnx", "none"]
    texts = [passages[0][:40], passages[1], passages[2][:300], passages[3]]  # padded to the longest
    together = model.embed_passages(texts)
    alone = np.vstack([model.embed_passages([t]) for t in texts])
    assert (together * alone).sum(axis=1).min() >= 0.99999


def test_a_texts_int8_vector_does_not_depend_on_the_texts_beside_it(embedders, passages):
    model, _ = embedders["onnx", "int8"]
    texts = [passages[0][:40], passages[1], passages[2][:300], passages[3]]
    together = model.embed_passages(texts)
    alone = np.vstack([model.embed_passages([t]) for t in texts])
    assert np.array_equal(together, alone)  # nor on the concurrent questions embedded with it


def test_the_onnx_backend_starts_without_importing_torch(embedders):
    probe = ("import sys, time; began = time.perf_counter()\n"
             "from fouassist.index.embedding import load_embedder\n"
             "from fouassist.config import Settings\n"
             "embedder, status = load_embedder(Settings().embedding)\n"
             "embedder.embed_query('Vad säger strategin om forskningstid?')\n"
             "print(status.backend, '|', 'torch' in sys.modules, '|', round(time.perf_counter() - began, 1))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                            env=child_environment())
    backend, torch_imported, seconds = result.stdout.strip().split(" | ")
    print(f"loaded in {seconds} s on {backend}")
    assert backend.startswith("onnxruntime float32") and torch_imported == "False", result.stderr


def test_a_backend_that_cannot_run_falls_back_to_torch_with_a_warning(tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "openvino", None)  # as if the package were not installed
    settings = make_settings(tmp_path / "data", embedding_model=MODEL, embedding_backend="openvino")
    with caplog.at_level(logging.WARNING, logger="fouassist.index.embedding"):
        embedder, status = load_embedder(settings.embedding)
    assert embedder is not None and status.enabled and status.backend == "torch float32"
    assert "openvino package is not installed" in status.warning and "using torch float32" in status.warning
    assert any("openvino package is not installed" in r.getMessage() for r in caplog.records)
    service = Service(settings, models=Models(embedder, status))
    try:
        dense = service.health()["dense"]
        assert dense["enabled"] and dense["backend"] == "torch float32" and "openvino" in dense["warning"]
    finally:
        service.close()
        embedder.close(5)


def test_an_export_damaged_in_place_is_made_again(embedders, tmp_path, caplog):
    """A model file overwritten with its size and time kept passes the cheap check; it is caught
    when the runtime cannot load it, and exported again."""
    cache = tmp_path / "cache"
    _, status = embedders["onnx", "int8"]
    default_cache = Settings.model_fields["model_cache_dir"].default
    export = cache / "onnx" / f"{status.checksum[:16]}-int8"
    shutil.copytree(default_cache, cache, ignore=lambda folder, names: [
        n for n in names if n.endswith((".lock", "fingerprints.json")) or folder.endswith("onnx") and n != export.name])
    assert sorted((cache / "onnx").iterdir()) == [export]
    model_file = export / MODEL_FILE
    stat = model_file.stat()
    model_file.chmod(0o644)
    with model_file.open("r+b") as handle:
        handle.write(b"\0" * 4096)
    os.utime(model_file, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert not model_cache.intact(export)
    with caplog.at_level(logging.WARNING, logger="fouassist.index.onnx_model"):
        embedder, rebuilt = load_embedder(embedding_settings(model_cache_dir=cache, embedding_quantization="int8"))
    try:
        assert any("damaged" in r.getMessage() for r in caplog.records)
        assert rebuilt.backend == status.backend and rebuilt.warning is None
        assert model_cache.intact(export)
        assert len(embedder.embed_query("Hur länge gäller strategin?")) == 384
    finally:
        embedder.close(5)


def test_an_index_follows_the_backend_only_where_the_vectors_are_the_same(tmp_path, tiny_model):
    """torch and onnxruntime float32 share an index; int8 vectors are searched only once ingest has
    embedded the chunks again (from the stored text)."""
    data = tmp_path / "data"

    def opened(backend: str, quantization: str) -> Service:
        service = Service(make_settings(data, embedding_model=str(tiny_model), embedding_backend=backend,
                                        embedding_quantization=quantization))
        assert service.embedder() is not None  # loaded
        return service

    first = opened("torch", "none")
    first.ingest_paths([CORPUS])
    first.close()
    same = opened("onnx", "none")
    try:
        assert same.health()["dense"]["enabled"] and same.ingest_paths([CORPUS]).embedded == 0
    finally:
        same.close()
    quantised = opened("onnx", "int8")
    try:
        dense = quantised.health()["dense"]
        assert dense["enabled"] is False and dense["code"] == "index" and "+int8" in dense["reason"]
        report = quantised.ingest_paths([CORPUS])
        assert len(report.unchanged) == 5 and report.embedded == 62
        assert quantised.health()["dense"]["enabled"] and quantised.store.meta().dense_model.endswith("+int8")
    finally:
        quantised.close()
