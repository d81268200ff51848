"""The HTTP API (FastAPI): ask, retrieve, documents, health, and an OpenAI-compatible chat.

`create_app(service)` builds the app around a service that was built once from settings; the
routes are thin: validate, call the service (in a worker thread: it does blocking work), shape
the response. Errors come back as JSON with a message that says what to fix, never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import PurePosixPath, PureWindowsPath
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from fouassist import __version__
from fouassist.ask.answer import Answer
from fouassist.feedback import Feedback
from fouassist.ingest.jobs import Job, QueueFull
from fouassist.serve.middleware import (
    NO_INTERFACE,
    UI_API,
    BodyLimitMiddleware,
    ClientLimiter,
    CrossSiteGuard,
    Metrics,
    RateLimitMiddleware,
    RequestMiddleware,
    WebInterfaceGate,
    key_matches,
)
from fouassist.serve.schemas import (
    GENERATIVE_MODEL,
    AskRequest,
    AskResponse,
    ChatRequest,
    CitationOut,
    ContextOut,
    DocumentList,
    DocumentWithText,
    ErrorOut,
    FeedbackSaved,
    HealthResponse,
    JobList,
    JobOut,
    PassageOut,
    RetrieveRequest,
    RetrieveResponse,
    TextDocument,
    UploadResult,
    check_text,
)
from fouassist.service import Busy, NotFound, QuestionTooLong, Service

log = logging.getLogger(__name__)
MODEL_NAME = "fouassist"
UPLOAD_PATHS = ("/v1/documents", UI_API + "upload")
ASK_PATHS = ("/v1/ask", "/v1/retrieve", "/v1/chat/completions")


def get_service(request: Request) -> Service:
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(get_service)]


def _check_key(request: Request) -> None:
    key = request.app.state.service.settings.api_key
    if key is not None and not key_matches(request.headers.get("authorization", ""), key.get_secret_value()):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "this needs the API key: send 'Authorization: Bearer <key>'",
                            headers={"WWW-Authenticate": "Bearer"})


def require_write_key(request: Request) -> None:
    """Writes need `Authorization: Bearer <FOUASSIST_API_KEY>` when a key is configured."""
    _check_key(request)


def require_read_key(request: Request) -> None:
    """Reads need the key too when FOUASSIST_READ_REQUIRES_KEY is true."""
    if request.app.state.service.settings.read_requires_key:
        _check_key(request)


READ = [Depends(require_read_key)]
WRITE = [Depends(require_write_key)]


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error answers a route gives (all shaped as ErrorOut)."""
    text = {401: "the API key is missing or wrong", 404: "no such document", 409: "another change is under way; "
            "try again after Retry-After seconds", 413: "the body or the document is too large",
            415: "the file type is not supported", 422: "the request is not valid; the message says why",
            429: "too many requests from this client, or the upload queue is full; try again after Retry-After "
                 "seconds"}
    return {code: {"model": ErrorOut, "description": text[code]} for code in codes}


def _validation_message(errors: list[dict[str, Any]]) -> str:
    parts = []
    for error in errors:
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path"))
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        if "unable to parse raw data as a unicode string" in message:
            message = "contains an invalid character (a lone UTF-16 surrogate such as \\udfff); send text in valid UTF-8"
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts) or "the request is not valid"


def _safe_filename(name: str | None, limit: int = 200) -> str:
    """The last component of an uploaded file's name, without control characters, at most
    `limit` characters long: a long name loses the end of its stem, never its extension."""
    base = PureWindowsPath(PurePosixPath(name or "").name).name
    cleaned = "".join(ch for ch in base if ch.isprintable() and not 0xD800 <= ord(ch) <= 0xDFFF).strip().lstrip(".")
    if not cleaned:
        raise HTTPException(422, "the uploaded file has no usable name; give it a name such as strategy.pdf")
    stem, dot, suffix = cleaned.rpartition(".")
    if not dot or len(suffix) > 10:
        return cleaned[:limit]
    return f"{stem[:limit - len(suffix) - 1]}.{suffix}"


