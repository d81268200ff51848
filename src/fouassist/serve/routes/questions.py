"""Questions: a cited answer, or the best passages without one."""

from __future__ import annotations

from fastapi import APIRouter

from fouassist.serve.dependencies import READ, ServiceDep, errors
from fouassist.serve.schemas import AskRequest, AskResponse, PassageOut, RetrieveRequest, RetrieveResponse

router = APIRouter(tags=["questions"])


@router.post("/v1/ask", response_model=AskResponse, dependencies=READ, responses=errors(401, 413, 422, 429))
def ask(body: AskRequest, service: ServiceDep) -> AskResponse:
    """A short answer built from verbatim passages, each cited as [n]; or, with
    `"mode": "generative"`, written by the configured language model with every sentence's
    citations verified."""
    answer = service.ask(body.question, body.top_k, body.filters.to_search() if body.filters else None,
                         [m.model_dump() for m in body.history], mode=body.mode)
    return AskResponse.of(answer)


@router.post("/v1/retrieve", response_model=RetrieveResponse, dependencies=READ, responses=errors(401, 413, 422, 429))
def retrieve(body: RetrieveRequest, service: ServiceDep) -> RetrieveResponse:
    """The best passages for a query, without composing an answer."""
    result = service.retrieve(body.query, body.top_k, body.filters.to_search() if body.filters else None)
    return RetrieveResponse(passages=[PassageOut.of(p) for p in result.passages], timings_ms=result.timings_ms)
