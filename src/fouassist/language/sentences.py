"""Sentences of Swedish and Norwegian text: NLTK's Punkt model (from llama-index's bundled data)
with the abbreviations after which a period never ends a sentence."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

# Abbreviations after which a period never ends a sentence (lower case, without the last period).
_ABBREVIATIONS = {
    "sv": {"s.k", "enl", "inkl", "exkl", "kap", "t.ex", "bl.a", "m.fl", "m.m", "ca", "dvs", "d.v.s", "resp", "osv",
           "o.s.v", "jfr", "p.g.a", "ang", "nr", "st", "f.d", "t.o.m", "fr.o.m", "prof", "dr", "ex", "t.ex", "mom",
           "prop", "sfs", "vs", "e.d", "o.d", "bl.a", "kl", "s", "jan", "feb", "aug", "sept", "okt", "nov", "dec"},
    "nb": {"f.eks", "bl.a", "m.fl", "m.m", "ca", "dvs", "d.v.s", "osv", "o.l", "jf", "pga", "ang", "nr", "st",
           "kap", "prof", "dr", "mht", "vedr", "iht", "ifm", "evt", "inkl", "ekskl", "kl", "s", "jan", "feb",
           "aug", "sept", "okt", "nov", "des"},
}
_ABBREVIATIONS["nn"] = _ABBREVIATIONS["nb"] | {"t.d", "m.a", "o.a"}
_PUNKT_LANGUAGE = {"sv": "swedish", "nb": "norwegian", "nn": "norwegian"}


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
    tokenizer = PunktTokenizer(_PUNKT_LANGUAGE.get(language, "swedish"))
    tokenizer._params.abbrev_types.update(_ABBREVIATIONS.get(language, _ABBREVIATIONS["sv"]))
    return tokenizer


def split_sentences(text: str, language: str = "sv", offset: int = 0) -> list[Sentence]:
    """Sentence spans in `text`, shifted by `offset`; a period after an abbreviation never splits."""
    abbreviations = _ABBREVIATIONS.get(language, _ABBREVIATIONS["sv"])
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
