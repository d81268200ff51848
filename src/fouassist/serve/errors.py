"""Errors as JSON with a message that says what to fix, never a traceback."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from fouassist.ingest.jobs import QueueFull
from fouassist.service import Busy, NotFound, QuestionTooLong

log = logging.getLogger(__name__)


def _validation_message(errors: list[dict[str, Any]]) -> str:
    parts = []
    for error in errors:
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path"))
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        if "unable to parse raw data as a unicode string" in message:
            message = "contains an invalid character (a lone UTF-16 surrogate such as \\udfff); send text in valid UTF-8"
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts) or "the request is not valid"


def validation_error(errors: list[dict[str, Any]]) -> Response:
    """422 with what is wrong. Written with ASCII escapes, since the input it echoes may hold
    characters that UTF-8 cannot encode (a lone surrogate)."""
    content = {"message": _validation_message(errors), "detail": errors}
    return Response(json.dumps(content, ensure_ascii=True, default=str), status_code=422,
                    media_type="application/json")


def _error(status_code: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status_code, content={"message": message, "detail": message}, headers=headers)


def _retry_after(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, round(seconds)))}


async def _invalid(request: Request, error: RequestValidationError) -> Response:
    return validation_error(error.errors())


async def _http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
    message = str(error.detail)
    status_code = error.status_code
    if status_code == 400 and message == "There was an error parsing the body":
        status_code, message = 422, "the request body cannot be read: send JSON in UTF-8 (or a multipart form)"
    return _error(status_code, message, getattr(error, "headers", None))


async def _busy(request: Request, error: Busy) -> JSONResponse:
    return _error(409, str(error), _retry_after(request.app.state.service.settings.write_wait_s))


async def _too_long(request: Request, error: QuestionTooLong) -> JSONResponse:
    return _error(422, str(error))


async def _queue_full(request: Request, error: QueueFull) -> JSONResponse:
    return _error(429, str(error), _retry_after(request.app.state.service.settings.parse_base_s))


async def _not_found(request: Request, error: NotFound) -> JSONResponse:
    return _error(404, f"no document with id {error}; GET /v1/documents lists them")


async def _crash(request: Request, error: Exception) -> JSONResponse:
    reference = uuid.uuid4().hex[:12]
    log.exception("Unhandled error on %s %s (reference %s)", request.method, request.url.path, reference)
    return JSONResponse(status_code=500, content={
        "message": f"internal error; the server log has the details under reference {reference}",
    })


def add_error_handlers(app: FastAPI) -> None:
    for kind, handler in ((RequestValidationError, _invalid), (StarletteHTTPException, _http_error), (Busy, _busy),
                          (QuestionTooLong, _too_long), (QueueFull, _queue_full), (NotFound, _not_found),
                          (Exception, _crash)):
        app.add_exception_handler(kind, handler)
