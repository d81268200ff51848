"""The HTTP API against a real `fouassist serve` (uvicorn) on a loopback port."""

import httpx
import pytest

UPLOAD_TEXT = (
    "Handlingsplan för simuleringsträning i Region Exempel\n\n"
    "Region Exempel ska bygga ett simuleringscentrum för kirurgisk färdighetsträning senast 2027. "
    "Centret ska vara öppet för alla yrkesgrupper i vården.\n"
)


def test_health(client):
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["documents"] == 5 and health["chunks"] > 40
    assert 0 <= health["dense"].pop("load_s") < 60  # nothing to load: the loading step still says how long
    assert health["dense"] == {"enabled": False, "state": "off", "model": None, "code": "unset", "source": None,
                               "checksum": None, "backend": None, "warning": None,
                               "reason": "no embedding model is configured (FOUASSIST_EMBEDDING_MODEL is empty)"}
    assert health["version"]


def test_ask_cites_section_5_1_5_verbatim(client):
    response = client.post("/v1/ask", json={"question": "Vad säger strategin om forskningstid?"})
    assert response.status_code == 200
    body = response.json()
    assert body["abstained"] is False and body["language"] == "sv"
    assert any(c["section"] == "5.1.5" and "forskningstid" in c["quote"] for c in body["citations"])
    assert set(body["timings_ms"]) >= {"analysis", "search", "ranking", "answer"}
    texts = {}
    for citation in body["citations"]:
        if citation["document_id"] not in texts:
            texts[citation["document_id"]] = client.get(f"/v1/documents/{citation['document_id']}").json()["text"]
        assert texts[citation["document_id"]][citation["start"]:citation["end"]] == citation["quote"]
        assert f"[{citation['id']}]" in body["answer"]


def test_norwegian_question_about_a_swedish_document(client):
    body = client.post("/v1/ask", json={"question": "Hva sier Stockholm-strategien om akademisk frihet?"}).json()
    assert body["abstained"] is False and body["language"] == "nb"
    assert body["answer"].startswith("Ifølge dokumentet «Region Stockholms")
    assert any(c["section"] == "4.1" for c in body["citations"])


def test_unanswerable_question_abstains(client):
    body = client.post("/v1/ask", json={"question": "Vad säger strategin om cancerscreening?"}).json()
    assert body["abstained"] is True and body["citations"] == []
    assert body["answer"].startswith("Dokumenten säger inget om cancerscreening.")
    assert body["closest"]


def test_retrieve_and_filters(client):
    documents = client.get("/v1/documents").json()["documents"]
    norwegian = next(d["id"] for d in documents if d["language"] == "nb")
    body = client.post("/v1/retrieve", json={"query": "forskning", "top_k": 3, "filters": {"languages": ["nb"]}}).json()
    assert body["passages"] and {p["document_id"] for p in body["passages"]} == {norwegian}
    passage = body["passages"][0]
    assert set(passage) >= {"chunk_id", "document_id", "title", "section", "page", "text", "start", "end", "score"}


@pytest.mark.parametrize(("payload", "field"), [
    ({"question": ""}, "question"),
    ({"question": "   \n "}, "question"),
    ({"question": "x" * 2001}, "question"),
    ({"question": "?!?! 😀"}, "question"),
    ({"question": "Vad säger strategin?", "top_k": 0}, "top_k"),
    ({"question": "Vad säger strategin?", "top_k": 51}, "top_k"),
    ({"question": "Vad säger strategin?", "top_k": "fem"}, "top_k"),
    ({"question": "Vad säger strategin?", "filters": {"organisation": ["x"]}}, "filters.organisation"),
    ({"question": "Vad säger strategin?", "filters": {"date_from": "2025-01-01", "date_to": "2024-01-01"}}, "filters"),
    ({"question": 42}, "question"),
    ({}, "question"),
])
def test_validation_errors_say_what_to_fix(client, payload, field):
    response = client.post("/v1/ask", json=payload)
    assert response.status_code == 422
    body = response.json()
    assert field in body["message"]
    assert "Traceback" not in response.text


