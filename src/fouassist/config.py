"""Typed settings, read once from FOUASSIST_* environment variables and an optional TOML file.

Precedence (highest first): explicit keyword arguments, environment variables, the TOML file
named by FOUASSIST_CONFIG (or ./fouassist.toml when it exists), then the defaults below.

Outside, the names are flat (FOUASSIST_DENSE_WEIGHT, `dense_weight = 10.0`); inside, each
component receives its own section (`settings.retrieval`, `settings.answer`, ...): a frozen
object with that component's fields, named as outside. Defaults and tuned values are written
once, in `Settings`; the sections only say which fields belong to whom.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_CONFIG_FILE = Path("fouassist.toml")


def _config_file() -> Path | None:
    named = os.environ.get("FOUASSIST_CONFIG")
    if named:
        path = Path(named)
        if not path.is_file():
            raise FileNotFoundError(
                f"FOUASSIST_CONFIG points at {path}, which is not a file; fix the path or unset it"
            )
        return path
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


@dataclass(frozen=True)
class Section:
    """A component's part of the settings: the fields of `Settings` it names."""

    @classmethod
    def of(cls, settings: Settings) -> Self:
        return cls(**{f.name: getattr(settings, f.name) for f in fields(cls)})


@dataclass(frozen=True)
class IndexSettings(Section):
    """Where the index lives: embedded Qdrant Edge under data_dir, or a Qdrant server or cluster."""
    data_dir: Path
    qdrant_url: str
    qdrant_api_key: SecretStr | None
    collection: str
    qdrant_shards: int
    qdrant_replicas: int
    catalog_refresh_s: float

    @property
    def index_path(self) -> Path:
        """The embedded index: a Qdrant Edge shard."""
        return self.data_dir / "index"


@dataclass(frozen=True)
class EmbeddingSettings(Section):
    """The dense model (and the optional cross-encoder) and where they come from."""
    embedding_model: str
    embedding_query_prefix: str | None
    embedding_passage_prefix: str | None
    embedding_batch_size: int
    embedding_device: str
    embedding_backend: str
    embedding_quantization: str
    hub_timeout_s: float
    model_cache_dir: Path
    reranker_model: str


@dataclass(frozen=True)
class ChunkingSettings(Section):
    """How documents are cut into chunks, and the lexical weighting of their terms."""
    chunk_target_chars: int
    chunk_max_chars: int
    chunk_min_chars: int
    bm25_k1: float
    bm25_b: float
    bm25_avg_terms: float


@dataclass(frozen=True)
class RetrievalSettings(Section):
    """The fused query and the ranking stage."""
    top_k: int
    candidates: int  # chunks each ranking fetches before fusion
    diversity_decay: float  # score factor per earlier pick from the same document
    rrf_dense_weight: float  # weights of the two rankings in the engine's fusion
    rrf_sparse_weight: float
    coverage_weight: float  # the ranking stage's signals: lexical coverage of the question,
    dense_weight: float  # cosine similarity to the question,
    fused_weight: float  # and the position in the engine's fused result


@dataclass(frozen=True)
class AnswerSettings(Section):
    """Choosing what to quote, and whether to answer at all."""
    answerable_threshold: float | None  # abstain below this probability; None: the model's own
    answerability_model: Path | None
    quote_min_score: float
    max_quotes: int
    max_quotes_per_document: int
    max_documents_in_answer: int
    document_share: float  # a document joins the answer when its best sentence reaches this share of the best
    second_quote_share: float  # a document's second sentence is quoted when it scores this share of its first
    dense_sentence_weight: float  # a sentence's cosine to the question, beside its lexical coverage


@dataclass(frozen=True)
class GenerationSettings(Section):
    """The optional language model for generative answers."""
    llm_base_url: str
    llm_model: str
    llm_api_key: SecretStr | None
    llm_timeout_s: float
    llm_retries: int
    llm_min_support: float
    prompts_dir: Path


