"""What the README promises and no other test checked: the document limits (413), the upload rate
limit, 200 for an unchanged upload, a failed job's error, CSV export over HTTP, and the TOML
configuration file. Real servers on loopback ports."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import httpx
import pytest
from conftest import Server, cli_environment, make_settings

from fouassist.config import Settings

TEXT = "Plan för zebraforskning\n\nRegionen ska satsa på zebraforskning varje år."


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    """Small document limits and a low upload rate limit, an empty index (nothing to ingest)."""
    server = Server(tmp_path_factory.mktemp("limited") / "data", wait_for_ui=False, env={
        "FOUASSIST_MAX_DOCUMENT_CHARS": "1000", "FOUASSIST_MAX_EXPANDED_MB": "1", "FOUASSIST_RATE_LIMIT_UPLOAD": "3/minute",
        "FOUASSIST_AUTO_INGEST": "false", "FOUASSIST_UPLOAD_WAIT_S": "120"})  # answers, never 202, on a busy machine
    yield server
    server.stop()


def client_from(address: str, server: Server) -> httpx.Client:
    """A client with a loopback address of its own, so that the per-client limits count it alone."""
    return httpx.Client(base_url=server.url, timeout=60, transport=httpx.HTTPTransport(local_address=address))


def test_a_document_over_max_document_chars_is_413(limited):
    with client_from("127.0.0.2", limited) as http:
        response = http.post("/v1/documents", files={"file": ("lang.txt", ("Forskning. " * 120).encode())})
    assert response.status_code == 413, response.text
    assert "1,000" in response.json()["message"] and "Split it" in response.json()["message"]
    assert limited.health()["documents"] == 0


def test_html_over_max_expanded_mb_is_413(limited):
    page = "<html><body><p>" + "forskning " * 110_000 + "</p></body></html>"  # 1.1 M characters, under the body limit
    with client_from("127.0.0.3", limited) as http:
        response = http.post("/v1/documents", files={"file": ("sida.html", page.encode())})
    assert response.status_code == 413, response.text
    assert "MB of HTML" in response.json()["message"] and "limit is 1 MB" in response.json()["message"]
    assert limited.health()["documents"] == 0


def test_uploads_are_rate_limited_and_an_unchanged_upload_is_200(limited):
    files = {"file": ("zebra.txt", TEXT.encode())}
    with client_from("127.0.0.4", limited) as http:
        answers = [http.post("/v1/documents", files=files) for _ in range(4)]
        try:
            assert [a.status_code for a in answers] == [201, 200, 200, 429], [a.text for a in answers]
            assert [a.json()["outcome"] for a in answers[:3]] == ["added", "unchanged", "unchanged"]
            assert answers[1].json()["id"] == answers[0].json()["id"]
            assert 1 <= int(answers[3].headers["retry-after"]) <= 60 and "3 per 1 minute" in answers[3].json()["message"]
        finally:
            assert http.delete(f"/v1/documents/{answers[0].json()['id']}").status_code == 204
    with client_from("127.0.0.5", limited) as other:  # another client is not limited by the first one's uploads
        assert other.post("/v1/documents", files={"file": ("tom.txt", b"")}).status_code == 422


def test_a_failed_job_says_what_went_wrong(limited):
    with client_from("127.0.0.6", limited) as http:
        refused = http.post("/v1/documents", files={"file": ("trasig.pdf", b"%PDF-1.4 broken")})
        assert refused.status_code == 422
        job = http.get("/v1/jobs").json()["jobs"][0]
        assert (job["name"], job["status"], job["error_code"]) == ("trasig.pdf", "failed", "damaged"), job
        assert job["error"] == refused.json()["message"] and "damaged" in job["error"] and job["finished"]
        assert http.get(f"/v1/jobs/{job['id']}").json() == job


def test_feedback_exports_as_csv_over_http(limited):
    entry = {"rating": "not_helpful", "question": "Vad säger planen om zebror?", "answer": "Enligt planen …",
             "comment": "För kort, men; rätt", "citations": [{"id": 1, "document_id": "abc", "title": "Zebraplan",
                                                           "quote": "Regionen ska satsa."}]}
    assert httpx.post(f"{limited.url}/v1/feedback", json=entry).status_code == 201
    exported = httpx.get(f"{limited.url}/v1/feedback", params={"format": "csv"})
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    row = next(r for r in rows if r["question"] == entry["question"])
    assert (row["rating"], row["comment"]) == ("not_helpful", "För kort, men; rätt")
    assert "Regionen ska satsa." in row["citations"]
    assert httpx.get(f"{limited.url}/v1/feedback", params={"format": "xml"}).status_code == 422


def test_an_empty_answerability_model_setting_means_the_shipped_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("FOUASSIST_ANSWERABILITY_MODEL", "")
    assert Settings().answerability_model is None
    data = tmp_path / "data"
    result = subprocess.run([sys.executable, "-m", "fouassist.cli", "ask", "--json", "Vad säger strategin om forskningstid?"],
                            env=cli_environment(data, {"FOUASSIST_ANSWERABILITY_MODEL": ""}), cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert 0 <= json.loads(result.stdout)["answerability"] <= 1


def test_the_toml_file_is_read_below_the_environment(tmp_path, monkeypatch):
    config = tmp_path / "egen.toml"
    config.write_text(f'data_dir = "{tmp_path / "fran-filen"}"\ntop_k = 7\nrate_limit_ask = "10/minute"\n',
                      encoding="utf-8")
    monkeypatch.setenv("FOUASSIST_CONFIG", str(config))
    monkeypatch.setenv("FOUASSIST_TOP_K", "9")
    settings = Settings()
    assert settings.data_dir == tmp_path / "fran-filen" and settings.rate_limit_ask == "10/minute"
    assert settings.top_k == 9  # the environment wins over the file
    assert make_settings(tmp_path / "data", top_k=3).top_k == 3  # and keyword arguments over both
    monkeypatch.delenv("FOUASSIST_CONFIG")  # without FOUASSIST_CONFIG: ./fouassist.toml, when there is one
    (tmp_path / "fouassist.toml").write_text('collection = "fran_cwd"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert Settings().collection == "fran_cwd"
    monkeypatch.setenv("FOUASSIST_CONFIG", str(tmp_path / "saknas.toml"))
    with pytest.raises(FileNotFoundError, match="saknas.toml, which is not a file"):
        Settings()


def test_each_component_gets_its_own_section_of_the_flat_settings(tmp_path, monkeypatch):
    """Outside the names are flat; each component's section carries its fields as set there, and
    no field belongs to two components."""
    from dataclasses import fields

    from fouassist.config import Section

    monkeypatch.setenv("FOUASSIST_DENSE_WEIGHT", "3.5")
    settings = make_settings(tmp_path / "data", max_quotes=2, llm_retries=4, port=8123, chunk_min_chars=100)
    assert settings.retrieval.dense_weight == 3.5 and settings.answer.max_quotes == 2
    assert settings.generation.llm_retries == 4 and settings.server.port == 8123
    assert settings.chunking.chunk_min_chars == 100 and settings.index.index_path == settings.index_path
    names = [f.name for section in Section.__subclasses__() for f in fields(section)]
    assert len(Section.__subclasses__()) == 7
    assert len(names) == len(set(names)) and set(names) <= set(Settings.model_fields)
