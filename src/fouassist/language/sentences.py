"""Sentences of Swedish and Norwegian text: NLTK's Punkt model (from llama-index's bundled data)
with the abbreviations after which a period never ends a sentence."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from fouassist.language.words import SENTENCE_ABBREVIATIONS, resource_language

_PUNKT_MODELS = {"sv": "swedish", "nb": "norwegian"}


@dataclass(frozen=True)
class Sentence:
    start: int
    end: int
    heading: bool = False  # a heading or the title, not running text


@lru_cache(maxsize=4)
def _punkt(language: str):
    """NLTK's Punkt sentence model for Swedish or Norwegian, from llama-index's bundled data. The
    data is found without importing llama-index (2 s of the 3.8 s the first question waited)."""
    import nltk
    from nltk.tokenize.punkt import PunktTokenizer

    spec = importlib.util.find_spec("llama_index.core")
    bundled = str(Path(next(iter(spec.submodule_search_locations))) / "_static" / "nltk_cache") if spec else None
    if bundled and bundled not in nltk.data.path:
        nltk.data.path.append(bundled)
    try:
        tokenizer = PunktTokenizer(_PUNKT_MODELS[resource_language(language)])
    except LookupError:  # not where this llama-index version keeps it: let llama-index fetch it
        from llama_index.core.utils import globals_helper

        globals_helper.wait_for_nltk_check()
        tokenizer = PunktTokenizer(_PUNKT_MODELS[resource_language(language)])
    tokenizer._params.abbrev_types.update(SENTENCE_ABBREVIATIONS.get(language, SENTENCE_ABBREVIATIONS["sv"]))
    return tokenizer


def split_sentences(text: str, language: str = "sv", offset: int = 0) -> list[Sentence]:
    """Sentence spans in `text`, shifted by `offset`; a period after an abbreviation never splits."""
    abbreviations = SENTENCE_ABBREVIATIONS.get(language, SENTENCE_ABBREVIATIONS["sv"])
    spans: list[list[int]] = []
    for start, end in _punkt(language).span_tokenize(text):
        if spans:
            previous = text[spans[-1][0]:spans[-1][1]]
            last_word = previous.rsplit(None, 1)[-1].lower().rstrip(".") if previous.strip() else ""
            if previous.endswith(".") and last_word in abbreviations:
                spans[-1][1] = end
                continue
        spans.append([start, end])
    return [Sentence(offset + s, offset + e) for s, e in spans]
