"""Tiny sentence-transformers models built from the corpus, for tests and benchmarks.

No model can be downloaded here, so the dense path is exercised with a small BERT whose weights
are random (seeded) and whose WordPiece vocabulary is trained on the given texts. Its vectors
carry no meaning, but loading, prefixes, batching, vector size and the hybrid query are real.

    python tests/tiny_models.py OUT_DIR [TEXT_DIR]   # build one from the command line
"""

from __future__ import annotations

import sys
from pathlib import Path


def build_tiny_model(out_dir: Path, texts: list[str], dimension: int = 32, seed: int = 7) -> Path:
    """Save a sentence-transformers model directory at `out_dir` and return it."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from tokenizers import Tokenizer, normalizers, pre_tokenizers
    from tokenizers.models import WordPiece
    from tokenizers.trainers import WordPieceTrainer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    torch.manual_seed(seed)
    out_dir = Path(out_dir)
    raw_dir = out_dir.parent / f"{out_dir.name}-transformer"
    tokenizer = Tokenizer(WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=False)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = WordPieceTrainer(vocab_size=2000, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    tokenizer.train_from_iterator(texts, trainer)
    fast = BertTokenizerFast(tokenizer_object=tokenizer, do_lower_case=True, strip_accents=False)
    config = BertConfig(
        vocab_size=tokenizer.get_vocab_size(), hidden_size=dimension, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=dimension * 2, max_position_embeddings=512,
    )
    BertModel(config).save_pretrained(raw_dir)
    fast.save_pretrained(raw_dir)
    transformer = Transformer(str(raw_dir), max_seq_length=256)
    pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
    SentenceTransformer(modules=[transformer, pooling], device="cpu").save(str(out_dir))
    return out_dir


if __name__ == "__main__":
    target = Path(sys.argv[1])
    source = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(__file__).resolve().parents[1] / "ingest" / "corpus"
    corpus = [p.read_text(encoding="utf-8", errors="replace") for p in sorted(source.glob("*")) if p.is_file()]
    print(build_tiny_model(target, corpus))