def test_malformed_json_is_a_clear_error(client):
    response = client.post("/v1/ask", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422 and "JSON" in response.json()["message"]


def test_upload_ask_delete_round_trip(client):
    files = {"file": ("simulering.txt", UPLOAD_TEXT.encode("utf-8"), "text/plain")}
    response = client.post("/v1/documents", files=files)
    assert response.status_code == 201, response.text
    record = response.json()
    assert record["outcome"] == "added" and record["title"].startswith("Handlingsplan för simuleringsträning")
    assert client.post("/v1/documents", files=files).json()["outcome"] == "unchanged"
    try:
        answer = client.post("/v1/ask", json={"question": "När ska simuleringscentrumet för kirurgisk träning byggas?"}).json()
        assert answer["abstained"] is False
        assert answer["citations"][0]["document_id"] == record["id"] and "2027" in answer["citations"][0]["quote"]
        assert client.get("/health").json()["documents"] == 6
    finally:
        assert client.delete(f"/v1/documents/{record['id']}").status_code == 204
    assert client.get(f"/v1/documents/{record['id']}").status_code == 404
    assert client.delete(f"/v1/documents/{record['id']}").status_code == 404
    after = client.post("/v1/ask", json={"question": "När ska simuleringscentrumet för kirurgisk träning byggas?"}).json()
    assert all(c["document_id"] != record["id"] for c in after["citations"] + after["closest"])
    assert client.get("/health").json()["documents"] == 5


def test_json_document_upload(client):
    response = client.post("/v1/documents", json={
        "title": "Forskningsrådets anteckning", "text": "Rådet vill att varje klinik får en forskningssjuksköterska.",
        "metadata": {"organisation": "Region Exempel", "date": "2025-03-01", "language": "sv"},
    })
    assert response.status_code == 201, response.text
    record = response.json()
    try:
        assert (record["title"], record["organisation"], record["date"]) == (
            "Forskningsrådets anteckning", "Region Exempel", "2025-03-01")
    finally:
        client.delete(f"/v1/documents/{record['id']}")
    bad = client.post("/v1/documents", json={"title": "x", "text": "y", "metadata": {"colour": "red"}})
    assert bad.status_code == 422 and "colour" in bad.json()["message"]


@pytest.mark.parametrize(("name", "data", "status"), [
    ("program.exe", b"MZ\x90\x00binary", 415),
    ("tom.txt", b"", 422),
    ("trasig.pdf", b"%PDF-1.4 broken", 422),
])
def test_bad_uploads_are_refused_clearly(client, name, data, status):
    before = client.get("/health").json()
    response = client.post("/v1/documents", files={"file": (name, data)})
    assert response.status_code == status
    assert name in response.json()["detail"]
    assert client.get("/health").json() == before


def test_openapi_docs(client):
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/health", "/v1/ask", "/v1/retrieve", "/v1/documents", "/v1/documents/{document_id}",
            "/v1/chat/completions"} <= set(paths)


def test_openai_client_without_and_with_streaming(server):
    from openai import OpenAI

    openai = OpenAI(base_url=f"{server.url}/v1", api_key="not-needed", max_retries=0)
    messages = [{"role": "user", "content": "Vad säger strategin om forskningstid?"}]
    completion = openai.chat.completions.create(model="fouassist", messages=messages)
    content = completion.choices[0].message.content
    assert content.startswith("Enligt dokumentet ”Region Stockholms") and "[1]" in content
    citations = completion.model_extra["citations"]
    assert citations and citations[0]["id"] == 1

    stream = openai.chat.completions.create(model="fouassist", messages=messages, stream=True)
    pieces, with_citations = [], []
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        if (chunk.model_extra or {}).get("citations"):
            with_citations.append(chunk)
    assert "".join(pieces) == content
    assert len(pieces) > 5
    assert len(with_citations) == 1 and with_citations[0].choices[0].finish_reason == "stop"


def test_chat_follow_up_uses_the_conversation(client):
    body = client.post("/v1/chat/completions", json={"messages": [
        {"role": "user", "content": "Vad säger Region Stockholms strategi om forskningstid?"},
        {"role": "assistant", "content": "Enligt ..."},
        {"role": "user", "content": "Och i Mellansverige?"},
    ]}).json()
    assert "Mellansverige" in body["choices"][0]["message"]["content"]


def test_raw_event_stream_ends_with_done(server):
    with httpx.stream("POST", f"{server.url}/v1/chat/completions", timeout=60, json={
        "stream": True, "messages": [{"role": "user", "content": "Hva sier planen om samarbeid med industrien?"}],
    }) as response:
        lines = [line for line in response.iter_lines() if line]
    assert response.headers["content-type"].startswith("text/event-stream")
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
