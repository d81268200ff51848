"""The embedding model run by onnxruntime or OpenVINO instead of torch (FOUASSIST_EMBEDDING_BACKEND).

The transformer of a sentence-transformers model is exported once to ONNX with torch, with int8
weights when asked (onnxruntime's dynamic quantisation), and kept in the model cache (`model_cache`)
beside its tokenizer and what encoding needs (pooling, maximum length, prompts, dimension), read from
the loaded model at export. Pooling and normalisation are a few numpy lines here, so later starts
import neither torch nor sentence-transformers: the service starts sooner and stays smaller.

Every runtime is compared with torch float32 (whose vectors of a few Swedish and Norwegian texts
are kept with the export) when it loads. Float32 must reproduce torch's vectors (cosine >= 0.9999)
and then shares an index with them; int8 vectors carry an identity of their own (per runtime), so
an index never mixes them with float32's.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fouassist.index import model_cache

log = logging.getLogger(__name__)

FORMAT_VERSION = 3  # bump when the export writes anything differently
MODEL_FILE = "model.onnx"
ENCODING_FILE = "encoding.json"
REFERENCE_FILE = "torch-float32-probe.npy"  # torch's vectors of PROBE_TEXTS, to check every runtime against
RUNTIMES = {"onnx": "onnxruntime", "openvino": "openvino"}
QUANTIZATIONS = ("none", "int8")
FLOAT32_AGREEMENT = 0.9999
INT8_AGREEMENT = 0.95  # below this an int8 export is broken (a tokenizer that differs, say), not just quantised
PROBE_TEXTS = (
    "query: Vad säger strategin om forskningstid för sjuksköterskor?",
    "query: Hva sier planen om samarbeid med industrien?",
    "passage: Regionen ska öka andelen medarbetare med forskningstid och skapa kombinationstjänster "
    "mellan vård, forskning och utbildning. Kliniska studier ska vara en del av vardagen.",
    "passage: Helseforetaket skal styrke samarbeidet med næringslivet om innovasjon, og pasienter "
    "skal få tilbud om å delta i kliniske studier uansett hvor de bor.",
    "passage: Ökad samverkan med akademin.",
)


class OnnxUnavailable(Exception):
    """The runtime is not installed, the model cannot be exported, or its export is not faithful."""


@dataclass(frozen=True)
class OnnxModel:
    encoder: OnnxEncoder
    description: str  # e.g. "onnxruntime int8 (cosine to torch >= 0.985)"
    variant: str | None  # part of the model's identity: None when the vectors equal torch's


class OnnxEncoder:
    """What `Embedder` asks of a sentence-transformers model: `encode`, the dimension, the prompts.

    Float32 encodes in length-sorted batches (the questions of concurrent requests in one run);
    int8 runs each text alone, because its activation scales (one per tensor) would otherwise
    depend on the other texts of the batch and their padding (cosine 0.997 to the same text alone),
    and a question's vector on who else asked. On two idle cores, 145-token passages: float32 23.5
    passages/s in batches of 8, 21.7 alone; int8 34.0 and 35.1."""

    def __init__(self, directory: Path, runtime: str, batched: bool) -> None:
        from tokenizers import Tokenizer

        encoding = json.loads((directory / ENCODING_FILE).read_text(encoding="utf-8"))
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(encoding["max_length"])
        self.pooling = encoding["pooling"]
        self.prompts = encoding["prompts"]
        self.dimension = int(encoding["dimension"])
        self.batched = batched
        self._run = _session(directory / MODEL_FILE, runtime)

    def get_embedding_dimension(self) -> int:
        return self.dimension

    def encode(self, texts: list[str], batch_size: int = 8, normalize_embeddings: bool = True,
               **_sentence_transformers_options) -> np.ndarray:
        token_ids = [e.ids for e in self.tokenizer.encode_batch(list(texts))]
        order = sorted(range(len(texts)), key=lambda i: -len(token_ids[i]))
        step = batch_size if self.batched else 1
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(order), step):
            rows = order[start:start + step]
            ids = np.zeros((len(rows), len(token_ids[rows[0]])), dtype=np.int64)  # padding is masked out
            mask = np.zeros_like(ids)
            for row, index in enumerate(rows):
                ids[row, :len(token_ids[index])] = token_ids[index]
                mask[row, :len(token_ids[index])] = 1
            vectors[rows] = self._pool(self._run(ids, mask), mask)
        if normalize_embeddings:
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors

    def _pool(self, hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if self.pooling == "cls":
            return hidden[:, 0]
        weights = mask[..., None].astype(np.float32)
        return (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)


def _session(path: Path, runtime: str):
    """A function (ids, mask) -> last hidden states, on the runtime named."""
    if runtime == "openvino":
        import openvino

        compiled = openvino.Core().compile_model(str(path), "CPU")
        output = compiled.output(0)
        return lambda ids, mask: compiled({"input_ids": ids, "attention_mask": mask})[output]
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.inter_op_num_threads = 1  # one graph at a time; intra-op threads use every core
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda ids, mask: session.run(None, {"input_ids": ids, "attention_mask": mask})[0]


def _pooling(model) -> str:
    """The pooling of a transformer + pooling (+ normalise) model; anything else has modules this
    export does not reproduce (`Embedder` always normalises)."""
    kinds = [type(module).__name__ for module in model]
    pooling = getattr(model[1], "pooling_mode", None) if kinds[:2] == ["Transformer", "Pooling"] else None
    if pooling not in ("mean", "cls") or kinds[2:] not in ([], ["Normalize"]):
        raise OnnxUnavailable(f"only transformer + mean/cls pooling models are exported (this one: {kinds}, "
                              f"pooling {pooling})")
    return pooling


def _export(source: Path, quantization: str, staging: Path) -> dict:
    """Write the ONNX model, its tokenizer, encoding file and torch's probe vectors into `staging`;
    nothing more for the manifest."""
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    model = SentenceTransformer(str(source), device="cpu", local_files_only=True)
    pooling = _pooling(model)

    class LastHiddenState(torch.nn.Module):
        def __init__(self, transformer) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids, attention_mask):
            return self.transformer(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    sample = model.tokenizer(list(PROBE_TEXTS[:2]), padding=True, return_tensors="pt")
    axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
            "last_hidden_state": {0: "batch", 1: "tokens"}}
    exported = staging / (MODEL_FILE if quantization == "none" else "float32.onnx")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(LastHiddenState(model[0].auto_model.eval()),
                          (sample["input_ids"], sample["attention_mask"]), str(exported),
                          input_names=["input_ids", "attention_mask"], output_names=["last_hidden_state"],
                          dynamic_axes=axes, opset_version=17, dynamo=False)
    if quantization == "int8":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        # Per channel: cosine to float32 0.997 on the corpus (0.985 with one scale per tensor), as fast.
        with _quiet_root_logger():  # "consider pre-processing": tried, no better here
            quantize_dynamic(str(exported), str(staging / MODEL_FILE), weight_type=QuantType.QInt8, per_channel=True)
        exported.unlink()
    model.tokenizer.backend_tokenizer.save(str(staging / "tokenizer.json"))
    encoding = {"pooling": pooling, "max_length": int(model.max_seq_length), "prompts": dict(model.prompts or {}),
                "dimension": int(model.get_embedding_dimension())}
    (staging / ENCODING_FILE).write_text(json.dumps(encoding, indent=2), encoding="utf-8")
    reference = model.encode(list(PROBE_TEXTS), normalize_embeddings=True, convert_to_numpy=True,
                             show_progress_bar=False)
    np.save(staging / REFERENCE_FILE, reference.astype(np.float32))  # every load checks its runtime against it
    return {}


@contextmanager
def _quiet_root_logger():
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def _agreement(encoder: OnnxEncoder, directory: Path) -> float:
    """The lowest cosine between this runtime's vectors of the probe texts and torch float32's."""
    reference = np.load(directory / REFERENCE_FILE)
    return round(float((encoder.encode(list(PROBE_TEXTS)) * reference).sum(axis=1).min()), 5)


def _open(target: Path, runtime: str, batched: bool, ensure) -> OnnxEncoder:
    """The encoder of the export `ensure()` makes or finds; an export damaged in place (it does not
    load and its files no longer hash to the manifest) is removed and made again, once."""
    for attempt in (1, 2):
        try:
            if ensure() is None:
                raise OnnxUnavailable(f"the ONNX export in {target} does not verify; remove it and restart")
        except OnnxUnavailable:
            raise
        except Exception as error:  # the export or the quantiser can fail in many ways
            raise OnnxUnavailable(f"the ONNX export into {target} failed ({type(error).__name__}: {error})") from None
        try:
            return OnnxEncoder(target, runtime, batched)
        except Exception as error:
            if attempt == 2 or model_cache.intact(target):
                raise OnnxUnavailable(f"{RUNTIMES[runtime]} cannot load {target / MODEL_FILE} "
                                      f"({type(error).__name__}: {error})") from None
            log.warning("The cached ONNX model %s is damaged (%s); exporting it again", target, error)
            shutil.rmtree(target, ignore_errors=True)
    raise AssertionError("unreachable")


def load_onnx_model(source: Path, checksum: str, runtime: str, quantization: str, cache_dir: Path) -> OnnxModel:
    """The model in `source` (a sentence-transformers directory whose files hash to `checksum`) on
    `runtime` ("onnx" or "openvino"), exported on first use. Raises OnnxUnavailable."""
    if runtime not in RUNTIMES or quantization not in QUANTIZATIONS:
        raise OnnxUnavailable(f"unknown backend {runtime!r} or quantisation {quantization!r}")
    try:
        __import__(RUNTIMES[runtime])
    except ImportError:
        extra = "" if runtime == "onnx" else " (pip install 'fouassist[openvino]')"
        raise OnnxUnavailable(f"the {RUNTIMES[runtime]} package is not installed{extra}") from None
    target = Path(cache_dir) / "onnx" / f"{checksum[:16]}-{quantization}"
    identity = {"format": FORMAT_VERSION, "source_checksum": checksum, "quantization": quantization}

    def build(directory: Path) -> None:
        log.info("Exporting the embedding model to ONNX (%s) into %s, once; this takes a minute", quantization,
                 directory)
        began = time.perf_counter()
        model_cache.build(directory, identity, lambda staging: _export(source, quantization, staging))
        log.info("ONNX export done in %.0f s", time.perf_counter() - began)

    encoder = _open(target, runtime, quantization == "none", lambda: model_cache.ensure(target, identity, build))
    agreement = _agreement(encoder, target)
    precision = "float32" if quantization == "none" else quantization
    if agreement < (FLOAT32_AGREEMENT if quantization == "none" else INT8_AGREEMENT):
        raise OnnxUnavailable(f"{RUNTIMES[runtime]} {precision} does not reproduce torch's vectors "
                              f"(cosine {agreement})")
    # Runtimes quantise activations differently (openvino int8 to onnxruntime int8: cosine 0.997).
    variant = None if quantization == "none" else quantization if runtime == "onnx" else f"{runtime}-{quantization}"
    return OnnxModel(encoder, f"{RUNTIMES[runtime]} {precision} (cosine to torch float32 >= {agreement})", variant)
