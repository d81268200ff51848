"""Request and response models of the HTTP API. `AskResponse.of` is the one mapping from an answer
to its JSON: POST /v1/ask, the chat's extra fields, `fouassist ask --json` and the web interface use it."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)

from fouassist.ask.answer import Answer, Citation
from fouassist.ask.retrieval import Passage
from fouassist.bounds import (
    MAX_MESSAGE_CHARS,
    MAX_QUESTION_CHARS,
    WORD_PATTERN,
    DocumentText,
    Text,
    check_question,
    check_text,
)
from fouassist.index.store import SearchFilters, SectionRecord

Language = Literal["sv", "nb", "nn"]


class ErrorOut(BaseModel):
    message: str = Field(description="What is wrong and what to do about it.")
    detail: Any = Field(None, description="The same, or the list of validation errors.")


class FeedbackSaved(BaseModel):
    id: str


class Filters(BaseModel):
    """Which documents to search. Every field is optional; unknown fields are an error."""

    model_config = ConfigDict(extra="forbid")
    document_ids: list[Annotated[Text, Field(max_length=64)]] | None = Field(None, max_length=500,
                                                                             description="Only these document ids.")
    organisations: list[Annotated[Text, Field(max_length=200)]] | None = Field(
        None, max_length=100, description="Only documents of these organisations.")
    languages: list[Language] | None = Field(None, description="Only documents in these languages.")
    date_from: dt.date | None = Field(None, description="Only documents dated on or after this day (YYYY-MM-DD).")
    date_to: dt.date | None = Field(None, description="Only documents dated on or before this day (YYYY-MM-DD).")

    @field_validator("date_from", "date_to", mode="before")
    @classmethod
    def _iso_date(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, str):
            raise ValueError("a date must be written as YYYY-MM-DD")  # not a number of days since 1970
        return value

    @model_validator(mode="after")
    def _range(self) -> Filters:
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError("date_from must not be after date_to")
        return self

    def to_search(self) -> SearchFilters:
        return SearchFilters(
            document_ids=self.document_ids, organisations=self.organisations, languages=self.languages,
            date_from=self.date_from.isoformat() if self.date_from else None,
            date_to=self.date_to.isoformat() if self.date_to else None,
        )




class HistoryMessage(BaseModel):
    """An earlier turn: a question (read by the analyser, so limited like one) or an answer."""

    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "assistant"]
    content: str = Field(description=f"At most {MAX_QUESTION_CHARS} characters for a question, "
                                     f"{MAX_MESSAGE_CHARS} for an answer.")

    @model_validator(mode="after")
    def _limits(self) -> HistoryMessage:
        check_text(self.content, f"earlier {'question' if self.role == 'user' else 'answer'}",
                   MAX_QUESTION_CHARS if self.role == "user" else MAX_MESSAGE_CHARS)
        return self


AnswerMode = Literal["extractive", "generative"]
MODE_HELP = ("extractive: verbatim quotes (the default); generative: written by the configured language model, "
             "every sentence's citations verified (extractive, with `fallback_reason`, when no model is configured "
             "or it fails).")


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(description=f"The question, 1 to {MAX_QUESTION_CHARS} characters, with at least one word.",
                          min_length=1, max_length=MAX_QUESTION_CHARS, pattern=WORD_PATTERN,
                          examples=["Vad säger strategin om forskningstid?"])
    top_k: StrictInt = Field(5, ge=1, le=50, description="How many passages to retrieve.")
    filters: Filters | None = None
    history: list[HistoryMessage] = Field(default_factory=list, max_length=50,
                                          description="Earlier turns, oldest first, for follow-up questions.")
    mode: AnswerMode = Field("extractive", description=MODE_HELP)

    @field_validator("question", mode="before")
    @classmethod
    def _question(cls, value: Any) -> Any:
        return check_question(value) if isinstance(value, str) else value


class RetrieveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS, pattern=WORD_PATTERN, examples=["forskningstid"])
    top_k: StrictInt = Field(5, ge=1, le=50)
    filters: Filters | None = None

    @field_validator("query", mode="before")
    @classmethod
    def _query(cls, value: Any) -> Any:
        return check_question(value, "query") if isinstance(value, str) else value


class CitationOut(BaseModel):
    id: int = Field(description="The n of the marker [n] in the answer.")
    document_id: str
    title: str
    organisation: str | None
    section: str | None
    page: int | None = Field(description="The page the quote starts on (documents with pages).")
    last_page: int | None = Field(description="The page it ends on.")
    passage: str = Field(description="The text of the chunk the quote comes from.")
    quote: str = Field(description="The cited span, verbatim.")
    start: int = Field(description="Offset of the quote in the document text.")
    end: int
    score: float

    @classmethod
    def of(cls, citation: Citation) -> CitationOut:
        return cls(**{name: getattr(citation, name) for name in cls.model_fields})


class AskResponse(BaseModel):
    answer: str
    abstained: bool
    language: Language
    citations: list[CitationOut]
    closest: list[CitationOut] = Field(description="When the answer abstains: the nearest passages, which do not answer.")
    query: str = Field(description="What was searched for: the question, with the conversation's subject for a follow-up.")
    mode: AnswerMode = Field(description="How this answer was made (extractive after a generative request that fell back).")
    unsupported: list[str] = Field(default_factory=list, description="Generated sentences that verification removed "
                                   "(no citation, or not supported by the passages they cited).")
    fallback_reason: str | None = Field(None, description="Why a generative request got the extractive answer.")
    answerability: float | None = Field(None, description="The probability (0-1) that the documents answer the "
                                        "question; the answer abstains below the server's threshold, and a client "
                                        "may set its own bar.")
    timings_ms: dict[str, float]

    @classmethod
    def of(cls, answer: Answer) -> AskResponse:
        return cls(
            answer=answer.answer, abstained=answer.abstained, language=answer.language,
            citations=[CitationOut.of(c) for c in answer.citations], closest=[CitationOut.of(c) for c in answer.closest],
            query=answer.query, mode=answer.mode, unsupported=answer.unsupported,
            fallback_reason=answer.fallback_reason, answerability=answer.answerability, timings_ms=answer.timings_ms,
        )


class PassageOut(BaseModel):
    chunk_id: str
    document_id: str
    title: str
    organisation: str | None
    section: str | None
    heading_path: list[str]
    page: int | None
    last_page: int | None
    text: str
    start: int
    end: int
    score: float
    coverage: float = Field(description="Share of the query's content words (weighted by rarity) in the passage.")
    dense: float = Field(description="Cosine similarity of the passage to the query (0 without dense search).")

    @classmethod
    def of(cls, passage: Passage) -> PassageOut:
        return cls(**{name: getattr(passage, name) for name in cls.model_fields})


class RetrieveResponse(BaseModel):
    passages: list[PassageOut]
    timings_ms: dict[str, float]


class DenseHealth(BaseModel):
    enabled: bool
    state: Literal["loading", "ready", "off"] = Field(description="loading: the model loads in the background "
                                                                 "and questions wait for it.")
    model: str | None
    reason: str | None
    code: str | None = Field(None, description="Why dense search is off: loading, unset, missing, broken, "
                                                 "offline, download_failed or index.")
    source: str | None = Field(None, description="Where the model's weights came from.")
    checksum: str | None = Field(None, description="sha256 of the model's files; the index records it.")
    load_s: float | None = Field(None, description="Seconds the models took to load in the background after "
                                                   "start (absent while they load).")
    backend: str | None = Field(None, description="What runs the model (FOUASSIST_EMBEDDING_BACKEND and "
                                                  "_QUANTIZATION), e.g. 'onnxruntime int8 (...)' or 'torch float32'.")
    warning: str | None = Field(None, description="Why the backend asked for does not run (torch float32 runs "
                                                  "instead).")


class LanguageModelHealth(BaseModel):
    configured: bool
    model: str | None
    reachable: bool | None = Field(description="Whether the model server answered its last check (every 30 s at "
                                               "most); null when none is configured.")
    reason: str | None


class HealthResponse(BaseModel):
    status: Literal["ok"]
    documents: int
    chunks: int
    dense: DenseHealth
    llm: LanguageModelHealth
    version: str
    catalog_version: int = Field(description="Moves with every change of the index's documents.")
    ui: Literal["ready", "starting", "off", "failed"] = "off"


class DocumentOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    source: str
    format: str
    title: str
    organisation: str | None
    date: str | None
    language: str
    sections: list[SectionRecord]
    pages: int | None
    characters: int
    chunk_count: int
    dense_model: str | None = None
    ingested_at: str | None = None


class DocumentWithText(DocumentOut):
    text: str


class DocumentList(BaseModel):
    documents: list[DocumentOut]


class UploadResult(DocumentOut):
    outcome: Literal["added", "replaced", "unchanged"]
    job_id: str = Field(description="The upload's job (GET /v1/jobs/{job_id}).")


class JobOut(BaseModel):
    id: str
    name: str = Field(description="The uploaded file's name.")
    status: Literal["queued", "running", "succeeded", "failed"]
    created: str
    started: str | None
    finished: str | None
    done: int = Field(description="Chunks indexed so far.")
    total: int = Field(description="Chunks of the document (0 until it has been read).")
    chunks_per_s: float | None = Field(None, description="Chunks indexed per second so far (null until the "
                                                         "second batch is written).")
    seconds_left: float | None = Field(None, description="Seconds until the document is indexed, at that rate.")
    outcome: Literal["added", "replaced", "unchanged"] | None
    document: dict[str, Any] | None = Field(description="The document's metadata, once indexed.")
    error: str | None = Field(description="What went wrong and what to do.")
    error_code: str | None


class JobList(BaseModel):
    jobs: list[JobOut]


class DocumentMetadata(BaseModel):
    """What a text document may say about itself; every field optional, anything else an error."""

    model_config = ConfigDict(extra="forbid")
    organisation: StrictStr | None = Field(None, min_length=1, max_length=200)
    date: StrictStr | None = Field(None, description="YYYY-MM-DD")
    language: Language | None = None
    source: StrictStr | None = Field(None, min_length=1, max_length=200, description="A file name to list it under.")

    @field_validator("organisation", "source")
    @classmethod
    def _text(cls, value: str | None, info) -> str | None:
        return check_text(value, f"metadata.{info.field_name}") if value is not None else None

    @field_validator("date")
    @classmethod
    def _date(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                dt.date.fromisoformat(value)
            except ValueError:
                raise ValueError("metadata.date must be a date written as YYYY-MM-DD") from None
        return value


class TextDocument(BaseModel):
    """A document given as text instead of a file."""

    model_config = ConfigDict(extra="forbid")
    title: Text = Field(min_length=1, max_length=500)
    text: DocumentText = Field(min_length=1, description="At most FOUASSIST_MAX_DOCUMENT_CHARS characters "
                               "(3,000,000 unless configured).")
    metadata: DocumentMetadata = Field(default_factory=DocumentMetadata)


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return " ".join(str(part.get("text", "")) for part in self.content if part.get("type") == "text")
        return self.content or ""

    @model_validator(mode="after")
    def _limits(self) -> ChatMessage:
        """Questions are read by the analyser and limited like one; other messages are kept only."""
        check_text(self.text(), f"{self.role} message",
                   MAX_QUESTION_CHARS if self.role == "user" else MAX_MESSAGE_CHARS)
        return self


GENERATIVE_MODEL = "fouassist-generative"  # the model name that asks the chat endpoint for generative answers


class ChatRequest(BaseModel):
    """OpenAI-compatible chat request; sampling parameters are accepted and ignored. The last
    message from the user is the question."""

    model_config = ConfigDict(extra="allow")
    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1, max_length=100, json_schema_extra={
        "contains": {"type": "object", "required": ["role", "content"],
                     "properties": {"role": {"const": "user"},
                                    "content": {"type": "string", "minLength": 1, "pattern": WORD_PATTERN}}},
    })
    stream: StrictBool = False
    top_k: StrictInt = Field(5, ge=1, le=50)
    filters: Filters | None = None
    mode: AnswerMode | None = Field(None, description=MODE_HELP + " Default: generative when `model` is "
                                    "fouassist-generative, else extractive.")

    @model_validator(mode="after")
    def _last_is_question(self) -> ChatRequest:
        users = [m for m in self.messages if m.role == "user"]
        if not users:
            raise ValueError("messages must contain at least one message with role 'user'")
        check_question(users[-1].text(), "last user message")
        return self

    def answer_mode(self) -> str:
        return self.mode or ("generative" if self.model == GENERATIVE_MODEL else "extractive")

    def question(self) -> str:
        return [m for m in self.messages if m.role == "user"][-1].text().strip()

    def history(self) -> list[dict[str, str]]:
        last_user = max(i for i, m in enumerate(self.messages) if m.role == "user")
        return [{"role": m.role, "content": m.text()} for m in self.messages[:last_user] if m.role in ("user", "assistant")]


class ContextOut(BaseModel):
    document_id: str
    title: str
    organisation: str | None
    start: int = Field(description="Offset of the excerpt in the document text.")
    end: int
    text: str = Field(description="The paragraphs around the span.")
    quote_start: int = Field(description="Offset of the span within the excerpt.")
    quote_end: int
