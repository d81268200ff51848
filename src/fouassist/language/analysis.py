"""Swedish and Norwegian lexical analysis: language detection, index terms, question concepts.

Everything the sparse (BM25) half of retrieval sees goes through `Analyzer`: chunks at ingest,
questions at query time, so both sides always agree. Tokens, lemmas and compound parts come from
`lemmas`, stop word lists from stop-words, the word lists of its own from the language pack
(`words`). This module is the glue.

Terms and keys: a *term* is a lemma as a reader would write it ("näringsliv", "næringsliv"). Its
*key* is what the index stores: the term with Norwegian and Swedish spellings folded together
(æ -> ä, ø -> ö, -sjon -> -tion), so that "næringsliv" and "näringsliv" meet in the index while
the text shown to people keeps every å, ä, ö, æ and ø.
"""

from __future__ import annotations

import math
import zlib
from collections import Counter
from dataclasses import dataclass, field

import simplemma
from rapidfuzz import fuzz, process
from stop_words import get_stop_words

from fouassist.language.lemmas import MAX_WORD_CHARS, compound_lemma, normalize, split_compound, tokens
from fouassist.language.words import FRAME_WORDS, LANGUAGE_MARKERS, STOPWORDS_ADDED, STOPWORDS_KEPT

ANALYZER_VERSION = "2"
LANGUAGES = ("sv", "nb", "nn")

# Weights of what a token contributes to the index: its lemma counts once, each compound part
# half, so a passage that says "forskning" outright outranks one that only says "forskningstid".
PART_WEIGHT = 0.5
FRAME_WEIGHT = 0.25
COGNATE_WEIGHT = 0.7

_NYNORSK_ONLY = LANGUAGE_MARKERS["nn"] - LANGUAGE_MARKERS["nb"]
_SV_LETTERS = set("äöÄÖ")
_NO_LETTERS = set("æøÆØ")


@dataclass(frozen=True)
class Concept:
    """One content word of a question, with the index terms that count as mentioning it."""

    surface: str
    full: dict[str, float]  # key -> weight: the lemma itself, cognates in the other language
    parts: tuple[str, ...] = ()  # keys of compound parts; all present count as the word
    frame: bool = False

    def keys(self) -> dict[str, float]:
        weights = dict(self.full)
        for part in self.parts:
            weights.setdefault(part, PART_WEIGHT)
        if self.frame:
            weights = {k: w * FRAME_WEIGHT for k, w in weights.items()}
        return weights

    def match(self, present: set[str] | dict[str, float]) -> float:
        """How fully a passage with these term keys mentions the concept (0..1)."""
        best = max((w for k, w in self.full.items() if k in present), default=0.0)
        if self.parts:
            found = sum(1 for p in self.parts if p in present)
            best = max(best, 0.9 * found / len(self.parts))
        return min(best, 1.0)

    def in_index(self, df: dict[str, int]) -> bool:
        """Whether an index with these document frequencies has the word (its lemma, an
        equivalent, or all its compound parts)."""
        return any(df.get(k) for k in self.full) or bool(self.parts) and all(df.get(p) for p in self.parts)


@dataclass
class AnalyzedQuery:
    text: str
    language: str
    concepts: list[Concept] = field(default_factory=list)

    @property
    def content(self) -> list[Concept]:
        return [c for c in self.concepts if not c.frame]

    def sparse_weights(self) -> dict[str, float]:
        weights: dict[str, float] = {}
        for concept in self.concepts:
            for key, weight in concept.keys().items():
                weights[key] = max(weights.get(key, 0.0), weight)
        return weights


def term_key(term: str) -> str:
    """Fold Norwegian and Swedish spellings of one word together (index side only)."""
    key = term.replace("æ", "ä").replace("ø", "ö")
    if key.endswith("sjon") or key.endswith("sjonen"):
        key = key.replace("sjon", "tion")
    return key


def term_id(key: str) -> int:
    """Stable 31-bit index of a term key in the sparse vector space."""
    return zlib.crc32(key.encode("utf-8")) & 0x7FFFFFFF


