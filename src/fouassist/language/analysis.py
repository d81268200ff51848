"""Swedish and Norwegian lexical analysis: language detection, tokens, lemmas, compounds, stop words.

Everything the sparse (BM25) half of retrieval sees goes through `Analyzer`: chunks at ingest,
questions at query time, so both sides always agree. The linguistic data comes from libraries:
simplemma (lemmas), wordfreq (word frequencies, for compound splitting) and stop-words (stop word
lists); the word lists of its own are in the language pack (`words`). This module is the glue.

Terms and keys: a *term* is a lemma as a reader would write it ("näringsliv", "næringsliv"). Its
*key* is what the index stores: the term with Norwegian and Swedish spellings folded together
(æ -> ä, ø -> ö, -sjon -> -tion), so that "næringsliv" and "näringsliv" meet in the index while
the text shown to people keeps every å, ä, ö, æ and ø.
"""

from __future__ import annotations

import math
import re
import unicodedata
import zlib
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

import simplemma
import wordfreq
from rapidfuzz import fuzz, process
from stop_words import get_stop_words

from fouassist.language.words import FRAME_WORDS, LANGUAGE_MARKERS, STOPWORDS_ADDED, STOPWORDS_KEPT, resource_language

ANALYZER_VERSION = "2"
LANGUAGES = ("sv", "nb", "nn")

# Weights of what a token contributes to the index: its lemma counts once, each compound part
# half, so a passage that says "forskning" outright outranks one that only says "forskningstid".
PART_WEIGHT = 0.5
FRAME_WEIGHT = 0.25
COGNATE_WEIGHT = 0.7

# Words (letters, with inner hyphens or apostrophes: "life-science", "covid-19") and numbers
# ("5.1.5", "2025-2028"); a digit glued to a word is a footnote mark ("klinisk1") and splits off.
_TOKEN_RE = re.compile(r"[^\W\d_]+(?:['’-][^\W_]+)*|\d+(?:[.:,-]\d+)*")
_LINKING = ("s", "e")  # forskning-s-system, barn-e-hage
_MIN_PART = 3
_MIN_MODIFIER = 4  # "per|son|centrerad" must not happen
_PART_PENALTY = 0.4  # each extra part must pay for itself in frequency
_MAX_PARTS = 4
_MIN_PART_ZIPF = 3.0  # a part must be a word seen at least once per million words
_MIN_SHORT_PART_ZIPF = 4.5  # three-letter parts ("tid", "liv") must be common words
_LEXICALISED_ZIPF = 4.0  # words this common are kept whole ("sjukvård", "landsting")
_SPLIT_MARGIN = 0.3

# Bounds on the analysis of one token. The longest word forms anywhere in the data are 46 letters
# (simplemma's Swedish dictionary: "arbetspensionsförsäkringsavgiftsbedrägeriernas"; its Bokmål one
# tops out at 33, Nynorsk at 31, wordfreq's lists at 33, the default corpus at 28 and the eval set
# at 30; hyphenated entries at 33 characters and 4 pieces). A token longer than MAX_WORD_CHARS is
# no word: it is neither lemmatised nor split, counts as unknown (Zipf 0), and is indexed as its
# first MAX_WORD_CHARS characters, so that no term key and no cache entry grows with the input.
# Segmenting costs about n² in the length, which these bounds keep at a constant.
# The caches below hold only words of up to MAX_WORD_CHARS characters, so each entry is small;
# measured with tracemalloc, worst case (48 characters of 4 bytes each) and 48 Swedish letters:
# _cached_zipf 500,000 x 372 B = 177 MiB (110 MiB), _lemma 500,000 x 616 B = 294 MiB (153 MiB),
# _split_word 200,000 x 925 B = 176 MiB (113 MiB). This module asks simplemma's lemmatize (cached,
# 65,536 entries) and wordfreq (cached, 100,000 entries, then cleared) about such words only.
MAX_WORD_CHARS = 48
_MAX_PIECES = 6  # a hyphenated word of more pieces ("a-b-c-d-e-f-g") is not split
_TIE = 1e-9  # prefix sums closer than this may still tie once the rest is added (float rounding)

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


def normalize(text: str) -> str:
    """NFC, lower case and typographic apostrophes; diacritics stay as they are."""
    return unicodedata.normalize("NFC", text).replace("’", "'").lower()


def term_key(term: str) -> str:
    """Fold Norwegian and Swedish spellings of one word together (index side only)."""
    key = term.replace("æ", "ä").replace("ø", "ö")
    if key.endswith("sjon") or key.endswith("sjonen"):
        key = key.replace("sjon", "tion")
    return key


