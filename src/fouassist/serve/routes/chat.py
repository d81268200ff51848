"""The OpenAI-compatible chat: the model list and chat completions, whole or streamed."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from fouassist.ask.answer import Answer
from fouassist.serve.dependencies import READ, ServiceDep, errors
from fouassist.serve.schemas import GENERATIVE_MODEL, AskResponse, ChatRequest

router = APIRouter(tags=["openai"])
MODEL_NAME = "fouassist"
# The fields of POST /v1/ask that a completion carries beside its text, in this order.
ANSWER_EXTRAS = ("citations", "abstained", "answerability", "language", "mode", "unsupported", "fallback_reason")


@router.get("/v1/models", dependencies=READ, responses=errors(401))
def models(service: ServiceDep) -> dict[str, Any]:
    """`fouassist` answers with quotes; `fouassist-generative` (when a language model is
    configured) through the model, with verified citations."""
    names = [MODEL_NAME, GENERATIVE_MODEL] if service.generator else [MODEL_NAME]
    return {"object": "list", "data": [{"id": n, "object": "model", "created": 0, "owned_by": "fouassist"}
                                       for n in names]}


@router.post("/v1/chat/completions", dependencies=READ, responses={
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
    completion = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": body.model or MODEL_NAME}
    if not body.stream:
        return _whole(events, completion)
    return StreamingResponse(_chunks(events, completion), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _answer_extras(answer: Answer) -> dict[str, Any]:
    body = AskResponse.of(answer).model_dump()
    return {name: body[name] for name in ANSWER_EXTRAS}


def _whole(events: Iterable[str | Answer], completion: dict[str, Any]) -> dict[str, Any]:
    pieces, answer = [], None
    for event in events:
        if isinstance(event, Answer):
            answer = event
        else:
            pieces.append(event)
    assert answer is not None
    return {
        "id": completion["id"], "object": "chat.completion", "created": completion["created"],
        "model": completion["model"],
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "".join(pieces)}}],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        **_answer_extras(answer),
    }


def _chunks(events: Iterable[str | Answer], completion: dict[str, Any]) -> Iterator[str]:
    def chunk(delta: dict[str, Any], finish: str | None = None, extra: dict | None = None) -> str:
        payload = {"id": completion["id"], "object": "chat.completion.chunk", "created": completion["created"],
                   "model": completion["model"], "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                   **(extra or {})}
        return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    for event in events:
        if isinstance(event, Answer):
            yield chunk({}, "stop", _answer_extras(event))
        else:
            yield chunk({"content": event})
    yield "data: [DONE]\n\n"

