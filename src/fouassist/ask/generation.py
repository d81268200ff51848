"""Generative answers through a language model, with every sentence's citations verified.

The model (any OpenAI-compatible server, through llama-index's `OpenAILike`) gets the question
and the retrieved passages, numbered and fenced as data, with a prompt from prompts/ in the
question's language. Its answer is checked sentence by sentence as it streams in:

- a sentence must cite at least one passage with [n], and every n must exist (unknown markers
  are dropped);
- the cited passages must support the sentence: a share of its content words (after the same
  Swedish/Norwegian analysis as retrieval, with the sv/nb equivalents) of at least
  `min_support` must occur in them;
- surviving sentences are passed on at once, their markers renumbered in order of appearance;
  the others are held back and reported as `unsupported`.

Nothing unverified reaches the reader. The service falls back to the extractive answer when the
model is not configured, cannot be reached, or leaves no supported sentence.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from fouassist.ask.answer import Answer, Citation, Composer, cite, stream_pieces
from fouassist.ask.passages import Passage
from fouassist.ask.question import Interpreter
from fouassist.ask.retrieval import Retrieval
from fouassist.config import GenerationSettings
from fouassist.language.analysis import Concept
from fouassist.language.sentences import split_sentences
from fouassist.language.words import INSTRUCTION_OBJECTS, INSTRUCTION_VERBS, ROLE_PHRASES, one_of, resource_language

log = logging.getLogger(__name__)

NO_ANSWER = "INGET_SVAR"  # what the prompts ask the model to say when the passages do not answer
# Text that addresses the model rather than the reader: in a passage it is not evidence, in an
# answer it is never shown (a model that obeyed an injection in a document echoes such text).
INSTRUCTION_RE = re.compile(rf"\b{one_of(INSTRUCTION_VERBS)}\b.{{0,40}}\b{one_of(INSTRUCTION_OBJECTS)}\b|"
                            rf"\bsystem[- ]?prompt\w*|\b{one_of(ROLE_PHRASES)}\b", re.IGNORECASE)
_MARKER_RE = re.compile(r"\[(\d{1,3})\]")
_LEADING_MARKERS_RE = re.compile(r"^(\s*\[\d{1,3}\])+")


class LanguageModelError(Exception):
    """The model server failed, timed out or could not be reached."""


@dataclass
class Prompts:
    answer: dict[str, str]
    rewrite: dict[str, str]

    @classmethod
    def load(cls, folder: Path) -> Prompts:
        """Read prompts/<purpose>.<language>.md; a missing file is an error that names it."""
        templates: dict[str, dict[str, str]] = {"answer": {}, "rewrite": {}}
        for purpose in templates:
            for language in ("sv", "nb"):
                path = folder / f"{purpose}.{language}.md"
                if not path.is_file():
                    raise FileNotFoundError(f"prompt file {path} is missing; restore it from the repository")
                templates[purpose][language] = path.read_text(encoding="utf-8")
        return cls(templates["answer"], templates["rewrite"])

    def get(self, purpose: str, language: str) -> str:
        table = self.answer if purpose == "answer" else self.rewrite
        return table[resource_language(language)]


class LanguageModel:
    """An OpenAI-compatible chat model through llama-index, with timeouts and retries."""

    def __init__(self, settings: GenerationSettings) -> None:
        # The OpenAI client under OpenAILike retries connection errors, timeouts, 429 and 5xx
        # answers `llm_retries` times with exponential backoff (0.5 s doubling, with jitter).
        from llama_index.llms.openai_like import OpenAILike

        self.base_url = settings.llm_base_url.rstrip("/")
        self.model = settings.llm_model
        self.api_key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else "none"
        self.timeout_s = settings.llm_timeout_s
        self.llm = OpenAILike(model=self.model, api_base=self.base_url, api_key=self.api_key, is_chat_model=True,
                              timeout=self.timeout_s, max_retries=settings.llm_retries, temperature=0.0,
                              max_tokens=800)
        self._reachability: tuple[float, bool, str | None] = (0.0, False, None)

    def stream(self, prompt: str) -> Iterator[str]:
        """The answer's text as it arrives; LanguageModelError when the server fails."""
        from llama_index.core.llms import ChatMessage

        try:
            for part in self.llm.stream_chat([ChatMessage(role="user", content=prompt)]):
                if part.delta:
                    yield part.delta
        except Exception as error:  # the OpenAI client raises many kinds (timeouts, HTTP, connection)
            raise LanguageModelError(f"{type(error).__name__}: {error}") from None

    def complete(self, prompt: str) -> str:
        return "".join(self.stream(prompt)).strip()

    def reachable(self) -> tuple[bool, str | None]:
        """Whether the model server answers (checked at most every 30 s)."""
        checked, ok, reason = self._reachability
        if time.monotonic() - checked < 30:
            return ok, reason
        import httpx

        try:
            response = httpx.get(f"{self.base_url}/models", timeout=min(self.timeout_s, 3.0),
                                 headers={"Authorization": f"Bearer {self.api_key}"})
            ok, reason = response.status_code < 500, None if response.status_code < 500 else f"HTTP {response.status_code}"
        except httpx.HTTPError as error:
            ok, reason = False, f"{type(error).__name__}: {error}"
        self._reachability = (time.monotonic(), ok, reason)
        return ok, reason


