"""What a question asks for beyond its words, and whether a sentence or a passage has it.

A question may ask for a kind of answer (an amount, a date, a person or body, a list: "hur många",
"när", "vem", "vilka"), name things (capitalised words), ask "vilken X", and give numbers.
`Demands` holds what one question asks for; the composer lowers the score of a passage or a
sentence that lacks it, and the answerability signals count what no passage has.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from fouassist.ask.passages import Passage, SentenceSpan
from fouassist.language.analysis import Concept
from fouassist.language.words import (
    AMOUNT_CUES,
    AND_WORDS,
    BODY_WORDS,
    CHAPTER_WORDS,
    DATE_CUES,
    DATE_QUESTION_WORDS,
    FEW_WORDS,
    LIST_JOINING_WORDS,
    LIST_QUESTION_WORDS,
    MONTHS,
    NUMBER_WORDS,
    PERSON_CUES,
    PERSON_QUESTION_WORDS,
    SEASONS,
    WHICH_WORDS,
    one_of,
)

# What a question asks for, and how to see it in a sentence.
_OPENS = "(?:^|" + "|".join(rf"\b{word} " for word in AND_WORDS) + ")"  # at the start, or after "och"/"og"
_ASKS = {
    "amount": re.compile(rf"\b{one_of(AMOUNT_CUES)}\b", re.IGNORECASE),
    "date": re.compile(rf"{_OPENS}{one_of(DATE_QUESTION_WORDS)}\b|\b{one_of(DATE_CUES)}\b", re.IGNORECASE),
    "person": re.compile(rf"{_OPENS}{one_of(PERSON_QUESTION_WORDS)}\b|"
                         + "|".join(rf"\b{cue}\b" for cue in PERSON_CUES), re.IGNORECASE),
    "list": re.compile(rf"^{one_of(LIST_QUESTION_WORDS)}\b", re.IGNORECASE),
}
_NUMBER = re.compile(rf"\d|\b{one_of(NUMBER_WORDS)}\b", re.IGNORECASE)
# Numbers that are not amounts: years, dates, section and law references ("(2017:30)", "LS 1408-0943",
# "10 kap 5 §").
_NOT_AMOUNT = re.compile(r"\([^)]*\)|\b(?:19|20)\d{2}(?:-\d{2,4})?\b|\b\d+(?:\.\d+)+\b|\b\d+:\d+\b|\bLS [\d–-]+|"
                         rf"\b\d+\s*{one_of([*CHAPTER_WORDS, '§'])}|§\s*\d+")
_MONTHS = one_of([*MONTHS, *SEASONS])
_MONTH = re.compile(_MONTHS, re.IGNORECASE)
# A date that answers "när": a year, a day and month ("2. juni", "12.3"), not a bare month ("i mars").
_FULL_DATE = re.compile(rf"\b(?:19|20)\d{{2}}\b|\b\d{{1,2}}\.\d{{1,2}}\b|\b\d{{1,2}}\.?\s+{_MONTHS}\b",
                        re.IGNORECASE)
_BODY = re.compile(rf"\b\w*{one_of(BODY_WORDS)}\w*\b", re.IGNORECASE)
_CAPITALISED = re.compile(r"(?<!^)(?<![.!?]\s)\b([A-ZÅÄÖÆØÉ][\w-]*)")
_AND = one_of(LIST_JOINING_WORDS)
_NAMED_PAIR = re.compile(rf"[»”\"]\s*{_AND}\s*[«“\"]|\b[A-ZÅÄÖÆØ][\w-]*\s+{_AND}\s+[A-ZÅÄÖÆØ]")
_LIST_TAIL = re.compile(rf",.*\b{_AND}\b")
_FEW = re.compile(rf"^{one_of(LIST_QUESTION_WORDS)}\s+{one_of(FEW_WORDS)}\b", re.IGNORECASE)
_WHICH = re.compile(rf"\b{one_of(WHICH_WORDS)}\s+", re.IGNORECASE)

MISSING_TYPE_FACTOR = 0.5  # the sentence lacks what the question asks for (a date, a number, ...)
MISSING_NAME_FACTOR = 0.5  # the question names something (capitalised) that the passage does not
MISSING_FOCUS_FACTOR = 0.7  # "vilken X": the passage does not mention X


def has_amount(text: str) -> bool:
    return bool(_NUMBER.search(_NOT_AMOUNT.sub(" ", text)))


def has_date(text: str) -> bool:
    return bool(_FULL_DATE.search(text))


def has_person(text: str) -> bool:
    """A name (a capitalised word not opening the sentence) or a body that decides or answers."""
    return bool(_CAPITALISED.search(text.strip()) or _BODY.search(text))


def has_list(text: str) -> bool:
    """An item, items joined by commas, or the line that opens a list ("... inom bland annat:")."""
    return text.lstrip().startswith(("-", "•")) or text.rstrip().endswith(":") or text.count(",") >= 2 or \
        bool(_LIST_TAIL.search(text))


def has_pair(text: str) -> bool:
    """Two or more things ("vilka två planer"): a list, or two names joined by "och"/"og"
    ("«Plan för innovation» och «Plan för forskning»", "Uppsala och Örebro")."""
    return has_list(text) or bool(_NAMED_PAIR.search(text))


KINDS: dict[str, Callable[[str], bool]] = {"amount": has_amount, "date": has_date, "person": has_person,
                                           "list": has_list}


@dataclass
class Demands:
    """What a passage must contain to answer the question, beyond its words."""

    kinds: dict[str, Callable[[str], bool]] = field(default_factory=dict)  # what it asks for (a date, ...)
    names: dict[str, Concept] = field(default_factory=dict)  # capitalised words (names of things), as written
    focus: Concept | None = None  # the X of "vilken X"
    numbers: list[str] = field(default_factory=list)  # numbers the question gives

    @classmethod
    def of(cls, question: str, content: list[Concept]) -> Demands:
        by_surface = {c.surface: c for c in content}
        text = question.strip()
        kinds = {kind: KINDS[kind] for kind, pattern in _ASKS.items() if pattern.search(text)}
        if "list" in kinds and "person" in kinds:
            del kinds["list"]  # "vilka personer": people, not a list
        if "list" in kinds and _FEW.search(text):
            kinds["list"] = has_pair  # "vilka två planer": "A och B" lists them
        names = {m: by_surface[m.lower()] for m in _CAPITALISED.findall(text) if m.lower() in by_surface}
        focus = None
        which = _WHICH.search(text)
        if which:
            following = re.findall(r"[^\W\d_][\w-]*", text[which.end():])
            head = next((w.lower() for w in following if not _NUMBER.fullmatch(w)), None)
            focus = by_surface.get(head) if head else None
        return cls(kinds, names, focus, re.findall(r"\d+(?:[.,:-]\d+)*", text))

    def passage_factor(self, passage: Passage) -> float:
        """How far the passage meets the demands (1.0: fully), with its organisation scope."""
        factor = passage.scope
        if self.kinds and not self.covered_by(passage.sentences, passage):
            factor *= MISSING_TYPE_FACTOR
        for written, name in self.names.items():
            if name.match(passage.terms) < 0.5 or not _names(passage, written):
                factor *= MISSING_NAME_FACTOR
        if self.focus is not None and self.focus not in self.names.values() and self.focus.match(passage.terms) < 0.5:
            factor *= MISSING_FOCUS_FACTOR
        return factor

    def lacking(self, texts: list[str]) -> list[Callable[[str], bool]]:
        """The kinds asked for (their tests) that none of the texts has."""
        return [has for has in self.kinds.values() if not any(has(t) for t in texts)]

    def covered_by(self, sentences: list[SentenceSpan], passage: Passage) -> bool:
        """Whether every kind asked for is in one of the sentences."""
        return not self.lacking([passage.span_text(s.start, s.end) for s in sentences])

    def missing_names(self, passages: list[Passage]) -> int:
        return sum(1 for written, name in self.names.items()
                   if not any(name.match(p.terms) >= 0.5 and _names(p, written) for p in passages))

    def missing_numbers(self, passages: list[Passage]) -> int:
        return sum(1 for number in self.numbers if not any(number in p.text for p in passages))


def _names(passage: Passage, written: str) -> bool:
    """Whether the passage (or its document's title, organisation and headings) names `written`.
    A capitalised word that is also a month ("Mars") must be capitalised there too: the month
    "mars" is not the planet Mars. Inflected forms count (Stockholms)."""
    if not _MONTH.fullmatch(written.lower()):
        return True  # the word match (lemmas, parts, sv/nb equivalents) has already been checked
    stem = written[:max(4, len(written) - 2)]
    where = " ".join([passage.text, passage.title, passage.organisation or "", *passage.heading_path])
    return re.search(rf"(?<![\w-]){re.escape(stem)}", where) is not None
