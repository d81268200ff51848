"""What the routes depend on: the service, the API key for reads and writes, and the error
answers each route documents."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status

from fouassist.serve.middleware import key_matches
from fouassist.serve.schemas import ErrorOut
from fouassist.service import Service


def get_service(request: Request) -> Service:
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(get_service)]


def _check_key(request: Request) -> None:
    key = request.app.state.server.api_key
    if key is not None and not key_matches(request.headers.get("authorization", ""), key.get_secret_value()):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "this needs the API key: send 'Authorization: Bearer <key>'",
                            headers={"WWW-Authenticate": "Bearer"})


def require_write_key(request: Request) -> None:
    """Writes need `Authorization: Bearer <FOUASSIST_API_KEY>` when a key is configured."""
    _check_key(request)


def require_read_key(request: Request) -> None:
    """Reads need the key too when FOUASSIST_READ_REQUIRES_KEY is true."""
    if request.app.state.server.read_requires_key:
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