def fenced(passages: list[Passage]) -> str:
    """The passages, numbered from 1, each fenced so that the model reads it as data."""
    blocks = []
    for number, passage in enumerate(passages, start=1):
        text = passage.text.replace("</utdrag>", "</ utdrag>")  # a document cannot close the fence
        where = f"{passage.title}" + (f", avsnitt {passage.section}" if passage.section else "")
        blocks.append(f'<utdrag nr="{number}" källa="{where}">\n{text}\n</utdrag>')
    return "\n\n".join(blocks)


def fill(template: str, **values: str) -> str:
    """A prompt template with its {placeholders} replaced (plain replacement: passages may hold braces)."""
    for name, value in values.items():
        template = template.replace("{" + name + "}", value)
    return template


@dataclass
class Verified:
    """What verification made of a generated answer."""

    sentences: list[str] = field(default_factory=list)  # kept, with renumbered markers
    citations: list[Citation] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)
    no_answer: bool = False

    @property
    def total(self) -> int:
        return len(self.sentences) + len(self.unsupported)


class Verifier:
    """Checks a generated answer sentence by sentence as its text arrives."""

    def __init__(self, interpreter: Interpreter, retrieval: Retrieval, min_support: float) -> None:
        self.interpreter = interpreter  # analyses the generated sentences as the question was
        self.catalog = retrieval.question.catalog  # the one the question was answered against
        self.passages = retrieval.passages
        self.language = retrieval.question.language
        self.min_support = min_support
        self.text = ""
        self.done = 0  # characters of `text` already judged
        self.numbers: dict[int, int] = {}  # passage number in the prompt -> citation number in the answer
        self.result = Verified()
        self.evidence = [_evidence(passage) for passage in self.passages]

    def feed(self, delta: str) -> list[str]:
        """Add generated text; return the sentences that are complete and supported (to show now)."""
        self.text += delta
        return self._judge(final=False)

    def finish(self) -> list[str]:
        """Judge what is left once the text is complete; return the supported sentences in it."""
        return self._judge(final=True)

    def _sentences(self, text: str) -> list[str]:
        """Sentences of generated text, with markers that open a sentence given to the one before."""
        pieces = [text[s.start:s.end] for s in split_sentences(text, self.language)]
        merged: list[str] = []
        for piece in pieces:
            leading = _LEADING_MARKERS_RE.match(piece)
            if leading and merged:
                merged[-1] += " " + leading.group(0).strip()
                piece = piece[leading.end():].strip()
            if piece:
                merged.append(piece)
        return merged

    def _judge(self, final: bool) -> list[str]:
        pending = self.text[self.done:]
        sentences = self._sentences(pending)
        if not final:
            sentences = sentences[:-1]  # the last one may still be growing (or gain its markers)
        shown = []
        for sentence in sentences:
            self.done = self.text.index(sentence, self.done) + len(sentence)
            kept = self._check(sentence.strip())
            if kept:
                shown.append(kept)
        return shown

    def _check(self, sentence: str) -> str | None:
        if NO_ANSWER in sentence:
            self.result.no_answer = True
            return None
        cited = [int(n) for n in _MARKER_RE.findall(sentence)]
        known = [n for n in dict.fromkeys(cited) if 1 <= n <= len(self.passages)]
        bare = _MARKER_RE.sub("", sentence).strip()
        content = self.interpreter.analyze(bare, self.language, self.catalog).content if known and bare else []
        if (not known or not bare or INSTRUCTION_RE.search(bare)
                or self._support(content, known) < self.min_support):
            self.result.unsupported.append(sentence)
            return None
        for number in known:
            if number not in self.numbers:
                self.numbers[number] = len(self.numbers) + 1
                self.result.citations.append(_closest(self.numbers[number], self.passages[number - 1], content))
        renumbered = _MARKER_RE.sub(
            lambda m: f"[{self.numbers[int(m.group(1))]}]" if int(m.group(1)) in known else "", sentence)
        renumbered = re.sub(r"\s+([.!?])", r"\1", re.sub(r"\s{2,}", " ", renumbered)).strip()
        self.result.sentences.append(renumbered)
        return renumbered

    def support(self, sentence: str, numbers: list[int]) -> float:
        """Share of the sentence's content words found in the passages it cites."""
        return self._support(self.interpreter.analyze(sentence, self.language, self.catalog).content, numbers)

    def _support(self, content: list[Concept], numbers: list[int]) -> float:
        if not content:
            return 0.0
        present = frozenset().union(*(self.evidence[n - 1] for n in numbers))
        return sum(1 for c in content if c.match(present) >= 0.5) / len(content)