@dataclass(frozen=True)
class ServerSettings(Section):
    """The HTTP API and the web interface: address, keys, bounds of requests, rate limits."""
    host: str
    port: int
    api_key: SecretStr | None
    read_requires_key: bool
    cors_origins: list[str]
    max_upload_mb: int
    max_request_mb: int
    upload_wait_s: float
    rate_limit_ask: str
    rate_limit_feedback: str
    rate_limit_upload: str
    rate_limit_ui_events: str
    rate_limit_login: str
    trusted_proxies: list[str]
    log_level: str


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FOUASSIST_", extra="ignore", validate_default=True)

    # Storage
    data_dir: Path = Field(Path("data"), description="Where the embedded index and feedback live.")
    qdrant_url: str = Field("", description="Qdrant server URL; empty means embedded Qdrant on disk.")
    qdrant_api_key: SecretStr | None = None
    collection: str = Field("fouassist", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    qdrant_shards: int = Field(1, ge=1, le=64, description="Shards per collection on a Qdrant server or cluster.")
    qdrant_replicas: int = Field(1, ge=1, le=8, description="Replicas per shard on a Qdrant cluster.")
    catalog_refresh_s: float = Field(2.0, ge=0, le=300, description="How often (at most) a process looks whether "
                                     "another one has changed a shared index.")

    # Default corpus
    corpus_dir: Path = Path("ingest/corpus")
    manifest: Path = Path("ingest/manifest.toml")
    auto_ingest: bool = Field(True, description="`serve` ingests the default corpus into an empty index.")
    eval_dir: Path = Field(Path("eval"), description="Question sets (sets/, external/) and thresholds.toml.")

    # Dense embeddings
    embedding_model: str = Field(
        "intfloat/multilingual-e5-small", description="Hub name or local sentence-transformers directory; empty disables."
    )
    embedding_query_prefix: str | None = Field(None, description="None: taken from the model (e5: 'query: ').")
    embedding_passage_prefix: str | None = Field(None, description="None: taken from the model (e5: 'passage: ').")
    embedding_batch_size: int = Field(8, ge=1, le=1024, description="Passages per batch (8 is fastest on 2 CPU cores).")
    embedding_device: str = "cpu"
    embedding_backend: Literal["torch", "onnx", "openvino"] = Field(
        "onnx", description="What runs the model: onnx (onnxruntime) and openvino use an export made once and "
                            "cached; torch is sentence-transformers itself (and the fallback).")
    embedding_quantization: Literal["none", "int8"] = Field(
        "none", description="Weights of the onnx/openvino export: none (float32) or int8 (dynamic quantisation).")
    hub_timeout_s: float = Field(3.0, gt=0, description="How long to wait for the model hub before giving up.")
    model_cache_dir: Path = Field(Path.home() / ".cache" / "fouassist",
                                  description="Converted bundled models and model checksums (outside git).")

    # Optional cross-encoder reranker; empty means off.
    reranker_model: str = ""

    # Optional language model (any OpenAI-compatible server) for generative answers; empty: off.
    llm_base_url: str = Field("", description="e.g. http://localhost:11434/v1 (Ollama) or a vLLM server.")
    llm_model: str = ""
    llm_api_key: SecretStr | None = None
    llm_timeout_s: float = Field(30.0, gt=0, description="Per request to the model server (and between chunks).")
    llm_retries: int = Field(2, ge=0, le=10, description="Retries with exponential backoff on failures.")
    llm_min_support: float = Field(0.5, ge=0, le=1, description="Share of a generated sentence's content words "
                                                                "that its cited passages must contain.")
    prompts_dir: Path = Field(Path("prompts"), description="Prompt files: answer.sv.md, answer.nb.md, rewrite.*.md.")

    # Chunking (characters; ~1,600 characters of Swedish stay under 512 e5 tokens)
    chunk_target_chars: int = Field(900, ge=200)
    chunk_max_chars: int = Field(1600, ge=300)
    chunk_min_chars: int = Field(250, ge=0)

    # Lexical weighting (BM25 term saturation; IDF is applied by Qdrant)
    bm25_k1: float = 1.2
    bm25_b: float = 0.75
    bm25_avg_terms: float = Field(110.0, gt=0, description="Typical analysed terms per chunk.")

    # Retrieval and answers
    top_k: int = Field(5, ge=1, le=50)
    # The candidates, the decay and the weights below were tuned with eval/tune.py and the bundled
    # multilingual-e5-small on the development material only (the default set's dev split, SweFAQ's
    # tuning half, NorQuAD train; 2026-12-05), so every figure of the gate is held-out for them.
    candidates: int = Field(30, ge=5, le=200, description="Chunks fetched per prefetch before fusion.")
    diversity_decay: float = Field(1.0, gt=0, le=1, description="Score factor per earlier hit from the same document.")
    rrf_dense_weight: float = Field(2.0, ge=0, le=10, description="Weight of the dense ranking in Qdrant's fusion.")
    rrf_sparse_weight: float = Field(1.0, ge=0, le=10, description="Weight of the sparse ranking in Qdrant's fusion.")
    coverage_weight: float = Field(1.0, ge=0, le=50, description="Ranking: weight of the question's lexical coverage.")
    dense_weight: float = Field(10.0, ge=0, le=50, description="Ranking: weight of the cosine similarity (e5's "
                                "cosines differ by a few hundredths between passages, hence the size).")
    fused_weight: float = Field(0.1, ge=0, le=50, description="Ranking: weight of the position in the fused result.")
    max_quotes: int = Field(4, ge=1, le=10)
    max_quotes_per_document: int = Field(2, ge=1, le=10)
    max_documents_in_answer: int = Field(3, ge=1, le=10)
    answerable_threshold: float | None = Field(None, ge=0, le=1, description="Abstain when the answerability model's "
                                               "probability is below this; empty: the model's own operating point.")
    answerability_model: Path | None = Field(None, description="Weights of the answerability model; empty: the "
                                             "ones shipped (fouassist answerability train makes new ones).")
    quote_min_score: float = Field(0.2, ge=0, le=1, description="No sentence scoring below this is quoted.")
    document_share: float = Field(0.7, gt=0, le=1, description="A document joins the answer when its best "
                                  "sentence scores at least this share of the best.")
    second_quote_share: float = Field(0.85, gt=0, le=1.5, description="A document's second sentence is quoted "
                                      "when it scores at least this share of its first (or adds what the question "
                                      "asks for: a date, a number, ...).")
    dense_sentence_weight: float = Field(5.0, ge=0, le=50, description="Choosing sentences: weight of their cosine "
                                         "to the question beside their lexical coverage.")

    # Service
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    api_key: SecretStr | None = Field(None, description="When set, writes need 'Authorization: Bearer <key>'.")
    read_requires_key: bool = Field(False, description="Reads (questions, documents) need the key too.")
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list,
                                                         description="Origins allowed by CORS; empty: none.")
    max_upload_mb: int = Field(50, ge=1, description="Largest upload, enforced while the body arrives.")
    max_request_mb: int = Field(2, ge=1, description="Largest body of any other request.")
    write_wait_s: float = Field(5.0, ge=0, le=600, description="How long a change waits for another to finish "
                                "before it is refused (409 with Retry-After).")
    upload_wait_s: float = Field(5.0, ge=0, le=600, description="How long an upload request waits for its job; "
                                 "a longer one is answered 202 with the job's address.")
    max_document_chars: int = Field(3_000_000, ge=1000, description="Largest document, in characters of text.")
    max_expanded_mb: int = Field(100, ge=1, description="Largest size a DOCX or HTML upload may expand to.")
    # Reading one document: counted while it is extracted (see documents.ReadLimits), then a reader
    # process with a deadline and a memory cap (see sandbox.py) for what the counts cannot see.
    max_pages: int = Field(2000, ge=1, description="Most pages of a PDF.")
    max_page_chars: int = Field(100_000, ge=1000, description="Most characters of text on one PDF page.")
    max_html_nodes: int = Field(200_000, ge=100, description="Most elements of an HTML page.")
    max_html_depth: int = Field(200, ge=10, description="Deepest nesting of HTML elements.")
    max_docx_paragraphs: int = Field(50_000, ge=100, description="Most paragraphs (empty ones too) of a DOCX.")
    max_docx_elements: int = Field(1_000_000, ge=1000, description="Most XML elements in all parts of a DOCX.")
    max_chars_per_byte: int = Field(20, ge=1, description="Most characters of text per byte of the file (a small "
                                    "file that yields much text is damaged or crafted).")
    max_unpacked_ratio: int = Field(100, ge=2, description="Most times its own size a DOCX may unpack to.")
    parse_base_s: float = Field(2.0, gt=0, le=600, description="Processor time to read one document, beside "
                                "parse_s_per_mb.")
    parse_s_per_mb: float = Field(5.0, gt=0, le=600, description="Processor time to read one document, per MB of "
                                  "the file; past base + per MB the reader is stopped and the job fails (too_slow).")
    parse_wall_factor: float = Field(4.0, ge=1, le=100, description="Wall-clock time to read one document, as a "
                                     "multiple of its processor time (a busy machine reads slower).")
    parse_memory_mb: int = Field(300, ge=50, description="Memory the reader of one document may take (its address "
                                 "space beyond its start); past it the job fails (too_large).")
    max_queued_upload_mb: int = Field(100, ge=1, description="Uploads waiting to be indexed, in MB; beyond it an "
                                      "upload is refused (429 with Retry-After).")
    rate_limit_ask: str = Field("300/minute", description="Per client: questions (API, chat, web interface); "
                                "empty: no limit.")
    rate_limit_feedback: str = Field("30/minute", description="Per client: feedback; empty: no limit.")
    rate_limit_upload: str = Field("60/minute", description="Per client: uploads (API and web interface); "
                                   "empty: no limit.")
    rate_limit_ui_events: str = Field("600/minute", description="Per client: events of the web interface "
                                      "(any click or key that reaches the server); empty: no limit.")
    rate_limit_login: str = Field("10/minute", description="Per client: attempts to log in to the web interface "
                                  "(when reads need the key); empty: no limit.")
    max_history_messages: int = Field(10, ge=0, le=100, description="Earlier messages of a conversation "
                                      "carried into a follow-up question (the most recent ones).")
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list, description="Addresses of "
                                                            "reverse proxies whose X-Forwarded-For names the client; "
                                                            "empty: the connection's address is the client.")
    log_level: str = "INFO"

    # Test only (never set in use): let tests act while a write is under way, or before the models
    # have loaded, without depending on how fast the machine is.
    test_batch_pause_s: float = Field(0.0, ge=0, le=60, description="Test only: pause between two batches of a "
                                      "document's chunks, with the write lock held.")
    test_hold_models_file: Path | None = Field(None, description="Test only: the models start loading once this "
                                               "file no longer exists.")

    @field_validator("qdrant_url", "llm_base_url", "llm_model")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @model_validator(mode="after")
    def _queue_holds_an_upload(self) -> Settings:
        if self.max_queued_upload_mb < self.max_upload_mb:
            raise ValueError(f"FOUASSIST_MAX_QUEUED_UPLOAD_MB ({self.max_queued_upload_mb}) is below "
                             f"FOUASSIST_MAX_UPLOAD_MB ({self.max_upload_mb}): the largest upload could never be "
                             "queued; raise the first or lower the second")
        return self

    @model_validator(mode="after")
    def _llm_complete(self) -> Settings:
        if self.llm_base_url and not self.llm_model:
            raise ValueError("FOUASSIST_LLM_BASE_URL is set but FOUASSIST_LLM_MODEL is not: "
                             "name the model the server should use (for example llama3.1:8b)")
        return self

    @field_validator("answerability_model", "test_hold_models_file", mode="before")
    @classmethod
    def _empty_path_is_unset(cls, value):
        # FOUASSIST_ANSWERABILITY_MODEL= means "the shipped weights", not the current folder
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("cors_origins", "trusted_proxies", mode="before")
    @classmethod
    def _origins(cls, value):
        if isinstance(value, str):  # FOUASSIST_CORS_ORIGINS="https://a.se,https://b.no" as well as JSON
            value = value.strip()
            if value.startswith("["):
                return json.loads(value)
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    # -- each component's section ------------------------------------------------------------------
    @property
    def index(self) -> IndexSettings:
        return IndexSettings.of(self)

    @property
    def embedding(self) -> EmbeddingSettings:
        return EmbeddingSettings.of(self)

    @property
    def chunking(self) -> ChunkingSettings:
        return ChunkingSettings.of(self)

    @property
    def retrieval(self) -> RetrievalSettings:
        return RetrievalSettings.of(self)

    @property
    def answer(self) -> AnswerSettings:
        return AnswerSettings.of(self)

    @property
    def generation(self) -> GenerationSettings:
        return GenerationSettings.of(self)

    @property
    def server(self) -> ServerSettings:
        return ServerSettings.of(self)

    @property
    def index_path(self) -> Path:
        return self.index.index_path

    @property
    def feedback_path(self) -> Path:
        return self.data_dir / "feedback" / "feedback.jsonl"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = _config_file()
        if config_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)
