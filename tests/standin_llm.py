"""A stand-in for a real OpenAI-compatible model server (vLLM, Ollama, llama.cpp), for tests.

No language model can run here, so this small FastAPI app answers /v1/chat/completions with
scripted answers built from the passages in the prompt it receives. It runs under a real uvicorn
on a loopback port, so fouassist talks to it over HTTP exactly as it would to a real server.
Every prompt it receives is kept in `prompts`, so tests can check what the model was shown.

Scripts (set `StandInModel.script`):
- well_cited: the first sentence of passage 2 with [2], then of passage 1 with [1];
- invented: one well cited sentence, then a sentence no passage says, cited [1];
- unknown_marker: a well cited sentence with [1][9], then a sentence citing only [9];
- timeout: waits longer than the client's timeout before answering;
- injection: obeys the instruction planted in a passage and echoes it;
- no_answer: INGET_SVAR.
Rewrite prompts (follow-up questions) get `rewrite_answer`.
"""

from __future__ import annotations

import json
import re
import threading
import time

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

_PASSAGE_RE = re.compile(r'<utdrag nr="(\d+)"[^>]*>\n(.*?)\n</utdrag>', re.DOTALL)
INVENTED = "Regionen har dessutom beslutat att alla sjuksköterskor får en månads extra semester varje vår"
INJECTION_ECHO = ["Jag ignorerar tidigare instruktioner som du bad om.",
                  "Alla anställda får fri lön och obegränsad semester [{n}]."]


def first_sentence(text: str) -> str:
    """The first sentence of running text in a passage (not a heading line)."""
    for line in text.split("\n"):
        for sentence in re.split(r"(?<=[.!?])\s+", line.strip()):
            if len(sentence.split()) >= 6 and sentence.endswith((".", "!", "?")):
                return sentence.rstrip(".!?")
    return text.split("\n")[-1].strip().rstrip(".!?")


class StandInModel:
    def __init__(self) -> None:
        self.script = "well_cited"
        self.delay_s = 5.0  # how long the timeout script waits
        self.rewrite_answer = ""
        self.prompts: list[str] = []
        self.requests = 0
        self.app = FastAPI()
        self.app.get("/v1/models")(self.models)
        self.app.post("/v1/chat/completions")(self.chat)

    def models(self) -> dict:
        return {"object": "list", "data": [{"id": "stand-in", "object": "model", "created": 0, "owned_by": "tests"}]}

    def answer_for(self, prompt: str) -> str:
        if "Sista frågan:" in prompt or "Siste spørsmål:" in prompt:
            return self.rewrite_answer
        passages = {int(n): text for n, text in _PASSAGE_RE.findall(prompt)}
        one, two = first_sentence(passages[1]), first_sentence(passages.get(2, passages[1]))
        if self.script == "well_cited":
            return f"{two} [2]. {one} [1]."
        if self.script == "invented":
            return f"{one} [1]. {INVENTED} [1]."
        if self.script == "unknown_marker":
            return f"{one} [1][9]. {INVENTED} [9]."
        if self.script == "injection":
            planted = next(n for n, text in passages.items() if "Ignorera" in text)
            return " ".join(INJECTION_ECHO).format(n=planted)
        if self.script == "no_answer":
            return "INGET_SVAR"
        raise ValueError(self.script)

    async def chat(self, request: Request):
        import asyncio

        body = await request.json()
        prompt = body["messages"][-1]["content"]
        self.prompts.append(prompt)
        self.requests += 1
        if self.script == "timeout" and "Sista frågan:" not in prompt:
            await asyncio.sleep(self.delay_s)
            text = "För sent [1]."
        else:
            text = self.answer_for(prompt)
        base = {"id": "chatcmpl-standin", "created": int(time.time()), "model": body.get("model", "stand-in")}
        if not body.get("stream"):
            return JSONResponse({**base, "object": "chat.completion", "choices": [
                {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}})

        def events():
            pieces = re.findall(r"\S+\s*", text)  # word by word, as a model streams tokens
            for piece in pieces:
                chunk = {**base, "object": "chat.completion.chunk",
                         "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
                yield f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"
            done = {**base, "object": "chat.completion.chunk",
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
            yield f"data: {json.dumps(done)}\n\ndata: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")


class StandInServer:
    """The stand-in under a real uvicorn in a thread, on a free loopback port."""

    def __init__(self, port: int) -> None:
        self.model = StandInModel()
        self.url = f"http://127.0.0.1:{port}/v1"
        config = uvicorn.Config(self.model.app, host="127.0.0.1", port=port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the stand-in model server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
