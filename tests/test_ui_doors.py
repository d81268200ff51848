"""The web interface's own routes obey the API's rules (issue 25, F1-F6 and F9): the exact requests
of the attacks that worked before, against real servers with a key, and a small fuzzer that sends
every event of the interface hostile data. Each test failed on the code before the fix."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from conftest import Server

KEY = "doors-test-key-93"
AUTH = {"Authorization": f"Bearer {KEY}"}
SECRET_FILES = ["/proc/self/environ", "/etc/passwd", "/dev/zero", "/dev/urandom", "/proc/self/cmdline"]


class Events:
    """The interface's events as its page calls them: run/predict for the quick ones, the queue
    (join, then a stream of messages) for the others."""

    def __init__(self, url: str, session: str = "fuzz") -> None:
        self.http = httpx.Client(base_url=url, timeout=30)
        self.session = session
        config = self.http.get("/ui/config").json()
        components = {c["id"]: c["type"] for c in config["components"]}
        self.events = {d["id"]: {"name": d.get("api_name"), "queued": d.get("queue") is not False,
                                 "inputs": [components[i] for i in d["inputs"]]} for d in config["dependencies"]}

    def index(self, name: str) -> int:
        return next(i for i, e in self.events.items() if e["name"] == name)

    def send(self, index: int, data: list, session: str | None = None) -> tuple[int, str]:
        """(status, everything the server answered) for one event."""
        body = {"data": data, "fn_index": index, "session_hash": session or self.session, "trigger_id": None,
                "event_data": None}
        content = json.dumps(body)  # ASCII escapes: a lone surrogate goes as \ud800, as a script may send it
        headers = {"Content-Type": "application/json"}
        if not self.events.get(index, {"queued": True})["queued"]:
            response = self.http.post("/ui/gradio_api/run/predict", content=content, headers=headers)
            return response.status_code, response.text
        joined = self.http.post("/ui/gradio_api/queue/join", content=content, headers=headers)
        if joined.status_code != 200:
            return joined.status_code, joined.text
        event_id = joined.json()["event_id"]
        messages = []
        with self.http.stream("GET", "/ui/gradio_api/queue/data",
                              params={"session_hash": session or self.session}) as stream:
            for line in stream.iter_lines():
                if not line.startswith("data:"):
                    continue
                message = json.loads(line[5:])
                messages.append(line)
                if message.get("event_id") == event_id and message.get("msg") == "process_completed":
                    break
        return 200, "\n".join(messages)


@pytest.fixture(scope="module")
def door(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("door") / "data", env={
        "FOUASSIST_API_KEY": KEY, "FOUASSIST_RATE_LIMIT_ASK": "", "FOUASSIST_RATE_LIMIT_UI_EVENTS": ""})
    yield server
    server.stop()


def file_part(path: str) -> dict:
    return {"path": path, "meta": {"_type": "gradio.FileData"}, "orig_name": Path(path).name}


def health_seconds(url: str) -> float:
    started = time.perf_counter()
    assert httpx.get(f"{url}/health", timeout=10).status_code == 200
    return time.perf_counter() - started


# -- F1, F2: no event reads a file the client names -------------------------------------------------------

@pytest.mark.parametrize("path", SECRET_FILES)
def test_no_event_takes_a_file_the_client_names(door, path):
    events = Events(door.url, session=f"f1-{Path(path).name}")
    chat_with_file = [{"role": "user", "content": [{"type": "file", "file": file_part(path)}]}]
    for index, event in events.events.items():
        data = [chat_with_file if i == 0 else file_part(path) for i in range(max(len(event["inputs"]), 1))]
        status, text = events.send(index, data)
        assert status == 422 and "value" in json.loads(text)["message"], (event["name"], status, text[:300])
        assert KEY not in text and "root:" not in text
    assert health_seconds(door.url) < 3  # /dev/zero was hashed on the event loop: nothing answered
    assert httpx.get(f"{door.url}/ui/gradio_api/file={path}").status_code == 404


def test_the_upload_event_reads_only_files_uploaded_through_the_interface(door):
    events = Events(door.url, session="f1-upload")
    upload = events.index("upload")
    for path in ["/tmp/../proc/self/environ", "/etc/hostname", str(Path.home() / ".bashrc")]:
        status, text = events.send(upload, [[file_part(path)], KEY, "Svenska"])
        assert status == 422 and "only files uploaded through the web interface" in text, text[:300]
    assert Path("/etc/hostname").exists()  # the handler removes what it reads: nothing outside its folder


def test_files_are_never_served_and_urls_never_fetched(door):
    for address in ["/proc/self/environ", "https://example.com/x.txt", "/tmp", "/etc/passwd"]:
        response = httpx.get(f"{door.url}/ui/gradio_api/file={address}")
        assert response.status_code == 404 and KEY not in response.text


# -- F4: no way around the limits: routes that skip the queue are closed ------------------------------------

@pytest.mark.parametrize(("method", "route"), [
    ("POST", "run/helpful"), ("POST", "call/helpful"), ("POST", "api/answer"), ("GET", "info"),
    ("GET", "runs"), ("POST", "run/answer"), ("GET", "stream/x/playlist.m3u8"), ("GET", "proxy=http://example.com"),
    ("GET", "startup-events"), ("GET", "mcp/schema")])
def test_routes_the_page_does_not_use_are_closed(door, method, route):
    response = httpx.request(method, f"{door.url}/ui/gradio_api/{route}", json={"data": ["Vad säger planen?"]})
    assert response.status_code == 404, response.text[:200]


def test_feedback_and_questions_through_the_interface_have_the_api_limits(tmp_path):
    server = Server(tmp_path / "data", env={"FOUASSIST_RATE_LIMIT_FEEDBACK": "3/minute",
                                            "FOUASSIST_RATE_LIMIT_ASK": "2/minute"})
    try:
        events = Events(server.url, session="limits")
        add, answer, helpful = events.index("add_question"), events.index("answer"), events.index("helpful")
        events.send(add, ["Vad säger strategin om forskningstid?", None, "Svenska"])
        status, text = events.send(answer, [None, "Svenska", [], [], "extractive"])
        assert status == 200 and "forskningstid" in text.lower()
        statuses = [events.send(helpful, ["bra", None, "Svenska"])[1] for _ in range(5)]
        assert sum("Tack!" in s for s in statuses) == 3 and "För många förfrågningar" in statuses[-1]
        feedback = httpx.get(f"{server.url}/v1/feedback").text.strip().splitlines()
        assert len(feedback) == 3
        # the API's /v1/ask and the interface draw on the same allowance of two questions a minute
        assert httpx.post(f"{server.url}/v1/ask", json={"question": "Vad säger planen om samverkan?"}).status_code == 200
        events.send(add, ["Och om forskningstid?", None, "Svenska"])
        status, text = events.send(answer, [None, "Svenska", [], [], "extractive"])
        assert "För många förfrågningar" in text
    finally:
        server.stop()


def test_forwarded_for_does_not_pick_the_client_address(tmp_path):
    server = Server(tmp_path / "data", env={"FOUASSIST_RATE_LIMIT_ASK": "2/minute"})
    try:
        codes = [httpx.post(f"{server.url}/v1/ask", json={"question": "Vad säger planen om samverkan?"},
                            headers={"X-Forwarded-For": f"10.0.0.{n}"}, timeout=60).status_code for n in range(4)]
        assert codes == [200, 200, 429, 429]
    finally:
        server.stop()


# -- F5: uploads need the key ------------------------------------------------------------------------------

def test_uploads_to_the_interface_need_the_key(door):
    marker = b"doors-upload-marker-5521"
    refused = httpx.post(f"{door.url}/ui/gradio_api/upload", files={"files": ("a.txt", marker)})
    assert refused.status_code == 401 and "API-nyckeln" in refused.text
    accepted = httpx.post(f"{door.url}/ui/gradio_api/upload", files={"files": ("a.txt", marker)}, headers=AUTH)
    assert accepted.status_code == 200
    stored = Path(accepted.json()[0])
    assert stored.read_bytes() == marker
    stored.unlink()


# -- F6: the question limit holds at every door --------------------------------------------------------------

def test_a_chat_completion_of_many_turns_carries_a_bounded_history(door):
    messages = []
    for n in range(49):  # the most messages a request may have: 100
        messages += [{"role": "user", "content": f"Vad säger planen om ämne{n}?"}, {"role": "assistant", "content": "."}]
    messages.append({"role": "user", "content": "Och i Mellansverige?"})
    response = httpx.post(f"{door.url}/v1/chat/completions", json={"messages": messages}, timeout=60)
    assert response.status_code == 200
    asked = httpx.post(f"{door.url}/v1/ask", timeout=60, json={
        "question": "Och i Mellansverige?", "history": messages[:-1][-50:]}).json()
    assert len(asked["query"]) <= 2000
    assert "ämne0" not in asked["query"] and "ämne30" not in asked["query"]  # only the last turns are carried


def test_the_limit_counts_characters_after_normalisation(door):
    expanding = "\ufdfa" * 1000  # one character that NFKC turns into 18
    response = httpx.post(f"{door.url}/v1/ask", json={"question": f"Vad säger planen om {expanding}?"}, timeout=60)
    assert response.status_code == 422 and "NFKC" in response.json()["message"]
    history = [{"role": "user", "content": f"Vad säger planen om {expanding}?"}]
    response = httpx.post(f"{door.url}/v1/ask", json={"question": "Och i Mellansverige?", "history": history})
    assert response.status_code == 422 and "earlier question" in response.json()["message"]


def test_the_interface_refuses_a_question_over_the_limit(door):
    events = Events(door.url, session="long")
    status, text = events.send(events.index("add_question"), ["forskning " * 20_000, None, "Svenska"])
    assert status == 200 and "gränsen är 2000" in text
    status, text = events.send(events.index("answer"), [None, "Svenska", [], [], "extractive"])
    assert status == 200 and "forskning forskning" not in text  # nothing was pending: nothing answered


# -- F9 ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("body", [
    {"data": [], "fn_index": 999, "session_hash": "x"}, {"data": [], "fn_index": -1, "session_hash": "x"},
    {"data": [], "fn_index": "answer", "session_hash": "x"}, {"data": "x", "fn_index": 3, "session_hash": "x"},
    "[" * 5000])
def test_unknown_events_are_a_clear_422_without_a_traceback(door, body):
    for route in ("queue/join", "run/predict"):
        content = body if isinstance(body, str) else json.dumps(body)
        response = httpx.post(f"{door.url}/ui/gradio_api/{route}", content=content,
                              headers={"Content-Type": "application/json"})
        assert response.status_code == 422, response.text[:200]
    assert "Traceback" not in door.log_path.read_text(encoding="utf-8")


def test_a_stream_of_a_session_with_nothing_waiting_is_a_404(door):
    response = httpx.get(f"{door.url}/ui/gradio_api/queue/data", params={"session_hash": "nobody"})
    assert response.status_code == 404
    assert "Traceback" not in door.log_path.read_text(encoding="utf-8")


@pytest.mark.parametrize("path", ["/v1/documents", "/ui/gradio_api/upload"])
def test_a_change_from_another_site_is_refused(tmp_path, path):
    server = Server(tmp_path / "data", wait_for_ui=True)  # no key: only the origin protects it
    try:
        response = httpx.post(f"{server.url}{path}", files={"file": ("x.txt", b"Plan om zebraforskning.")},
                              headers={"Origin": "http://evil.example"})
        assert response.status_code == 403 and "another site" in response.json()["message"]
        same = httpx.post(f"{server.url}/v1/documents", files={"file": ("x.txt", b"Plan om zebraforskning.")},
                          headers={"Origin": server.url})
        assert same.status_code in (200, 201, 202)
    finally:
        server.stop()


# -- the fuzzer ---------------------------------------------------------------------------------------------

HOSTILE = [None, 0, -1, 2**63, 1.5e308, True, "", "x" * 300_000, "\ud800", "../../etc/passwd", "/proc/self/environ",
           [], [None] * 50, {}, {"path": "/etc/passwd"}, {"url": "http://127.0.0.1:1/"}, {"__proto__": {"x": 1}},
           [[[[[[[[[[[["deep"]]]]]]]]]]]], ["Svenska"] * 3, {"role": "user", "content": "x"}]


def test_every_event_takes_hostile_data_without_reading_a_file_or_stalling(door):
    """Each event, each argument in turn, each hostile value: a 4xx or a clear error, never a
    file's content, never a traceback, and /health answers throughout."""
    events = Events(door.url, session="fuzzer")
    slowest = 0.0
    for index, event in events.events.items():
        width = len(event["inputs"])
        for position in range(max(width, 1)):
            for value in HOSTILE:
                data = [value if i == position else None for i in range(width)]
                status, text = events.send(index, data)
                assert status in (200, 422), (event["name"], value, status, text[:200])
                assert KEY not in text and "root:x:0" not in text, (event["name"], value)
            slowest = max(slowest, health_seconds(door.url))
        status, _ = events.send(index, [None] * (width + 3))  # too many arguments
        assert status == 422
    assert slowest < 3, slowest
    log = door.log_path.read_text(encoding="utf-8")
    assert "Traceback" not in log and "Unhandled error" not in log


