"""Feedback on answers: anyone who may read may rate; the export needs the write key."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from fouassist.feedback import Feedback
from fouassist.serve.dependencies import READ, WRITE, ServiceDep, errors
from fouassist.serve.schemas import FeedbackSaved

router = APIRouter(tags=["feedback"])


@router.post("/v1/feedback", status_code=201, dependencies=READ, response_model=FeedbackSaved,
             responses=errors(401, 413, 422, 429))
def post_feedback(body: Feedback, service: ServiceDep) -> dict[str, str]:
    """Record whether an answer helped, with the question, the answer and its citations."""
    return {"id": service.feedback.add(body)["id"]}


@router.get("/v1/feedback", dependencies=WRITE,
            responses={200: {"content": {"application/x-ndjson": {}, "text/csv": {}}}, **errors(401, 422)})
def export_feedback(service: ServiceDep,
                    format: Annotated[str, Query(pattern="^(jsonl|csv)$")] = "jsonl") -> StreamingResponse:
    """All feedback, as JSON lines or CSV (needs the API key when one is configured), streamed."""
    media = "application/x-ndjson" if format == "jsonl" else "text/csv"
    return StreamingResponse(service.feedback.stream(format), media_type=f"{media}; charset=utf-8")
