"""Sentences of Swedish and Norwegian text: NLTK's Punkt model (from llama-index's bundled data)
with the abbreviations after which a period never ends a sentence."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from fouassist.language.words import SENTENCE_ABBREVIATIONS, resource_language

_PUNKT_MODELS = {"sv": "swedish", "nb": "norwegian"}


@dataclass(frozen=True)
class Sentence:
    start: int
    end: int
    heading: bool = False  # a heading or the title, not running text


@lru_cache(maxsize=4)
def _punkt(language: str):
    """NLTK's Punkt sentence model for Swedish or Norwegian, from llama-index's bundled data."""
    from llama_index.core.utils import globals_helper
    from nltk.tokenize.punkt import PunktTokenizer

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