class Analyzer:
    """Turns text into weighted index terms and questions into concepts."""

    def __init__(self) -> None:
        swedish = (set(get_stop_words("swedish")) | STOPWORDS_ADDED["sv"]) - STOPWORDS_KEPT
        norwegian = (set(get_stop_words("norwegian")) | STOPWORDS_ADDED["nb"]) - STOPWORDS_KEPT
        self.stopwords = {"sv": swedish, "nb": norwegian, "nn": norwegian | STOPWORDS_ADDED["nn"]}
        self.any_stopword = swedish | norwegian | STOPWORDS_ADDED["nn"]

    # -- language ---------------------------------------------------------------------------
    def detect_language(self, text: str, default: str = "sv") -> str:
        """Swedish, Bokmål or Nynorsk, from letters, function words and known words."""
        words = tokens(text[:20_000])
        if not words:
            return default
        scores = dict.fromkeys(LANGUAGES, 0.0)
        counts = Counter(words)
        total = sum(counts.values())
        for lang, markers in LANGUAGE_MARKERS.items():
            scores[lang] += 3.0 * sum(n for w, n in counts.items() if w in markers) / total
            if words[0] in markers:  # a question's first word ("Hva", "Vad", "Kva") settles most cases
                scores[lang] += 1.0
        # Letters count, but less than words: a Swedish place name in a Norwegian question
        # ("... i Västerbotten?") must not make it Swedish.
        sv_letters = sum(text.count(c) for c in _SV_LETTERS)
        no_letters = sum(text.count(c) for c in _NO_LETTERS)
        letters = sv_letters + no_letters
        if letters:
            scores["sv"] += 0.75 * sv_letters / letters
            scores["nb"] += 0.75 * no_letters / letters
            scores["nn"] += 0.75 * no_letters / letters
        known = dict(simplemma.langdetect(" ".join(words[:2000]), lang=LANGUAGES))
        for lang in LANGUAGES:
            scores[lang] += known.get(lang, 0.0)
        if scores["nn"] > scores["nb"] and not any(w in _NYNORSK_ONLY for w in counts):
            scores["nn"] = scores["nb"] - 1e-6
        best = max(scores, key=lambda lang: scores[lang])
        return best if scores[best] > 0 else default

    # -- indexing ---------------------------------------------------------------------------
    def is_stopword(self, word: str, lang: str) -> bool:
        return word in self.stopwords.get(lang, self.stopwords["sv"])

    def word_terms(self, word: str, lang: str) -> list[tuple[str, float]]:
        """Index terms for one token: its lemma (1.0) and compound parts (0.5 each)."""
        if self.is_stopword(word, lang) or (len(word) < 2 and not word.isdigit()):
            return []
        if len(word) > MAX_WORD_CHARS:  # no word: indexed as itself, cut short, never analysed
            return [(normalize(word[:MAX_WORD_CHARS])[:MAX_WORD_CHARS], 1.0)]
        base = compound_lemma(word, lang)
        if self.is_stopword(base, lang):
            return []
        terms = [(base, 1.0)]
        terms.extend((part, PART_WEIGHT) for part in split_compound(base, lang) if part != base)
        return terms

    def term_weights(self, text: str, lang: str) -> Counter[str]:
        """Weighted term frequencies (by key) of a passage."""
        counts: Counter[str] = Counter()
        for word in tokens(text):
            for term, weight in self.word_terms(word, lang):
                counts[term_key(term)] += weight
        return counts

    def bm25_vector(self, counts: Counter[str], k1: float, b: float, avg_terms: float) -> dict[int, float]:
        """BM25 term-frequency saturation; Qdrant's IDF modifier supplies the IDF at query time."""
        length = sum(counts.values())
        norm = k1 * (1 - b + b * length / avg_terms)
        vector: dict[int, float] = {}
        for key, tf in counts.items():
            index = term_id(key)
            vector[index] = vector.get(index, 0.0) + tf * (k1 + 1) / (tf + norm)
        return vector

    # -- questions --------------------------------------------------------------------------
    def analyze_query(self, text: str, language: str | None = None) -> AnalyzedQuery:
        lang = language or self.detect_language(text)
        frame_words = FRAME_WORDS.get(lang, FRAME_WORDS["sv"])
        concepts: list[Concept] = []
        seen: set[str] = set()
        for word in tokens(text):
            # A question may mix languages ("Hva sier ... om forskningstid?"): a function word of
            # any of them is no content.
            if word in self.any_stopword:
                continue
            terms = self.word_terms(word, lang)
            if not terms:
                continue
            base = terms[0][0]
            if base in seen:
                continue
            seen.add(base)
            parts = tuple(term_key(t) for t, _ in terms[1:])
            frame = word in frame_words or base in frame_words
            concepts.append(Concept(surface=word, full={term_key(base): 1.0}, parts=parts, frame=frame))
        return AnalyzedQuery(text=text, language=lang, concepts=concepts)


@dataclass
class Vocabulary:
    """Document frequencies of term keys over the chunks in the index, by document language."""

    chunk_count: int = 0
    df: Counter[str] = field(default_factory=Counter)
    by_language: dict[str, set[str]] = field(default_factory=dict)
    _buckets: dict[tuple[str, str], list[str]] = field(default_factory=dict, repr=False)

    def add(self, language: str, chunk_count: int, df: dict[str, int]) -> None:
        self.chunk_count += chunk_count
        self.df.update(df)
        self.by_language.setdefault(language, set()).update(df)
        self._buckets.clear()

    def remove(self, language: str, chunk_count: int, df: dict[str, int]) -> None:
        self.chunk_count -= chunk_count
        self.df.subtract(df)
        for key in [k for k in df if self.df[k] <= 0]:
            del self.df[key]
        self.by_language[language] = {k for k in self.by_language.get(language, set()) if k in self.df}
        self._buckets.clear()

    def idf(self, key: str) -> float:
        n, df = max(self.chunk_count, 1), self.df.get(key, 0)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def cognates(self, key: str, other_languages: list[str], limit: int = 2) -> dict[str, float]:
        """Near spellings of `key` among the terms of documents in other languages.

        Swedish and Norwegian share most roots: samarbeid ~ samarbete, kompetanse ~ kompetens,
        utvikling ~ utveckling. Only words of five letters or more, above 80 % similarity.
        """
        if len(key) < 5 or not key.isalpha():
            return {}
        found: dict[str, float] = {}
        for lang in other_languages:
            bucket = self._bucket(lang, key[:2])
            for candidate, score, _ in process.extract(key, bucket, scorer=fuzz.ratio, score_cutoff=80, limit=limit):
                if candidate != key:
                    found[candidate] = max(found.get(candidate, 0.0), COGNATE_WEIGHT * score / 100)
        return found

    def _bucket(self, lang: str, prefix: str) -> list[str]:
        cache_key = (lang, prefix)
        if cache_key not in self._buckets:
            self._buckets[cache_key] = sorted(k for k in self.by_language.get(lang, ()) if k.startswith(prefix))
        return self._buckets[cache_key]