def term_id(key: str) -> int:
    """Stable 31-bit index of a term key in the sparse vector space."""
    return zlib.crc32(key.encode("utf-8")) & 0x7FFFFFFF


def tokens(text: str) -> list[str]:
    return _TOKEN_RE.findall(normalize(text))


def _zipf(word: str, lang: str) -> float:
    # Never ask wordfreq about an over-long token: its own cache keeps every word it was asked.
    return 0.0 if len(word) > MAX_WORD_CHARS else _cached_zipf(word, lang)


@lru_cache(maxsize=500_000)
def _cached_zipf(word: str, lang: str) -> float:
    return wordfreq.zipf_frequency(word, resource_language(lang), wordlist="best")  # no Nynorsk list


def zipf(word: str, lang: str) -> float:
    """How common a word is in the language at large (Zipf scale: 0 unknown .. 7 the commonest)."""
    return 0.0 if len(word) > MAX_WORD_CHARS else _zipf(normalize(word), lang)


def lemma(word: str, lang: str) -> str:
    """Dictionary form of a word; a token longer than MAX_WORD_CHARS is returned as it is (normalised)."""
    if len(word) > MAX_WORD_CHARS:
        return normalize(word)
    return _lemma(word, lang)


@lru_cache(maxsize=500_000)
def _lemma(word: str, lang: str) -> str:
    word = normalize(word)
    if not word.isalpha():
        return word
    base = normalize(simplemma.lemmatize(word, lang=lang))
    # Guard against the odd bad entry (sv "vetenskap" -> "vetenskapa"): never trade a common
    # word for a lemma that no corpus has seen.
    if base != word and _zipf(base, lang) == 0 and _zipf(word, lang) >= _MIN_PART_ZIPF:
        return word
    # Genitives the lemmatizer does not know, mostly names: "stockholms" -> "stockholm".
    if base == word and word.endswith("s") and len(word) > 5:
        stem = word[:-1]
        if max(_zipf(stem, "sv"), _zipf(stem, "nb")) > max(_zipf(word, "sv"), _zipf(word, "nb")) + 0.5:
            return stem
    return base


def _part_zipf(piece: str, lang: str) -> float:
    """Frequency of a compound part; short parts must be common to count."""
    zipf = _zipf(piece, lang)
    needed = _MIN_PART_ZIPF if len(piece) >= 4 else _MIN_SHORT_PART_ZIPF
    return zipf if zipf >= needed else 0.0


def _modifier(piece: str, lang: str) -> tuple[str, float] | None:
    """The dictionary form of a compound's first element: kvinno- -> kvinna, forsknings- -> forskning."""
    forms = [piece]
    if piece[-1] in _LINKING and len(piece) > _MIN_MODIFIER:
        forms.append(piece[:-1])
    if piece[-1] in "ou":
        forms.append(piece[:-1] + "a")
    scored = [(form, _part_zipf(form, lang)) for form in forms]
    form, zipf = max(scored, key=lambda item: item[1])
    return (form, zipf) if zipf > 0 else None


def _head(piece: str, lang: str) -> tuple[str, float] | None:
    zipf = _part_zipf(piece, lang)
    if zipf:
        return piece, zipf
    base = lemma(piece, lang)
    if base != piece and piece.startswith(base):
        zipf = _part_zipf(base, lang)
        if zipf:
            return base, zipf
    return None


def _best_split(word: str, lang: str) -> tuple[tuple[str, float], ...] | None:
    """The best reading of `word` as one to three known modifiers and a known head, or None.

    "Best" is the highest `_split_score`; among equal scores, the reading whose cut positions come
    first (as tuples), which is the order in which one would list every reading by trying the
    first cut at each position in turn, then the next. Dynamic programming over cut positions:
    for each position and number of modifiers so far, only the readings of the prefix whose summed
    Zipf is (within rounding) the highest are kept, since whatever follows adds the same to each.
    Work is about n² modifier look-ups for a word of n letters, with no recursion.
    """
    n = len(word)
    last_cut = n - _MIN_PART
    if last_cut < _MIN_MODIFIER:
        return None
    # prefixes[pos][k]: readings of word[:pos] as k modifiers: (summed zipf, cuts, parts)
    prefixes: list[dict[int, list[tuple[float, tuple[int, ...], tuple[tuple[str, float], ...]]]]] = [
        {} for _ in range(last_cut + 1)
    ]
    prefixes[0][0] = [(0.0, (), ())]
    best: tuple[tuple[str, float], ...] | None = None
    best_score = -math.inf
    best_cuts: tuple[int, ...] = ()
    for pos in range(last_cut + 1):
        states = prefixes[pos]
        if not states:
            continue
        for k, readings in states.items():
            top = max(total for total, _, _ in readings)
            states[k] = [r for r in readings if r[0] >= top - _TIE]
        if pos:
            head = _head(word[pos:], lang)
            if head:
                for readings in states.values():
                    for _, cuts, parts in readings:
                        split = (*parts, head)
                        score = _split_score(split)
                        if score > best_score or (score == best_score and cuts < best_cuts):
                            best, best_score, best_cuts = split, score, cuts
        extendable = [(k, readings) for k, readings in states.items() if k < _MAX_PARTS - 1]
        if not extendable:
            continue
        for cut in range(pos + _MIN_MODIFIER, last_cut + 1):
            modifier = _modifier(word[pos:cut], lang)
            if modifier is None:
                continue
            following = prefixes[cut]
            for k, readings in extendable:
                following.setdefault(k + 1, []).extend(
                    (total + modifier[1], (*cuts, cut), (*parts, modifier)) for total, cuts, parts in readings
                )
    return best


