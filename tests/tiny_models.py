"""Tiny sentence-transformers models built from the corpus, for tests and benchmarks.

No model can be downloaded here, so the dense path is exercised with a small BERT whose weights
are random (seeded) and whose WordPiece vocabulary is trained on the given texts. Its vectors
carry no meaning, but loading, prefixes, batching, vector size and the hybrid query are real.

    python tests/tiny_models.py OUT_DIR [TEXT_DIR]   # build one from the command line
"""

from __future__ import annotations

import sys
from pathlib import Path


def _tokenizer(texts: list[str]):
    from tokenizers import Tokenizer, normalizers, pre_tokenizers
    from tokenizers.models import WordPiece
    from tokenizers.trainers import WordPieceTrainer
    from transformers import BertTokenizerFast

    tokenizer = Tokenizer(WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=False)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = WordPieceTrainer(vocab_size=2000, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    tokenizer.train_from_iterator(texts, trainer)
    return BertTokenizerFast(tokenizer_object=tokenizer, do_lower_case=True, strip_accents=False)


def _config(vocabulary_size: int, dimension: int, **extra):
    from transformers import BertConfig

    return BertConfig(vocab_size=vocabulary_size, hidden_size=dimension, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=dimension * 2, max_position_embeddings=512, **extra)


def build_tiny_model(out_dir: Path, texts: list[str], dimension: int = 32, seed: int = 7) -> Path:
    """Save a sentence-transformers model directory at `out_dir` and return it."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from transformers import BertModel

    torch.manual_seed(seed)
    out_dir = Path(out_dir)
    raw_dir = out_dir.parent / f"{out_dir.name}-transformer"
    fast = _tokenizer(texts)
    BertModel(_config(len(fast), dimension)).save_pretrained(raw_dir)
    fast.save_pretrained(raw_dir)
    transformer = Transformer(str(raw_dir), max_seq_length=256)
    pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
    SentenceTransformer(modules=[transformer, pooling], device="cpu").save(str(out_dir))
    return out_dir


def build_tiny_cross_encoder(out_dir: Path, texts: list[str], dimension: int = 32, seed: int = 7) -> Path:
    """Save a one-label BERT classifier that sentence-transformers' CrossEncoder can load."""
    import torch
    from transformers import BertForSequenceClassification

    torch.manual_seed(seed)
    fast = _tokenizer(texts)
    BertForSequenceClassification(_config(len(fast), dimension, num_labels=1)).save_pretrained(out_dir)
    fast.save_pretrained(out_dir)
    return Path(out_dir)


if __name__ == "__main__":
    target = Path(sys.argv[1])
    source = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(__file__).resolve().parents[1] / "ingest" / "corpus"
    corpus = [p.read_text(encoding="utf-8", errors="replace") for p in sorted(source.glob("*")) if p.is_file()]
    print(build_tiny_model(target, corpus))
