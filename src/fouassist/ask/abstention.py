"""What an abstention says: the part of the question the documents leave open, in the question's
own words, and the closest passages, listed as not answering it."""

from __future__ import annotations

import re

from fouassist.ask.quotes import Candidate
from fouassist.ask.retrieval import Retrieval
from fouassist.ask.templates import TEMPLATES, neutral, shortened
from fouassist.language.analysis import AnalyzedQuery, Concept
from fouassist.language.lemmas import lemma, tokens, zipf
from fouassist.language.words import COST_VERBS, INDEFINITE_ARTICLES, MODAL_VERBS, PHRASE_JOINERS, resource_language

CLOSEST_PASSAGES = 3  # an abstention lists the nearest sentence of each of this many best passages
COMMON_ZIPF = 5.3  # words this frequent ("per", "mye", "år") are not what a question is about


def closest_candidates(retrieval: Retrieval, candidates: list[Candidate]) -> list[Candidate]:
    """The sentence of each of the best passages that comes nearest to answering."""
    nearest = []
    for passage in retrieval.passages[:CLOSEST_PASSAGES]:
        own = [c for c in candidates if c.passage is passage]
        if own:  # show running text rather than a bare heading
            nearest.append(max(own, key=lambda c: (not c.sentence.heading, c.score)))
    return nearest


def abstention_text(query: AnalyzedQuery, nearest: list[Candidate], df: dict[str, int], lang: str) -> str:
    """What the documents leave open, then the `nearest` sentences as not answering."""
    words = TEMPLATES[lang]
    text = unanswered(query, df, lang)
    if nearest:
        lines = []
        for candidate in nearest:
            section = candidate.sentence.section
            where = f", {words['section'].format(n=section)}" if section else ""
            lines.append(f"- {words['title'].format(t=shortened(neutral(candidate.passage.title)))}{where}: "
                         f"{words['quote'].format(q=_snippet(neutral(candidate.quote)))}")
        text += "\n\n" + words["closest"] + "\n" + "\n".join(lines)
    return text


def unanswered(query: AnalyzedQuery, df: dict[str, int], lang: str) -> str:
    """What the documents leave open, in the question's own words: the phrases of the question
    the index has never seen ("lön för ST-läkare"). Words the documents do use are named as
    mentioned, never as missing."""
    words = TEMPLATES[lang]
    concepts = {c.surface: c for c in query.content}
    missing, mentioned = _phrases(query.text, concepts, df, words["and"], query.language, words["cost"])
    if missing and mentioned:
        return words["mentioned"].format(mentioned=mentioned, missing=missing)
    if missing:
        return words["nothing"].format(missing=missing)
    return words["unanswered"].format(mentioned=mentioned) if mentioned else words["unanswered_plain"]


def _phrases(question: str, concepts: dict[str, Concept], df: dict[str, int], joiner: str,
             language: str = "sv", cost: str = "{x}") -> tuple[str, str]:
    """(missing, mentioned): the question's content words grouped into the phrases they form in
    it. A missing phrase starts at a word the index lacks and runs on through joining words
    ("för", "av") and the words they join; a mentioned phrase is a run of known words. A name of
    several words ("Helse Midt-Norge") stays whole, and is named as mentioned when the documents
    know it rather than pulled into the missing phrase. Words as common as "per",
    "mye" or "år" are never a topic of their own, and a question about a price ("Vad kostar …")
    has its missing phrase put as `cost` ("vad {x} kostar")."""
    units: list[tuple[str, str | None, bool]] = []  # (text, kind, is a name)
    asks_cost = False
    words = re.findall(r"[^\W_][\w-]*", question)
    for position, word in enumerate(words):
        concept = concepts.get(tokens(word)[0] if tokens(word) else "")
        if word.lower() in COST_VERBS:
            asks_cost, kind = True, None
        elif position > 0 and is_verb(word, language, words[position - 2] if position > 1 else ""):
            kind = None  # what the question does ("avsätter", "hanteras") is no subject of the documents
        else:
            kind = ("joiner" if word.lower() in PHRASE_JOINERS else
                    None if concept is None or zipf(word, language) >= COMMON_ZIPF else
                    "known" if concept.in_index(df) else "missing")
        name = position > 0 and word[0].isupper() and not word[:2].isupper()  # "ST-läkare" is no name
        if name and units and units[-1][2]:  # the next word of a name
            text, previous, _ = units[-1]
            merged = "known" if "known" in (previous, kind) else "missing" if "missing" in (previous, kind) else None
            units[-1] = (f"{text} {word}", merged, True)
        else:
            units.append((word, kind, name))
    kinds = [kind for _, kind, _ in units]
    missing: list[str] = []
    mentioned: list[str] = []
    index = 0
    while index < len(units):
        if kinds[index] == "missing":
            end = index + 1
            while end < len(units) and (kinds[end] == "missing" or kinds[end] == "joiner" and end + 1 < len(units)
                                        and (kinds[end + 1] == "missing" or kinds[end + 1] == "known"
                                             and " " not in units[end + 1][0])):
                end += 2 if kinds[end] == "joiner" else 1
            article = index and units[index - 1][0].lower() in INDEFINITE_ARTICLES  # "en parkeringsplats"
            start = index - 1 if article else index
            missing.append(" ".join(text for text, _, _ in units[start:min(end, len(units))]))
            index = end
        elif kinds[index] == "known":
            end = index + 1
            while end < len(units) and kinds[end] == "known":
                end += 1
            mentioned.append(" ".join(text for text, _, _ in units[index:end]))
            index = end
        else:
            index += 1
    missing_text = _listed(missing, joiner)
    return (cost.format(x=missing_text) if asks_cost and missing_text else missing_text), _listed(mentioned, joiner)


def is_verb(word: str, language: str, two_before: str = "") -> bool:
    """Whether a question's word is a verb, from its form and its lemma: a present, past or
    passive form of a verb ("avsätter", "startades", "hanteras", "ingår", "opprettes"), or an
    infinitive after a modal and its subject ("skal helseforetakene redusere"). Nouns keep
    their plural ("studier", "avtaler"): Swedish -er only counts on a verb in -a, and Norwegian
    present forms in -er are left alone (they are plurals as often)."""
    lower = word.lower()
    if not lower.isalpha() or not word[0].islower():
        return False
    base = lemma(lower, resource_language(language))
    if base[-1:] in ("a", "e", "å") and lower in (base + "s", base + "r" if base[-1] in "aå" else ""):
        return True  # passive ("hanteras", "opprettes"), present ("ingår", "bidrar" from "bidra")
    if language == "sv" and base.endswith("a") and lower[len(base) - 1:] in ("ar", "er", "ade", "ades", "at", "ats"):
        return True  # "avsätter", "startades", "identifierat"
    if language == "sv" and base.endswith("ad") and lower == base + "e":
        return True  # "fattade" (the lemmatizer's participle "fattad")
    return lower == base and base[-1:] in ("a", "e") and two_before.lower() in MODAL_VERBS


def _listed(phrases: list[str], joiner: str) -> str:
    phrases = list(dict.fromkeys(phrases))
    if len(phrases) <= 1:
        return "".join(phrases)
    return ", ".join(phrases[:-1]) + f" {joiner} " + phrases[-1]


def _snippet(text: str, words: int = 25) -> str:
    parts = text.split()
    return " ".join(parts[:words]) + (" …" if len(parts) > words else "")
