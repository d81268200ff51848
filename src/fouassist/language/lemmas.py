"""Words to their dictionary forms: tokens, word frequencies, lemmas and compound parts.

The linguistic data comes from libraries: simplemma (lemmas) and wordfreq (word frequencies, for
compound splitting). Every function here is bounded per token (MAX_WORD_CHARS), and its caches
with it. `analysis` builds index terms and question concepts from these.
"""

from __future__ import annotations

import math
import re
import unicodedata
from functools import lru_cache

import simplemma
import wordfreq

from fouassist.language.words import resource_language

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


def normalize(text: str) -> str:
    """NFC, lower case and typographic apostrophes; diacritics stay as they are."""
    return unicodedata.normalize("NFC", text).replace("’", "'").lower()


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