def _evidence(passage: Passage) -> frozenset[str]:
    """The terms a passage can support a sentence with: its headings and its sentences, less any
    sentence that gives instructions (an injection attempt is not evidence)."""
    terms = set(passage.context_terms)
    for sentence in passage.sentences:
        if not INSTRUCTION_RE.search(passage.span_text(sentence.start, sentence.end)):
            terms |= sentence.terms
    return frozenset(terms)


def _closest(number: int, passage: Passage, content: list[Concept]) -> Citation:
    """Citation [number] of the passage, quoting its sentence closest to the generated one."""
    best = max(passage.sentences, key=lambda s: sum(c.match(s.terms) for c in content))
    return cite(number, passage, best, best.start, best.end, passage.score)


_SPEAKERS = {"sv": ("Användare", "Assistent"), "nb": ("Bruker", "Assistent")}


class Generator:
    """Generative answers: the model writes, the Verifier decides what the reader sees."""

    def __init__(self, model: LanguageModel, prompts: Prompts, interpreter: Interpreter, composer: Composer,
                 min_support: float) -> None:
        self.model = model
        self.prompts = prompts
        self.interpreter = interpreter
        self.composer = composer
        self.min_support = min_support

    def rewrite(self, question: str, history: list[dict[str, str]], language: str) -> str | None:
        """A follow-up rewritten by the model into a question that stands alone; None when the
        model fails or gives something unusable (the caller then uses its own heuristic)."""
        turns = [m for m in history if m.get("content", "").strip()][-6:]
        if not any(m.get("role") == "user" for m in turns):
            return None
        user, assistant = _SPEAKERS[resource_language(language)]
        lines = "\n".join(f"{user if m['role'] == 'user' else assistant}: {' '.join(m['content'].split())[:400]}"
                          for m in turns)
        try:
            text = self.model.complete(fill(self.prompts.get("rewrite", language), history=lines, question=question))
        except LanguageModelError as error:
            log.warning("The language model could not rewrite a follow-up question (%s); using the heuristic", error)
            return None
        line = text.strip().splitlines()[0].strip() if text.strip() else ""
        return line if 0 < len(line) <= 500 and NO_ANSWER not in line else None

    def stream(self, retrieval: Retrieval, extractive: Callable[[], Answer]) -> Iterator[str | Answer]:
        """Verified sentences as they are written, then the complete Answer. Falls back to the
        extractive answer (with `fallback_reason`) when the model fails before any sentence is
        shown or no sentence survives verification; nothing unverified is ever shown."""
        started = time.perf_counter()
        question, language = retrieval.question.text, retrieval.question.language
        if not retrieval.passages or not retrieval.question.query.concepts:
            answer = extractive()  # nothing to give the model: the extractive abstention says why
            answer.mode = "generative"
            yield from stream_pieces(answer.answer)
            yield answer
            return
        prompt = fill(self.prompts.get("answer", language), passages=fenced(retrieval.passages), question=question)
        verifier = Verifier(self.interpreter, retrieval, self.min_support)
        shown = 0
        error: LanguageModelError | None = None
        try:
            for delta in self.model.stream(prompt):
                for sentence in verifier.feed(delta):
                    yield (" " if shown else "") + sentence
                    shown += 1
        except LanguageModelError as failure:
            error = failure
            log.warning("The language model failed while answering: %s", failure)
        if error is None:  # a text cut off by a failure is not judged: its last sentence may be half
            for sentence in verifier.finish():
                yield (" " if shown else "") + sentence
                shown += 1
        verified = verifier.result
        if verified.sentences:
            answer = Answer(" ".join(verified.sentences), False, language, citations=verified.citations,
                            mode="generative")
        else:
            if verified.no_answer and error is None:
                answer = self.composer.abstention(retrieval)
                answer.mode = "generative"
            else:
                answer = extractive()
                answer.fallback_reason = _fallback_reason(error, verified)
            yield from stream_pieces(answer.answer)
        answer.unsupported = list(verified.unsupported)
        answer.generated_sentences = verified.total
        answer.timings_ms = {**retrieval.timings_ms, **answer.timings_ms,
                             "generation": round((time.perf_counter() - started) * 1000, 2)}
        yield answer


def _fallback_reason(error: LanguageModelError | None, verified: Verified) -> str:
    if error is not None:
        return (f"the language model server failed ({error}); this is the extractive answer. "
                "Check that the server at FOUASSIST_LLM_BASE_URL is running")
    if verified.unsupported:
        return "no sentence of the model's answer was supported by the passages it cited; this is the extractive answer"
    return "the language model gave an empty answer; this is the extractive answer"


def load_generator(settings: GenerationSettings, interpreter: Interpreter, composer: Composer) -> Generator | None:
    """The generator the settings ask for, or None when no language model is configured.
    Missing prompt files stop start-up with a message that names them."""
    if not settings.llm_base_url:
        return None
    model = LanguageModel(settings)
    log.info("Generative answers through %s at %s", settings.llm_model, settings.llm_base_url)
    return Generator(model, Prompts.load(settings.prompts_dir), interpreter, composer, settings.llm_min_support)