def _split_score(parts: tuple[tuple[str, float], ...]) -> float:
    """Mean Zipf frequency (a geometric mean of frequencies), minus a cost per extra part."""
    return sum(z for _, z in parts) / len(parts) - _PART_PENALTY * (len(parts) - 2)


def split_compound(word: str, lang: str) -> tuple[str, ...]:
    """Split a compound into its parts (after Koehn and Knight's frequency method).

    Returns () when the word is better left whole: when it is short, very common (a
    lexicalised compound such as "sjukvård"), or when no split has parts that are, on average,
    clearly more frequent than the word itself. "forskningstid" -> ("forskning", "tid"),
    "kompetensförsörjning" -> ("kompetens", "försörjning"). A hyphenated word is split at its
    hyphens and each piece on its own ("life-science-industrin" -> life, science, industri).
    Words longer than MAX_WORD_CHARS, and hyphenated ones of more than six pieces, are not split.
    """
    if len(word) > MAX_WORD_CHARS:
        return ()
    word = normalize(word)
    if len(word) > MAX_WORD_CHARS:  # lower-casing can lengthen a word ("İ" -> "i̇")
        return ()
    if "-" not in word:
        return _split_word(word, lang)
    pieces = [p for p in word.split("-") if p]
    if len(pieces) > _MAX_PIECES:
        return ()
    parts: list[str] = []
    for piece in pieces:
        parts.extend(_split_word(normalize(piece), lang) or (lemma(piece, lang),))
    return tuple(parts) if len(parts) > 1 else ()


@lru_cache(maxsize=200_000)
def _split_word(word: str, lang: str) -> tuple[str, ...]:
    """split_compound of a normalised word without hyphens."""
    if len(word) < _MIN_MODIFIER + _MIN_PART or len(word) > MAX_WORD_CHARS or not word.isalpha():
        return ()
    whole = _zipf(word, lang)
    if whole >= _LEXICALISED_ZIPF:
        return ()
    best = _best_split(word, lang)
    if best is None or _split_score(best) <= whole + _SPLIT_MARGIN:
        return ()
    parts = [part for part, _ in best]
    parts[-1] = lemma(parts[-1], lang)  # the head carries the inflection: "...systemet" -> "system"
    return tuple(parts)


def compound_lemma(word: str, lang: str) -> str:
    """Lemma of a word; for a compound the lemmatizer does not know, lemmatize its head.

    "forskningstiden" -> "forskningstid", "life-science-industrin" -> "life-science-industri".
    Only suffixes are stripped (the head's lemma must be a prefix of the head), so a known
    word is never rebuilt from a guessed verb form. A word longer than MAX_WORD_CHARS is
    returned as it is (normalised).
    """
    word = normalize(word)
    if len(word) > MAX_WORD_CHARS:
        return word
    if "-" in word:
        prefix, _, last = word.rpartition("-")
        return f"{prefix}-{_word_lemma(normalize(last), lang)}" if last else word
    return _word_lemma(word, lang)


def _word_lemma(word: str, lang: str) -> str:
    """compound_lemma of a normalised word without hyphens."""
    base = lemma(word, lang)
    if base != word or not word.isalpha() or _zipf(word, lang) > 0 or simplemma.is_known(word, lang):
        return base
    for cut in range(_MIN_MODIFIER, len(word) - _MIN_PART + 1):
        head = word[cut:]
        head_lemma = lemma(head, lang)
        known = simplemma.is_known(head_lemma, lang) or _zipf(head_lemma, lang) >= 2.0
        if head_lemma != head and head.startswith(head_lemma) and known:
            return word[:cut] + head_lemma
    return base


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
