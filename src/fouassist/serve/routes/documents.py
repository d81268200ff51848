"""Documents: list them, read one, add one through a background upload job, follow the jobs,
delete one."""

from __future__ import annotations

from pathlib import PurePosixPath, PureWindowsPath
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from fouassist.ingest.jobs import Job
from fouassist.serve.dependencies import READ, WRITE, ServiceDep, errors
from fouassist.serve.errors import validation_error
from fouassist.serve.schemas import (
    ContextOut,
    DocumentList,
    DocumentWithText,
    JobList,
    JobOut,
    TextDocument,
    UploadResult,
    check_text,
)
from fouassist.service import Service

router = APIRouter(tags=["documents"])

# The body is read by the route itself (a file or JSON), so OpenAPI is told what it may be.
UPLOAD_BODY = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary"}, "title": {"type": "string"}}}},
    "application/json": {"schema": TextDocument.model_json_schema()},
}}}


@router.get("/v1/documents", response_model=DocumentList, dependencies=READ, responses=errors(401))
def list_documents(service: ServiceDep) -> dict[str, Any]:
    return {"documents": service.documents()}


@router.get("/v1/documents/{document_id}", response_model=DocumentWithText, dependencies=READ,
            responses=errors(401, 404, 422))
def get_document(document_id: str, service: ServiceDep) -> dict[str, Any]:
    """A document's metadata and its cleaned text (the text that citation offsets point into)."""
    return service.document(document_id)


@router.get("/v1/documents/{document_id}/context", response_model=ContextOut, dependencies=READ,
            responses=errors(401, 404, 422))
def get_context(document_id: str, service: ServiceDep, start: Annotated[int, Query(ge=0)],
                end: Annotated[int, Query(ge=0)], paragraphs: Annotated[int, Query(ge=0, le=10)] = 2) -> dict:
    """The paragraphs around a span (a citation's start and end), to read a quote in context."""
    try:
        return service.context(document_id, start, end, paragraphs)
    except ValueError as error:
        raise HTTPException(422, str(error)) from None


@router.post(
    "/v1/documents", response_model=UploadResult, status_code=201, dependencies=WRITE, openapi_extra=UPLOAD_BODY,
    responses={200: {"model": UploadResult, "description": "the same content was already indexed"},
               202: {"model": JobOut, "description": "still being indexed: follow the job"},
               **errors(401, 409, 413, 415, 422, 429)},
)
async def upload_document(request: Request, response: Response) -> Any:
    """Add a document: a file (PDF, DOCX, TXT, MD, HTML) as multipart, or JSON with title and text.

    It is indexed by a background job. Answers 201 when the document was added or replaced,
    200 when the same content was already indexed, and 202 with the job's address
    (`Location`, and `job` in the body) when indexing takes longer than a few seconds."""
    service: Service = request.app.state.service  # the body's size is limited by BodyLimitMiddleware
    job = await _submit(request, service)
    if isinstance(job, Response):
        return job
    if not await run_in_threadpool(job.wait, request.app.state.server.upload_wait_s):
        return JSONResponse(status_code=202, content=JobOut(**job.public()).model_dump(),
                            headers={"Location": f"/v1/jobs/{job.id}"})
    if job.status == "failed":
        raise _job_error(job)
    response.status_code = 200 if job.outcome == "unchanged" else 201
    return {**(job.document or {}), "outcome": job.outcome, "job_id": job.id}


@router.get("/v1/jobs", response_model=JobList, dependencies=WRITE, responses=errors(401))
def list_jobs(service: ServiceDep) -> dict[str, Any]:
    """Upload jobs, newest first: queued, running (with progress in chunks), succeeded or failed."""
    return {"jobs": [job.public() for job in service.jobs.list()]}


@router.get("/v1/jobs/{job_id}", response_model=JobOut, dependencies=WRITE, responses=errors(401, 404))
def get_job(job_id: str, service: ServiceDep) -> dict[str, Any]:
    """One upload job: its status, progress, and the document or the error when it is done."""
    job = service.jobs.get(job_id)
    if job is None:
        raise HTTPException(404, f"no job with id {job_id}; GET /v1/jobs lists the recent ones")
    return job.public()


@router.delete("/v1/documents/{document_id}", status_code=204, dependencies=WRITE,
               responses=errors(401, 404, 409, 422))
def delete_document(document_id: str, service: ServiceDep) -> Response:
    service.delete(document_id)
    return Response(status_code=204)


async def _submit(request: Request, service: Service) -> Job | Response:
    """The upload's job, from a multipart file or a JSON text document; or the 422 of invalid JSON."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        return await _submit_file(request, service)
    if content_type.startswith("application/json"):
        try:
            body = TextDocument.model_validate_json(await request.body())
        except ValidationError as error:
            return validation_error(error.errors())
        return service.submit_text(body.title, body.text, body.metadata.model_dump(exclude_none=True))
    raise HTTPException(415, "send multipart/form-data with a 'file' field, or JSON with 'title' and 'text'")


async def _submit_file(request: Request, service: Service) -> Job:
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
        try:
            check_text(title, "title")
        except ValueError as error:
            raise HTTPException(422, str(error)) from None
    return service.submit_upload(_safe_filename(upload.filename), await upload.read(), title)


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


def _job_error(job: Job) -> HTTPException:
    """The HTTP error of a failed upload job, as the request would have had it."""
    code = {"unsupported": 415, "too_large": 413, "busy": 409, "internal": 500}.get(job.error_code or "", 422)
    headers = {"Retry-After": "5"} if code == 409 else None
    return HTTPException(code, job.error or "the upload failed", headers=headers)
