"""Access control by construction: every route the server publishes in /openapi.json (and the extra
routes listed below) is called without the key, with a wrong key and with the right one, its path
parameters and a minimal valid body made from the schema. A route that is not classified here
fails the walk, so a new route cannot be added without deciding who may call it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from conftest import Server

KEY = "walk-test-key-5d1c"
# Open to anyone, for monitoring.
OPEN = {("GET", "/health"), ("GET", "/metrics")}
# Need the key whenever one is configured.
WRITES = {("POST", "/v1/documents"), ("DELETE", "/v1/documents/{document_id}"), ("GET", "/v1/jobs"),
          ("GET", "/v1/jobs/{job_id}"), ("GET", "/v1/feedback")}
# Need the key when FOUASSIST_READ_REQUIRES_KEY is true.
READS = {("POST", "/v1/ask"), ("POST", "/v1/retrieve"), ("GET", "/v1/documents"),
         ("GET", "/v1/documents/{document_id}"), ("GET", "/v1/documents/{document_id}/context"),
         ("POST", "/v1/feedback"), ("GET", "/v1/models"), ("POST", "/v1/chat/completions")}
# The web interface's routes (outside /openapi.json): an upload stores a file, like a write; the
# page and its events read. Its reads are guarded by a login whose password is the key.
UI_WRITES = {("POST", "/ui/gradio_api/upload")}
UI_READS = {("GET", "/ui/config"), ("POST", "/ui/gradio_api/queue/join"), ("POST", "/ui/gradio_api/run/predict")}
TEXT = "Vad säger strategin om forskningstid?"


@pytest.fixture(scope="module", params=[True, False], ids=["reads-need-the-key", "reads-open"])
def keyed(request, tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("walk") / "data", env={
        "FOUASSIST_API_KEY": KEY, "FOUASSIST_READ_REQUIRES_KEY": str(request.param).lower(),
        "FOUASSIST_AUTO_INGEST": "false", "FOUASSIST_RATE_LIMIT_ASK": "", "FOUASSIST_RATE_LIMIT_FEEDBACK": "",
        "FOUASSIST_RATE_LIMIT_UPLOAD": ""})
    server.reads_need_the_key = request.param
    yield server
    server.stop()


def resolve(schema: dict, spec: dict) -> dict:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def example(schema: dict, spec: dict) -> Any:
    """The smallest valid value of a JSON schema (as FastAPI publishes them)."""
    schema = resolve(schema, spec)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return example(next(s for s in schema[key] if s.get("type") != "null"), spec)
    kind = schema.get("type")
    if kind == "object":
        return {name: example(schema["properties"][name], spec) for name in schema.get("required", [])}
    if kind == "array":
        item = schema.get("contains") or schema.get("items", {})
        return [example(item, spec) for _ in range(schema.get("minItems", 0))]
    if kind == "string":
        return "2025-01-01" if schema.get("format") == "date" else TEXT
    if kind in ("integer", "number"):
        return schema.get("minimum", 0)
    if kind == "boolean":
        return False
    raise AssertionError(f"no example for the schema {schema}")


def calls(spec: dict) -> list[tuple[str, str, str, Any]]:
    """(method, template, URL path with query, JSON body or None) for every published operation."""
    found = []
    for template, operations in spec["paths"].items():
        for method, operation in operations.items():
            path, query = template, {}
            for parameter in operation.get("parameters", []):
                value = example(parameter["schema"], spec)
                if parameter["in"] == "path":
                    path = path.replace("{" + parameter["name"] + "}", "0123456789abcdef")
                elif parameter.get("required"):
                    query[parameter["name"]] = value
            content = operation.get("requestBody", {}).get("content", {})
            body = example(content["application/json"]["schema"], spec) if "application/json" in content else None
            url = path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")
            found.append((method.upper(), template, url, body))
    return found


def send(server: Server, method: str, url: str, body: Any, key: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.request(method, f"{server.url}{url}", json=body, headers=headers, timeout=60)


def test_every_route_is_classified(keyed):
    published = {(method, template) for method, template, _, _ in calls(httpx.get(f"{keyed.url}/openapi.json").json())}
    assert published == OPEN | WRITES | READS, "classify the new or missing routes here"


def test_every_route_needs_the_key_it_should(keyed):
    spec = httpx.get(f"{keyed.url}/openapi.json").json()
    routes = calls(spec)
    guarded = WRITES | (READS if keyed.reads_need_the_key else set())
    answers: dict[tuple[str, str], tuple[int, int, int]] = {}
    for method, template, url, body in routes:
        answers[(method, template)] = tuple(send(keyed, method, url, body, key).status_code
                                            for key in (None, "not-the-key", KEY))
    for route, (without, wrong, right) in answers.items():
        if route in guarded:
            assert (without, wrong) == (401, 401), (route, answers[route])
        else:
            assert 401 not in (without, wrong) and without < 500, (route, answers[route])
        assert right != 401 and right < 500, (route, answers[route])  # the request itself was fine
    opened = [route for route, (_, _, right) in answers.items() if 200 <= right < 300]
    assert len(opened) >= len(answers) // 2, answers  # the minimal requests mostly succeed with the key


def ui_call(server: Server, method: str, path: str, key: str | None) -> int:
    """One request to the interface as its page sends it, by a client that knows `key` (sent as
    the bearer key, and given to the login when reads need it)."""
    with httpx.Client(base_url=server.url, timeout=60,
                      headers={"Authorization": f"Bearer {key}"} if key else {}) as http:
        if key and server.reads_need_the_key:
            http.post("/ui/login", data={"username": "walk", "password": key})
        if path.endswith("/upload"):
            return http.post(path, files={"files": ("plan.txt", "Plan för forskningstid.".encode())}).status_code
        event = {"data": [None, "Svenska", [], [], "extractive"], "fn_index": 3} if path.endswith("/join") \
            else {"data": ["Norsk", None], "fn_index": 0}
        return http.request(method, path, json={**event, "session_hash": "walk"} if method == "POST" else None
                            ).status_code


def test_every_interface_route_needs_the_key_it_should(keyed):
    guarded = UI_WRITES | (UI_READS if keyed.reads_need_the_key else set())
    for method, path in UI_WRITES | UI_READS:
        without, wrong, right = (ui_call(keyed, method, path, key) for key in (None, "not-the-key", KEY))
        if (method, path) in guarded:
            assert (without, wrong) == (401, 401), (path, without, wrong, right)
        else:
            assert 401 not in (without, wrong) and without < 500, (path, without, wrong, right)
        assert right == 200, (path, without, wrong, right)
