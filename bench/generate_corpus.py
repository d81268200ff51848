"""Generate a corpus of Swedish/Norwegian-like strategy documents from the default corpus's own
sentences, for benchmarks.

    python bench/generate_corpus.py 2000 /tmp/bench-corpus [--chars 10000] [--seed 1]

Each document gets a title, numbered sections with headings, and paragraphs of sentences drawn
(with a fixed seed) from the default corpus: Swedish sentences for most documents, Norwegian ones
for every fifth. The text is realistic in vocabulary and length; its content is shuffled.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def corpus_sentences() -> dict[str, list[str]]:
    from fouassist.ingest.documents import load_manifest, read_file
    from fouassist.language.analysis import Analyzer
    from fouassist.language.sentences import split_sentences

    analyzer, manifest = Analyzer(), load_manifest(ROOT / "ingest" / "manifest.toml")
    sentences: dict[str, list[str]] = {"sv": [], "nb": []}
    for path in sorted((ROOT / "ingest" / "corpus").glob("*.txt")):
        document = read_file(path, analyzer, manifest)
        for block in document.blocks:
            if block.kind != "paragraph":
                continue
            for span in split_sentences(block.text, document.language, block.start):
                text = document.text[span.start:span.end]
                if len(text.split()) >= 6:
                    sentences["nb" if document.language == "nb" else "sv"].append(text)
    return sentences


def headings(sentences: list[str]) -> list[str]:
    return [re.sub(r"[.!?]$", "", s) for s in sentences if 4 <= len(s.split()) <= 10] or ["Inledning"]


def document(rng: random.Random, number: int, sentences: list[str], chars: int, lang: str) -> str:
    organisation = rng.choice(["Region Norrland", "Region Mälardalen", "Region Västkusten", "Sjukvårdsregion Syd"]
                              if lang == "sv" else ["Helse Nordvest", "Helse Innlandet", "Helse Kyst"])
    title = f"{'Strategi för forskning och innovation' if lang == 'sv' else 'Handlingsplan for forskning'} {number}"
    label = "Datum" if lang == "sv" else "Publisert"
    parts = [title, f"{label} 2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}", f"{organisation}"]
    size, section = sum(map(len, parts)), 0
    titles = headings(sentences)
    while size < chars:
        section += 1
        heading = f"{section}. {rng.choice(titles)}"
        parts.append(heading)
        for _ in range(rng.randint(2, 4)):
            paragraph = " ".join(rng.choice(sentences) for _ in range(rng.randint(2, 5)))
            parts.append(paragraph)
            size += len(paragraph)
        size += len(heading)
    return "\n\n".join(parts) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", type=int)
    parser.add_argument("out", type=Path)
    parser.add_argument("--chars", type=int, default=10_000, help="approximate characters per document")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    pools = corpus_sentences()
    args.out.mkdir(parents=True, exist_ok=True)
    total = 0
    for number in range(1, args.count + 1):
        lang = "nb" if number % 5 == 0 else "sv"
        text = document(rng, number, pools[lang], args.chars, lang)
        (args.out / f"doc-{number:05d}.txt").write_text(text, encoding="utf-8")
        total += len(text.encode("utf-8"))
    print(f"{args.count} documents, {total / 1e6:.1f} MB in {args.out}")


if __name__ == "__main__":
    main()
