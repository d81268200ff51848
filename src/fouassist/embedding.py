"""Dense embeddings and the optional cross-encoder, loaded through sentence-transformers.

A model is named by a hub id ("intfloat/multilingual-e5-small") or a local directory. Loading
never hangs on a missing network: a local directory is loaded from disk, a hub id first from
the local cache, and only when the hub answers within `hub_timeout_s` from the hub. When no
model can be had, the caller gets a `ModelStatus` that says why, and the service runs
lexical-only.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelStatus:
    enabled: bool
    model: str | None
    reason: str | None = None
    dimension: int | None = None
    code: str | None = None  # why not: unset, missing, broken, offline, download_failed, index


class ModelUnavailable(Exception):
    def __init__(self, reason: str, code: str) -> None:
        super().__init__(reason)
        self.code = code


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


def load_model(class_name: str, name: str, hub_timeout_s: float, device: str, **kwargs):
    """Load a sentence-transformers SentenceTransformer or CrossEncoder, or raise ModelUnavailable.

    Whether the model can be had is settled before sentence-transformers (and torch) are imported,
    so that a service without its model starts in a second, not in several.
    """
    def load(source: str, **extra):
        import sentence_transformers

        return getattr(sentence_transformers, class_name)(source, device=device, **extra, **kwargs)

    if _looks_like_path(name):
        path = Path(name).expanduser()
        if not path.is_dir():
            raise ModelUnavailable(f"model directory {path} does not exist; fix the path or unset it", "missing")
        source, extra = str(path), {"local_files_only": True}
    elif (snapshot := _cached_snapshot(name)) is not None:
        source, extra = snapshot, {"local_files_only": True}
    elif _hub_reachable(hub_timeout_s):
        source, extra = name, {}
    else:
        raise ModelUnavailable(
            f"{name} is not in the local model cache and the model hub cannot be reached within "
            f"{hub_timeout_s:g} s; download it on a connected machine or point the setting at a local directory",
            "offline",
        )
    try:
        return load(source, **extra)
    except Exception as error:  # a broken model can fail in many ways
        code = "download_failed" if source == name and not extra else "broken"
        raise ModelUnavailable(f"{name} could not be loaded ({type(error).__name__}: {error})", code) from None


class Embedder:
    """Encodes passages and queries with the prefixes the model was trained with."""

    def __init__(self, model, name: str, query_prefix: str, passage_prefix: str, batch_size: int) -> None:
        self.model = model
        self.name = name
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self.batch_size = batch_size
        self.dimension = int(model.get_embedding_dimension() if hasattr(model, "get_embedding_dimension")
                             else model.get_sentence_embedding_dimension())
        self._lock = threading.Lock()  # torch inference from many request threads at once only thrashes 2 cores

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            return self.model.encode(
                [self.passage_prefix + t for t in texts], batch_size=self.batch_size,
                normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False,
            )

    def embed_query(self, text: str) -> list[float]:
        with self._lock:
            vector = self.model.encode(
                [self.query_prefix + text], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
            )
        return vector[0].tolist()


def _prefixes(model, name: str, query: str | None, passage: str | None) -> tuple[str, str]:
    prompts = getattr(model, "prompts", None) or {}
    default_query, default_passage = "", ""
    if "query" in prompts:
        default_query = prompts["query"]
        default_passage = prompts.get("passage", prompts.get("document", ""))
    elif "e5" in name.lower():
        default_query, default_passage = "query: ", "passage: "
    return (default_query if query is None else query, default_passage if passage is None else passage)


def _load_or_explain(class_name: str, name: str, what: str, hub_timeout_s: float, device: str, unset: str):
    """(model, status) for a sentence-transformers model class, or (None, status with the reason)."""
    if not name.strip():
        return None, ModelStatus(False, None, unset, code="unset")
    try:
        model = load_model(class_name, name, hub_timeout_s, device)
    except ModelUnavailable as error:
        log.warning("%s is OFF: %s", what, error)
        return None, ModelStatus(False, name, str(error), code=error.code)
    return model, ModelStatus(True, name)


def load_embedder(
    name: str,
    *,
    query_prefix: str | None,
    passage_prefix: str | None,
    batch_size: int,
    device: str,
    hub_timeout_s: float,
) -> tuple[Embedder | None, ModelStatus]:
    """The embedder and its status; (None, status with reason) when it cannot be loaded."""
    model, status = _load_or_explain(
        "SentenceTransformer", name, "Dense search (running lexical-only)", hub_timeout_s, device,
        "no embedding model is configured (FOUASSIST_EMBEDDING_MODEL is empty)",
    )
    if model is None:
        return None, status
    query, passage = _prefixes(model, name, query_prefix, passage_prefix)
    embedder = Embedder(model, name, query, passage, batch_size)
    log.info("Embedding model %s loaded (dimension %d)", name, embedder.dimension)
    return embedder, ModelStatus(True, name, None, embedder.dimension)


def load_reranker(name: str, *, device: str, hub_timeout_s: float):
    """A sentence-transformers CrossEncoder and its status; None (with a warning) when unavailable."""
    return _load_or_explain("CrossEncoder", name, "Reranking", hub_timeout_s, device, "no reranker is configured")