def _check_text(value: str, name: str) -> None:
    try:
        check_text(value, name)
    except ValueError as error:
        raise HTTPException(422, str(error)) from None


def _validation_error(errors: list[dict[str, Any]]) -> Response:
    """422 with what is wrong. Written with ASCII escapes, since the input it echoes may hold
    characters that UTF-8 cannot encode (a lone surrogate)."""
    content = {"message": _validation_message(errors), "detail": errors}
    return Response(json.dumps(content, ensure_ascii=True, default=str), status_code=422,
                    media_type="application/json")


def _job_error(job: Job) -> HTTPException:
    """The HTTP error of a failed upload job, as the request would have had it."""
    code = {"unsupported": 415, "too_large": 413, "busy": 409, "internal": 500}.get(job.error_code or "", 422)
    headers = {"Retry-After": "5"} if code == 409 else None
    return HTTPException(code, job.error or "the upload failed", headers=headers)


Extension = Callable[[FastAPI, AsyncExitStack], Awaitable[None]]


def create_app(service: Service, extensions: Sequence[Extension] = ()) -> FastAPI:
    """The API around `service`. Each extension runs as a task once the server is up (the web
    interface mounts itself that way, so that its slow import does not delay the API)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with AsyncExitStack() as stack:
            tasks = [asyncio.create_task(extension(app, stack)) for extension in extensions]
            yield
            for task in tasks:
                task.cancel()

    app = FastAPI(
        title="fouassist",
        version=__version__,
        description="Cited answers from Swedish and Norwegian healthcare R&D strategy documents.",
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.ui = "off"
    app.state.interface_events = NO_INTERFACE  # what the web interface's gate knows, once it is mounted
    settings = service.settings
    metrics = Metrics(lambda: service.health(check_model=False))
    app.add_middleware(BodyLimitMiddleware, upload_mb=settings.max_upload_mb, other_mb=settings.max_request_mb,
                       upload_paths=UPLOAD_PATHS)
    # Always present, even with no origin allowed: the web interface (Gradio) then follows it
    # instead of its own rule, which trusts any localhost origin.
    app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["*"],
                       allow_headers=["Authorization", "Content-Type", "X-Request-ID"])
    app.state.limiter = limiter = ClientLimiter({
        "ask": settings.rate_limit_ask, "feedback": settings.rate_limit_feedback,
        "upload": settings.rate_limit_upload, "ui": settings.rate_limit_ui_events, "login": settings.rate_limit_login,
    })
    app.add_middleware(RateLimitMiddleware, limiter=limiter, routes=[
        (ASK_PATHS, ("POST",), "ask"),
        (("/v1/feedback",), ("POST",), "feedback"),
        (UPLOAD_PATHS, ("POST",), "upload"),
        (("/ui/login",), ("POST",), "login"),  # the interface's login, when reads need the key
        ((UI_API,), ("POST",), "ui"),  # each event of the interface; its questions and feedback count as above too
    ])
    api_key = settings.api_key.get_secret_value() if settings.api_key else None
    app.add_middleware(WebInterfaceGate, api_key=api_key, interface=lambda: app.state.interface_events,
                       max_body_mb=settings.max_request_mb)
    app.add_middleware(CrossSiteGuard, allowed_origins=settings.cors_origins)
    app.add_middleware(RequestMiddleware, metrics=metrics)

    @app.get("/metrics", tags=["service"], response_class=PlainTextResponse,
             responses={200: {"content": {"text/plain": {}}}})
    def prometheus_metrics() -> Response:
        """Request counts and latency histograms by route, and the index size (Prometheus text format)."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> Response:
        return _validation_error(error.errors())

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        message = str(error.detail)
        status_code = error.status_code
        if status_code == 400 and message == "There was an error parsing the body":
            status_code, message = 422, "the request body cannot be read: send JSON in UTF-8 (or a multipart form)"
        return JSONResponse(status_code=status_code, content={"message": message, "detail": message},
                            headers=getattr(error, "headers", None))

    @app.exception_handler(Busy)
    async def _busy(request: Request, error: Busy) -> JSONResponse:
        return JSONResponse(status_code=409, content={"message": str(error), "detail": str(error)},
                            headers={"Retry-After": str(max(1, round(settings.write_wait_s)))})

    @app.exception_handler(QuestionTooLong)
    async def _too_long(request: Request, error: QuestionTooLong) -> JSONResponse:
        return JSONResponse(status_code=422, content={"message": str(error), "detail": str(error)})

    @app.exception_handler(QueueFull)
    async def _queue_full(request: Request, error: QueueFull) -> JSONResponse:
        return JSONResponse(status_code=429, content={"message": str(error), "detail": str(error)},
                            headers={"Retry-After": str(max(1, round(settings.parse_base_s)))})

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, error: NotFound) -> JSONResponse:
        message = f"no document with id {error}; GET /v1/documents lists them"
        return JSONResponse(status_code=404, content={"message": message, "detail": message})

    @app.exception_handler(Exception)
    async def _crash(request: Request, error: Exception) -> JSONResponse:
        reference = uuid.uuid4().hex[:12]
        log.exception("Unhandled error on %s %s (reference %s)", request.method, request.url.path, reference)
        return JSONResponse(status_code=500, content={
            "message": f"internal error; the server log has the details under reference {reference}",
        })

    @app.get("/health", response_model=HealthResponse, tags=["service"])
    async def health(request: Request, service: ServiceDep) -> dict[str, Any]:
        """Index size, whether dense (semantic) search is on and if not why, and whether the web
        interface is `ready`, `starting`, `off` or `failed`. It runs in a thread of its own pool,
        so that questions filling the request threads never keep it from answering."""
        return {**await asyncio.to_thread(service.health), "ui": request.app.state.ui}

    @app.post("/v1/ask", response_model=AskResponse, tags=["questions"], dependencies=READ,
              responses=errors(401, 413, 422, 429))
    def ask(body: AskRequest, service: ServiceDep) -> AskResponse:
        """A short answer built from verbatim passages, each cited as [n]; or, with
        `"mode": "generative"`, written by the configured language model with every sentence's
        citations verified."""
        answer = service.ask(body.question, body.top_k, body.filters.to_search() if body.filters else None,
                             [m.model_dump() for m in body.history], mode=body.mode)
        return AskResponse.of(answer)

    @app.post("/v1/retrieve", response_model=RetrieveResponse, tags=["questions"], dependencies=READ,
              responses=errors(401, 413, 422, 429))
    def retrieve(body: RetrieveRequest, service: ServiceDep) -> RetrieveResponse:
        """The best passages for a query, without composing an answer."""
        result = service.retrieve(body.query, body.top_k, body.filters.to_search() if body.filters else None)
        return RetrieveResponse(passages=[PassageOut.of(p) for p in result.passages], timings_ms=result.timings_ms)

    # -- documents -----------------------------------------------------------------------------
    @app.get("/v1/documents", response_model=DocumentList, tags=["documents"], dependencies=READ,
             responses=errors(401))
    def list_documents(service: ServiceDep) -> dict[str, Any]:
        return {"documents": service.documents()}

    @app.get("/v1/documents/{document_id}", response_model=DocumentWithText, tags=["documents"], dependencies=READ,
             responses=errors(401, 404, 422))
    def get_document(document_id: str, service: ServiceDep) -> dict[str, Any]:
        """A document's metadata and its cleaned text (the text that citation offsets point into)."""
        return service.document(document_id)

    @app.get("/v1/documents/{document_id}/context", response_model=ContextOut, tags=["documents"],
             dependencies=READ, responses=errors(401, 404, 422))
    def get_context(document_id: str, service: ServiceDep, start: Annotated[int, Query(ge=0)],
                    end: Annotated[int, Query(ge=0)], paragraphs: Annotated[int, Query(ge=0, le=10)] = 2) -> dict:
        """The paragraphs around a span (a citation's start and end), to read a quote in context."""
        try:
            return service.context(document_id, start, end, paragraphs)
        except ValueError as error:
            raise HTTPException(422, str(error)) from None

    @app.post(
        "/v1/documents", response_model=UploadResult, status_code=201, tags=["documents"],
        dependencies=WRITE, responses={200: {"model": UploadResult, "description": "the same content was already indexed"},
                                       202: {"model": JobOut, "description": "still being indexed: follow the job"},
                                       **errors(401, 409, 413, 415, 422, 429)},
        openapi_extra={"requestBody": {"required": True, "content": {
            "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
                "file": {"type": "string", "format": "binary"}, "title": {"type": "string"}}}},
            "application/json": {"schema": TextDocument.model_json_schema()},
        }}},
    )
    async def upload_document(request: Request, response: Response) -> Any:
        """Add a document: a file (PDF, DOCX, TXT, MD, HTML) as multipart, or JSON with title and text.

        It is indexed by a background job. Answers 201 when the document was added or replaced,
        200 when the same content was already indexed, and 202 with the job's address
        (`Location`, and `job` in the body) when indexing takes longer than a few seconds."""
        service: Service = request.app.state.service  # the body's size is limited by BodyLimitMiddleware
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("multipart/form-data"):
            try:
                form = await request.form(max_files=1, max_fields=5)
            except StarletteHTTPException as error:
                raise HTTPException(422, f"the multipart form cannot be read ({error.detail}); "
                                         "send the document in a field named 'file'") from None
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise HTTPException(422, "file: send the document in a form field named 'file'")
            title = form.get("title")
            title = title.strip() if isinstance(title, str) and title.strip() else None
            if title is not None:
                _check_text(title, "title")
            job = service.submit_upload(_safe_filename(upload.filename), await upload.read(), title)
        elif content_type.startswith("application/json"):
            try:
                body = TextDocument.model_validate_json(await request.body())
            except ValidationError as error:
                return _validation_error(error.errors())
            job = service.submit_text(body.title, body.text, body.metadata.model_dump(exclude_none=True))
        else:
            raise HTTPException(415, "send multipart/form-data with a 'file' field, or JSON with 'title' and 'text'")
        if not await run_in_threadpool(job.wait, settings.upload_wait_s):
            return JSONResponse(status_code=202, content=JobOut(**job.public()).model_dump(),
                                headers={"Location": f"/v1/jobs/{job.id}"})
        if job.status == "failed":
            raise _job_error(job)
        response.status_code = 200 if job.outcome == "unchanged" else 201
        return {**(job.document or {}), "outcome": job.outcome, "job_id": job.id}

    @app.get("/v1/jobs", response_model=JobList, tags=["documents"], dependencies=WRITE, responses=errors(401))
    def list_jobs(service: ServiceDep) -> dict[str, Any]:
        """Upload jobs, newest first: queued, running (with progress in chunks), succeeded or failed."""
        return {"jobs": [job.public() for job in service.jobs.list()]}

    @app.get("/v1/jobs/{job_id}", response_model=JobOut, tags=["documents"], dependencies=WRITE,
             responses=errors(401, 404))
    def get_job(job_id: str, service: ServiceDep) -> dict[str, Any]:
        """One upload job: its status, progress, and the document or the error when it is done."""
        job = service.jobs.get(job_id)
        if job is None:
            raise HTTPException(404, f"no job with id {job_id}; GET /v1/jobs lists the recent ones")
        return job.public()

    @app.delete("/v1/documents/{document_id}", status_code=204, tags=["documents"], dependencies=WRITE,
                responses=errors(401, 404, 409, 422))
    def delete_document(document_id: str, service: ServiceDep) -> Response:
        service.delete(document_id)
        return Response(status_code=204)

    # -- feedback ------------------------------------------------------------------------------------
    @app.post("/v1/feedback", status_code=201, tags=["feedback"], dependencies=READ, response_model=FeedbackSaved,
              responses=errors(401, 413, 422, 429))
    def post_feedback(body: Feedback, service: ServiceDep) -> dict[str, str]:
        """Record whether an answer helped, with the question, the answer and its citations."""
        return {"id": service.feedback.add(body)["id"]}

    @app.get("/v1/feedback", tags=["feedback"], dependencies=WRITE,
             responses={200: {"content": {"application/x-ndjson": {}, "text/csv": {}}}, **errors(401, 422)})
    def export_feedback(service: ServiceDep,
                        format: Annotated[str, Query(pattern="^(jsonl|csv)$")] = "jsonl") -> StreamingResponse:
        """All feedback, as JSON lines or CSV (needs the API key when one is configured), streamed."""
        media = "application/x-ndjson" if format == "jsonl" else "text/csv"
        return StreamingResponse(service.feedback.stream(format), media_type=f"{media}; charset=utf-8")

    # -- OpenAI-compatible chat ---------------------------------------------------------------------
    @app.get("/v1/models", tags=["openai"], dependencies=READ, responses=errors(401))
    def models(service: ServiceDep) -> dict[str, Any]:
        """`fouassist` answers with quotes; `fouassist-generative` (when a language model is
        configured) through the model, with verified citations."""
        names = [MODEL_NAME, GENERATIVE_MODEL] if service.generator else [MODEL_NAME]
        return {"object": "list", "data": [{"id": n, "object": "model", "created": 0, "owned_by": "fouassist"}
                                           for n in names]}

    @app.post("/v1/chat/completions", tags=["openai"], dependencies=READ, responses={
        200: {"description": "a chat completion, or with `stream: true` server-sent chunks ending with [DONE]",
              "content": {"application/json": {}, "text/event-stream": {}}},
        **errors(401, 413, 422, 429)})
    def chat_completions(body: ChatRequest, service: ServiceDep):
        """The cited answer as an OpenAI chat completion. `citations`, `unsupported` and
        `fallback_reason` are extra fields, sent once (with `stream: true`, in the last chunk before
        `data: [DONE]`, after the verified text). `"mode": "generative"` or the model name
        `fouassist-generative` asks for a generated answer."""
        events = service.ask_stream(body.question(), body.top_k, body.filters.to_search() if body.filters else None,
                                    body.history(), mode=body.answer_mode())
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        model = body.model or MODEL_NAME
        if not body.stream:
            pieces, answer = [], None
            for event in events:
                if isinstance(event, Answer):
                    answer = event
                else:
                    pieces.append(event)
            assert answer is not None
            return {
                "id": completion_id, "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": "".join(pieces)}}],
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
                **_extras(answer),
            }

        def chunk(delta: dict[str, Any], finish: str | None = None, extra: dict | None = None) -> str:
            payload = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
                       "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **(extra or {})}
            return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"

        def stream() -> Iterator[str]:
            yield chunk({"role": "assistant", "content": ""})
            for event in events:
                if isinstance(event, Answer):
                    yield chunk({}, "stop", _extras(event))
                else:
                    yield chunk({"content": event})
            yield "data: [DONE]\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    return app


def _extras(answer: Answer) -> dict[str, Any]:
    return {
        "citations": [CitationOut.of(c).model_dump() for c in answer.citations],
        "abstained": answer.abstained,
        "answerability": answer.answerability,
        "language": answer.language,
        "mode": answer.mode,
        "unsupported": answer.unsupported,
        "fallback_reason": answer.fallback_reason,
    }
