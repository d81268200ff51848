"""The door of the mounted web interface (Gradio at /ui): only the routes its page uses are open,
each event is checked against what the interface declared (its arguments' kinds and choices, files
only from Gradio's upload folder), and uploads need the API key as on /v1."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl

from fouassist.bounds import LONE_SURROGATE
from fouassist.serve.middleware import BodyTooLarge, key_matches, send_body, send_json, send_too_large

UI_API = "/ui/gradio_api/"
# What the interface's own page calls; every other route Gradio adds (run/<name>, call/, api/,
# file=, proxy=, stream/, info, runs, mcp, ...) is closed: nothing is meant to call them.
UI_ROUTES = ("queue/join", "queue/data", "run/predict", "upload", "upload_progress", "heartbeat/")
UI_KEY_NEEDED = "Ange API-nyckeln under Dokument först. / Skriv inn API-nøkkelen under Dokumenter først."


@dataclass(frozen=True)
class Input:
    """What one argument of an interface event may be: `kind` is state (the page sends null: the
    server keeps it), text, choice (one of `choices`), choices (a list of them), index or files;
    `choices` gives the values allowed now (None: any)."""

    kind: str
    choices: Callable[[], frozenset[str]] | None = None


@dataclass(frozen=True)
class InterfaceEvents:
    """What the gate knows of the mounted interface: each event's arguments, the folder uploaded
    files are in, and whether a session has events waiting to be streamed."""

    inputs: dict[int, tuple[Input, ...]]
    upload_folder: str
    has_session: Callable[[str], bool]


NO_INTERFACE = InterfaceEvents({}, "", lambda _session: False)


class WebInterfaceGate:
    """The door of the mounted web interface: only the routes its page uses are open; an event
    must name one of the interface's events (Gradio answers an unknown one with a traceback); an
    upload (a file stored on the server) needs the API key when one is configured, as on /v1."""

    def __init__(self, app, api_key: str | None, interface: Callable[[], InterfaceEvents], max_body_mb: int) -> None:
        self.app = app
        self.api_key = api_key
        self.interface = interface  # NO_INTERFACE until the interface is mounted
        self.max_body = max_body_mb * 1024 * 1024

    async def __call__(self, scope, receive, send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith(UI_API):
            await self.app(scope, receive, send)
            return
        route = path[len(UI_API):].rstrip("/")
        if not route.startswith(UI_ROUTES) or (route.startswith("run/") and route != "run/predict"):
            await send_json(send, 404, {"message": "no such route of the web interface",
                                    "detail": "no such route of the web interface"})
            return
        if route == "upload" and scope["method"] == "POST" and self.api_key is not None:
            authorization = dict(scope.get("headers") or []).get(b"authorization", b"").decode("latin-1")
            if not key_matches(authorization, self.api_key):
                await send_body(send, 401, UI_KEY_NEEDED.encode(), b"text/plain; charset=utf-8",  # shown as it is
                            [(b"www-authenticate", b"Bearer")])
                return
        if route in ("queue/join", "run/predict") and scope["method"] == "POST":
            try:
                body = await _read_body(receive, self.max_body)
            except BodyTooLarge:
                await send_too_large(send, self.max_body // (1024 * 1024), upload=False)
                return
            problem = self._event_problem(body)
            if problem:
                await send_json(send, 422, {"message": problem, "detail": problem})
                return
            receive = _replay(body, receive)
        if route == "queue/data":  # Gradio fails with a traceback mid-stream for a session with nothing waiting
            session = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"))).get("session_hash", "")
            if not self.interface().has_session(session):
                await send_json(send, 404, {"message": "no events of this session are waiting",
                                        "detail": "no events of this session are waiting"})
                return
        await self.app(scope, receive, send)

    def _event_problem(self, body: bytes) -> str | None:
        try:
            event = json.loads(body)
        except (ValueError, RecursionError):
            return "the event is not JSON"
        index = event.get("fn_index") if isinstance(event, dict) else None
        interface = self.interface()
        if type(index) is not int or index not in interface.inputs:
            return "no such event of the web interface"
        data, inputs = event.get("data"), interface.inputs[index]
        if not isinstance(data, list) or len(data) != len(inputs):
            return f"the event's data must be a list of {len(inputs)} values"
        if LONE_SURROGATE.search(json.dumps(data, ensure_ascii=False)):
            return "the event's text contains an invalid character (a lone UTF-16 surrogate); send valid UTF-8"
        for number, (rule, value) in enumerate(zip(inputs, data), start=1):
            problem = _input_problem(rule, value, interface.upload_folder)
            if problem:
                return f"value {number} of the event: {problem}"
        return None


def _input_problem(rule: Input, value, upload_folder: str) -> str | None:
    allowed = rule.choices() if rule.choices else None
    if rule.kind == "files":
        if value is None:
            return None
        paths = [item.get("path") if isinstance(item, dict) else None for item in value] \
            if isinstance(value, list) else [None]
        inside = all(isinstance(p, str) and os.path.realpath(p).startswith(upload_folder + os.sep) for p in paths)
        return None if inside else "only files uploaded through the web interface can be indexed"
    if isinstance(value, dict) and ("path" in value or "url" in value):
        return "this event of the web interface takes no files"
    valid = {
        "state": value is None,
        "text": isinstance(value, str),
        "index": type(value) is int,
        "choice": value is None or isinstance(value, str) and (allowed is None or value in allowed),
        "choices": isinstance(value, list) and all(isinstance(v, str) for v in value)
        and (allowed is None or set(value) <= allowed),
    }[rule.kind]
    return None if valid else f"not a valid {rule.kind}"


async def _read_body(receive, limit: int) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > limit:
            raise BodyTooLarge
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive):
    """A receive that hands the already-read body on, then waits as the original would."""
    sent = False

    async def replayed():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