# -- when reads need the key, every door of the interface does -------------------------------------------------

def test_when_reads_need_the_key_the_interface_needs_a_login(tmp_path):
    from playwright.sync_api import sync_playwright
    from test_ui import ARGS, CHROMIUM

    server = Server(tmp_path / "data", env={"FOUASSIST_API_KEY": KEY, "FOUASSIST_READ_REQUIRES_KEY": "true",
                                            "FOUASSIST_RATE_LIMIT_LOGIN": "3/minute"})
    try:
        answer = {"data": [None, "Svenska", [], [], "extractive"], "fn_index": 3, "session_hash": "x"}
        relabel = {"data": ["Norsk", None], "fn_index": 0, "session_hash": "x"}
        for method, route, body in [("GET", "/ui/config", None), ("POST", "/ui/gradio_api/queue/join", answer),
                                    ("POST", "/ui/gradio_api/run/predict", relabel)]:
            response = httpx.request(method, f"{server.url}{route}", json=body)
            assert response.status_code == 401, (route, response.status_code, response.text[:200])
        refused = httpx.post(f"{server.url}/ui/gradio_api/upload", files={"files": ("a.txt", b"x")}, headers=AUTH)
        assert refused.status_code == 401  # the key alone is not a login
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_context(locale="sv-SE").new_page()
            page.goto(f"{server.url}/ui")
            page.wait_for_selector("input[type=password]")
            assert "Ange API-nyckeln som lösenord" in page.locator("body").inner_text()
            page.fill("input[type=text]", "vem som helst")
            page.fill("input[type=password]", "fel nyckel")
            page.keyboard.press("Enter")
            page.wait_for_timeout(1500)
            assert page.locator("#msg textarea").count() == 0
            page.fill("input[type=text]", "vem som helst")
            page.fill("input[type=password]", KEY)
            page.keyboard.press("Enter")
            page.wait_for_selector("#msg textarea", timeout=30_000)
            page.fill("#msg textarea", "Vad säger strategin om forskningstid?")
            page.keyboard.press("Enter")
            page.wait_for_function("() => document.querySelectorAll('#chatbot [data-testid=bot]').length > 0 "
                                   "&& !document.querySelector('#msg textarea').disabled", timeout=60_000)
            assert "forskning" in page.locator("#chatbot [data-testid=bot]").last.inner_text().lower()
            browser.close()
        attempts = [httpx.post(f"{server.url}/ui/login", data={"username": "x", "password": f"gissning{n}"}).status_code
                    for n in range(3)]
        assert attempts[1:] == [429, 429]  # two logins in the browser and one guess make the three a minute
    finally:
        server.stop()
