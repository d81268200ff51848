"""Old versus new lexical analysis on real words: the bounded analyser must give identical results.

    python bench/analysis_equivalence.py [--old 22a82b1] [--sample 2000] [--long 25] [--synthetic 2000]

Loads `src/fouassist/analysis.py` as it was at commit --old (git show, into a temporary module)
next to the working tree's (`fouassist.language.analysis`, with the word functions in
`fouassist.language.lemmas`), and compares, for every distinct token of the default corpus
(ingest/corpus/*.txt) and of the eval set (eval/sets/default.jsonl: questions, histories, gold
quotes, reference answers), in Swedish, Bokmål and Nynorsk: `split_compound`, `compound_lemma`,
`lemma`, `zipf` and `Analyzer.word_terms`; then `term_weights` of every document, and
`analyze_query` and `detect_language` of every question and document. With --sample N it also
compares N random wordfreq words of 10 letters or more per language, every wordfreq word of
--long letters or more, and the lemmatizer's dictionary forms of 35 characters or more (up to 46);
with --synthetic N, N made-up compounds per language of two to five common words (some joined by
a linking -s-, some inflected, some hyphenated), 8 to 48 characters: the words with the most
readings, where the dynamic programme's pruning and tie-breaking are put to the test.
Prints how many were compared and every difference; exits 1 on any difference.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def load_old(commit: str):
    source = subprocess.run(["git", "show", f"{commit}:src/fouassist/analysis.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "analysis_old.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("analysis_old", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["analysis_old"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def texts() -> tuple[dict[str, str], list[str]]:
    documents = {p.name: p.read_text(encoding="utf-8") for p in sorted((ROOT / "ingest" / "corpus").glob("*.txt"))}
    questions: list[str] = []
    extra: list[str] = []
    for line in (ROOT / "eval" / "sets" / "default.jsonl").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        questions.append(item["question"])
        extra.extend(turn["content"] for turn in item.get("history") or [])
        extra.extend(item.get("gold_quotes") or [])
        extra.append(item.get("reference_answer") or "")
    return documents, questions + extra


def extra_words(sample: int, long: int) -> dict[str, list[str]]:
    import wordfreq
    from simplemma.strategies.dictionaries import DefaultDictionaryFactory

    words: dict[str, list[str]] = {}
    rng = random.Random(20250522)
    dictionaries = DefaultDictionaryFactory()
    for lang in ("sv", "nb"):
        listed = [w for w in wordfreq.iter_wordlist(lang, "best") if w.isalpha()]
        chosen = {w for w in listed if len(w) >= long}
        candidates = sorted(w for w in listed if len(w) >= 10 and w not in chosen)
        chosen.update(rng.sample(candidates, min(sample, len(candidates))))
        chosen.update(w for w in dictionaries.get_dictionary(lang) if len(w) >= 35)
        words[lang] = sorted(chosen)
    return words


def synthetic_words(count: int) -> dict[str, list[str]]:
    import wordfreq

    rng = random.Random(4711)
    words: dict[str, list[str]] = {}
    for lang in ("sv", "nb"):
        common = [w for w in wordfreq.top_n_list(lang, 20_000, "best") if w.isalpha() and len(w) >= 3]
        endings = ["", "", "", "en", "et", "er", "ar", "na", "ene", "s"]
        made: set[str] = set()
        while len(made) < count:
            parts = [rng.choice(common) for _ in range(rng.randint(2, 5))]
            joined = parts[0]
            for part in parts[1:]:
                joined += rng.choice(["", "", "s", "e", "-"]) + part
            joined += rng.choice(endings)
            if 8 <= len(joined) <= 48 and "--" not in joined:
                made.add(joined)
        words[lang] = sorted(made)
    return words


class Comparison:
    """Old and new analysers side by side; every difference found is kept."""

    def __init__(self, old) -> None:
        from fouassist.language import analysis, lemmas

        self.old, self.new, self.lemmas = old, analysis, lemmas
        self.old_analyzer, self.new_analyzer = old.Analyzer(), analysis.Analyzer()
        self.differences: list[str] = []
        self.words = self.comparisons = 0

    def compare(self, what: str, a, b) -> None:
        self.comparisons += 1
        if a != b:
            self.differences.append(f"{what}: old {a!r} new {b!r}")

    def word(self, word: str, lang: str) -> None:
        self.words += 1
        for name in ("split_compound", "compound_lemma", "lemma", "zipf"):
            self.compare(f"{name}({word!r}, {lang})", getattr(self.old, name)(word, lang),
                         getattr(self.lemmas, name)(word, lang))
        self.compare(f"word_terms({word!r}, {lang})", self.old_analyzer.word_terms(word, lang),
                     self.new_analyzer.word_terms(word, lang))

    def texts(self, documents: dict[str, str], questions: list[str]) -> None:
        old, new = self.old_analyzer, self.new_analyzer
        for name, text in documents.items():
            self.compare(f"detect_language({name})", old.detect_language(text), new.detect_language(text))
            for lang in self.new.LANGUAGES:
                self.compare(f"term_weights({name}, {lang})", old.term_weights(text, lang),
                             new.term_weights(text, lang))
        for question in questions:
            self.compare(f"detect_language({question!r})", old.detect_language(question),
                         new.detect_language(question))
            for lang in (None, *self.new.LANGUAGES):
                a, b = old.analyze_query(question, lang), new.analyze_query(question, lang)
                self.compare(f"analyze_query({question!r}, {lang})", (a.language, [vars(c) for c in a.concepts]),
                             (b.language, [vars(c) for c in b.concepts]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", default="22a82b1", help="commit with the analyser to compare against")
    parser.add_argument("--sample", type=int, default=0, help="random wordfreq words per language (0: none)")
    parser.add_argument("--long", type=int, default=25, help="with --sample: every wordfreq word this long")
    parser.add_argument("--synthetic", type=int, default=0, help="made-up compounds per language (0: none)")
    args = parser.parse_args()

    old = load_old(args.old)
    comparison = Comparison(old)
    lemmas, languages = comparison.lemmas, comparison.new.LANGUAGES
    documents, questions = texts()
    vocabulary = set()
    for text in [*documents.values(), *questions]:
        vocabulary.update(lemmas.tokens(text))
    assert vocabulary == {w for text in [*documents.values(), *questions] for w in old.tokens(text)}
    corpus_words = sorted(vocabulary)

    started = time.perf_counter()
    for lang in languages:
        for word in corpus_words:
            comparison.word(word, lang)
    corpus_checked = comparison.words
    comparison.texts(documents, questions)
    print(f"corpus and eval set: {len(corpus_words)} distinct tokens x {len(languages)} languages "
          f"= {corpus_checked} words, {len(documents)} documents, {len(questions)} questions and other eval texts")
    if args.sample:
        extra = extra_words(args.sample, args.long)
        for lang, words in extra.items():
            for word in words:
                comparison.word(word, lang)
            print(f"wordfreq/simplemma {lang}: {len(words)} words (longest {max(map(len, words))})")
    if args.synthetic:
        for lang, words in synthetic_words(args.synthetic).items():
            split = 0
            for word in words:
                comparison.word(word, lang)
                split += len(lemmas.split_compound(word, lang)) > 1
            print(f"synthetic {lang}: {len(words)} compounds ({split} split by the new code)")
    differences = comparison.differences
    print(f"{comparison.words} words, {comparison.comparisons} comparisons, {len(differences)} differences "
          f"({time.perf_counter() - started:.1f} s)")
    for line in differences[:50]:
        print("  " + line)
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
