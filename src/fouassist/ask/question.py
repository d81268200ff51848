"""Understanding a question, once: from (question, conversation, catalog) to the `Question` that
every later stage reads.

The language is detected here (a question too short to tell takes its conversation's); a short
follow-up gets the subject of the conversation added (or the language model's rewrite); the text
searched for goes through the same Swedish/Norwegian analysis as the chunks (lemmas, compound
parts), each content word widened with its equivalents in the index's other language (a small
glossary, and near spellings found in the index) and weighted by its rarity; and what the
question asks for beyond its words (a kind of answer, names, numbers) is read from it. Nothing
after this stage detects a language or analyses the question again.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import TYPE_CHECKING

from fouassist.ask.demands import Demands
from fouassist.bounds import MAX_QUESTION_CHARS
from fouassist.language.analysis import AnalyzedQuery, Analyzer, Concept, term_key
from fouassist.language.lemmas import zipf
from fouassist.language.words import FOLLOW_UP_CUES, TOPIC_CUES, one_of

if TYPE_CHECKING:
    from fouassist.index.catalog import Catalog

SYNONYM_WEIGHT = 0.6
UNSEEN_MIN_WEIGHT = 0.2
IDF_SMOOTHING = 0.5  # a word found in most chunks still counts a little

_TOPIC_RE = re.compile(rf"\b{one_of(TOPIC_CUES)}\s+(.+)$", re.IGNORECASE)

Rewrite = Callable[[str, list[dict[str, str]], str], "str | None"]


@dataclass
class Question:
    """A question as the assistant understood it, with the catalog it is answered against."""

    text: str  # as asked
    language: str  # the answer's language: sv, nb or nn
    search_text: str  # what is searched for: the question, or a follow-up with its subject added
    query: AnalyzedQuery  # the search text analysed, each word widened with its equivalents
    idf: dict[str, float]  # the weight of each content word (by surface)
    demands: Demands  # what it asks for beyond its words: a kind of answer, names, numbers
    organisations: set[str]  # documents of the organisations it names (empty: it names none)
    catalog: Catalog
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def content(self) -> list[Concept]:
        """The words that carry the question (all of them when it has only frame words)."""
        return self.query.content or self.query.concepts

    def coverage(self, present: frozenset[str]) -> float:
        """Share of the question's content words found in `present`, each weighted by its IDF."""
        content = self.content
        total = sum(self.idf[c.surface] + IDF_SMOOTHING for c in content)
        if not total:
            return 0.0
        return sum((self.idf[c.surface] + IDF_SMOOTHING) * c.match(present) for c in content) / total


def load_glossary(analyzer: Analyzer) -> dict[str, set[str]]:
    """Term key -> keys of its equivalents, from the packaged sv/nb glossary."""
    text = resources.files("fouassist").joinpath("data/glossary.tsv").read_text(encoding="utf-8")
    equivalents: dict[str, set[str]] = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        swedish, norwegian = line.split("\t")
        keys = {_glossary_key(analyzer, w, "sv") for w in swedish.split(",") if w.strip()}
        keys |= {_glossary_key(analyzer, w, "nb") for w in norwegian.split(",") if w.strip()}
        keys.discard("")
        for key in keys:
            equivalents.setdefault(key, set()).update(keys - {key})
    return equivalents


def _glossary_key(analyzer: Analyzer, word: str, lang: str) -> str:
    terms = analyzer.word_terms(word.strip().lower(), lang)
    return term_key(terms[0][0]) if terms else ""


def topic_phrase(question: str) -> str | None:
    """What a question is about, when it says so: the words after "om" ("... om forskningstid?")."""
    match = _TOPIC_RE.search(question.strip().rstrip("?!. "))
    return match.group(1).strip() if match and match.group(1).strip() else None


def scope(query: AnalyzedQuery, names: dict[str, set[str]]) -> set[str]:
    """Documents of the organisations the question names (empty: it names none)."""
    found: set[str] = set()
    for concept in query.content:
        for key in [*concept.full, *concept.parts]:
            found |= names.get(key, set())
    return found


