"""The sentences an answer quotes: a candidate sentence with its score, the sentences that complete
a quote (the items of a list it opens, a sentence that goes on with it), and neighbouring
sentences joined into one quote."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from fouassist.ask.passages import Passage, SentenceSpan
from fouassist.language.words import CONTINUATION_WORDS, one_of

LIST_ITEMS = 6  # a quote that opens a list ("... bland annat:") takes up to this many of its items
CONTINUED_CHARS = 600  # and a quote grows by its continuation only up to this length
_CONTINUES = re.compile(rf"{one_of(CONTINUATION_WORDS)}\b")


@dataclass
class Candidate:
    """A span of a passage (a sentence, or one with what completes it) that the answer may quote."""

    passage: Passage
    sentence: SentenceSpan
    start: int
    end: int
    score: float
    lexical: float = 0.0  # the sentence's own coverage of the question (with its headings)
    dense: float | None = None  # its cosine to the question

    @property
    def quote(self) -> str:
        return self.passage.span_text(self.start, self.end)


def continued(candidate: Candidate) -> Candidate:
    """The quote with what completes it: the items of a list it opens ("... bland annat:"), or a
    next sentence that only goes on with it ("Detta ska ske genom ...")."""
    sentences = candidate.passage.sentences
    following = [t for t in sentences if t.start >= candidate.end]
    opens_list = candidate.quote.rstrip().endswith(":")
    end = candidate.end
    for sentence in following[:LIST_ITEMS if opens_list else 1]:
        text = candidate.passage.span_text(sentence.start, sentence.end)
        if sentence.heading or sentence.end - candidate.start > CONTINUED_CHARS or \
                not (opens_list or _CONTINUES.match(text)):
            break
        end = sentence.end
    return replace(candidate, end=end) if end != candidate.end else candidate


def quote_key(candidate: Candidate) -> str:
    return " ".join(candidate.quote.lower().split())


def merge_adjacent(candidates: list[Candidate]) -> list[Candidate]:
    """Neighbouring (or overlapping: a list quoted with its items) sentences of one passage
    become one quote (and one citation)."""
    merged: list[Candidate] = []
    for candidate in candidates:
        previous = merged[-1] if merged else None
        if previous and previous.passage is candidate.passage and _adjacent(previous, candidate):
            merged[-1] = replace(previous, end=max(previous.end, candidate.end),
                                 score=max(previous.score, candidate.score))
        else:
            merged.append(candidate)
    return merged


def _adjacent(first: Candidate, second: Candidate) -> bool:
    between = first.passage.span_text(first.end, second.start)
    return not between.strip() and "\n" not in between