class Interpreter:
    """The understanding stage, built once. The glossary loads in the background: `glossary`
    gives it when it is there; `catalog` gives the index's current catalog."""

    def __init__(self, analyzer: Analyzer, catalog: Callable[[], Catalog],
                 glossary: Callable[[], dict[str, set[str]]]) -> None:
        self.analyzer = analyzer
        self.catalog = catalog
        self.glossary = glossary

    def understand(self, text: str, history: list[dict[str, str]] | None = None, catalog: Catalog | None = None,
                   language: str | None = None, rewrite: Rewrite | None = None) -> Question:
        """The question, once. `language` fixes the language instead of detecting it; `rewrite`
        (the language model's) may turn a follow-up into a question that stands alone."""
        history = history or []
        catalog = catalog or self.catalog()
        earlier = [m["content"] for m in history if m.get("role") == "user"]
        if language is None:  # a question without words speaks its conversation's language
            language = self.analyzer.detect_language(text, default="") or \
                (self.analyzer.detect_language(earlier[-1]) if earlier else "sv")
        search_text = (rewrite(text, history, language) if rewrite and earlier else None) \
            or self.resolve_follow_up(text, history, catalog, language)
        if len(search_text) > MAX_QUESTION_CHARS:  # a follow-up adds the subject's words: it has the limit too
            search_text = search_text[:MAX_QUESTION_CHARS].rsplit(" ", 1)[0]
        started = time.perf_counter()
        query = self.analyze(search_text, language, catalog)
        content = query.content or query.concepts
        idf = {c.surface: self.concept_idf(c, query.language, catalog) for c in content}
        timings = {"analysis": round((time.perf_counter() - started) * 1000, 2)}
        return Question(text, language, search_text, query, idf, Demands.of(text, content),
                        scope(query, catalog.names), catalog, timings)

    def resolve_follow_up(self, question: str, history: list[dict], catalog: Catalog | None = None,
                          language: str | None = None) -> str:
        """The text to search for: a short follow-up ("Och i Mellansverige?") gets the subject of the
        conversation's earlier questions added; any other question stands as it is. `language`:
        the question's, when known."""
        earlier = [m["content"] for m in history if m.get("role") == "user" and m.get("content", "").strip()]
        if not earlier:
            return question
        catalog = catalog or self.catalog()
        names = catalog.names
        subject = earlier[0]
        for turn in earlier[1:]:
            subject = self.resolve_follow_up(turn, [{"role": "user", "content": subject}], catalog)
        query = self.analyzer.analyze_query(question, language)
        lowered = question.strip().lower()
        cue = lowered.startswith(FOLLOW_UP_CUES.get(query.language, FOLLOW_UP_CUES["sv"]))
        own_topic = topic_phrase(question)
        if not cue and (own_topic or len(query.content) > 1 or len(lowered.split()) > 5):
            return question
        previous = self.analyzer.analyze_query(subject)
        if own_topic:  # "Och om kompetensförsörjning?": a new topic, asked of the same organisation
            named = [c.surface for c in previous.content if any(k in names for k in c.full)]
            return f"{question} {' '.join(named)}".strip()
        topic = topic_phrase(subject)
        if topic:
            return f"{question} {topic}"
        # Without a stated topic, carry the earlier content words, but not the organisation it
        # named when the follow-up names another ("Och i Mellansverige?").
        names_now = scope(query, names)
        new = {c.surface for c in query.content}
        carried = [c.surface for c in previous.content if c.surface not in new
                   and not (names_now and any(k in names for k in c.full))]
        return f"{question} {' '.join(carried)}".strip()

    def analyze(self, text: str, language: str | None, catalog: Catalog) -> AnalyzedQuery:
        """Analyse a text (a question, or a sentence a language model wrote) and widen each word
        with its equivalents in the index's languages."""
        vocabulary = catalog.vocabulary
        glossary = self.glossary()
        query = self.analyzer.analyze_query(text, language)
        other_languages = [lang for lang in vocabulary.by_language if lang != query.language]
        concepts = []
        for concept in query.concepts:
            full = dict(concept.full)
            for key in list(concept.full):
                equivalents = glossary.get(key, ())
                for equivalent in equivalents:
                    full.setdefault(equivalent, SYNONYM_WEIGHT)
                # Near spellings in the other language ("kompetanse" ~ "kompetens"), only for words
                # the index hardly knows as they are and the glossary does not cover.
                if not concept.frame and other_languages and not equivalents and vocabulary.df.get(key, 0) < 2:
                    for cognate, weight in vocabulary.cognates(key, other_languages).items():
                        full[cognate] = max(full.get(cognate, 0.0), weight)
            concepts.append(replace(concept, full=full))
        return AnalyzedQuery(text=query.text, language=query.language, concepts=concepts)

    def concept_idf(self, concept: Concept, language: str, catalog: Catalog) -> float:
        """How much a question word weighs: its IDF in the index, or for a word the index has
        never seen, the highest IDF scaled by how rare the word is in the language at large
        (an unseen "cancerscreening" weighs a lot, an unseen "definierar" less)."""
        vocabulary = catalog.vocabulary
        main = next(iter(concept.full))  # the word's own lemma; the rest are its equivalents
        if vocabulary.df.get(main):
            return vocabulary.idf(main)
        known = [vocabulary.idf(k) for k in concept.full if vocabulary.df.get(k)]
        if not known and concept.parts and all(vocabulary.df.get(p) for p in concept.parts):
            known = [sum(vocabulary.idf(p) for p in concept.parts) / len(concept.parts)]
        if known:
            return max(known)
        rarity = min(1.0, max(UNSEEN_MIN_WEIGHT, (6.0 - zipf(concept.surface, language)) / 5.0))
        return vocabulary.idf("\x00unseen") * rarity
