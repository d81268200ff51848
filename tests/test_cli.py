"""The command line, run as a user runs it: `python -m fouassist.cli ...` in a child process."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import CORPUS, MANIFEST, ROOT


@pytest.fixture
def run(tmp_path: Path):
    env = {**os.environ, "FOUASSIST_DATA_DIR": str(tmp_path / "data"), "FOUASSIST_CORPUS_DIR": str(CORPUS),
           "FOUASSIST_MANIFEST": str(MANIFEST), "FOUASSIST_EMBEDDING_MODEL": "", "FOUASSIST_LOG_LEVEL": "WARNING"}

    def fouassist(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "fouassist.cli", *args], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=300)
    return fouassist


def test_ingest_list_ask_delete(run):
    first = run("ingest")
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip().startswith("5 added, 0 unchanged, 0 replaced, 0 failed;")
    assert "Ingesting" in first.stderr  # the progress bar

    again = run("ingest", "--json")
    report = json.loads(again.stdout)
    assert (len(report["unchanged"]), report["added"], report["chunks"]) == (5, [], 0)

    listed = json.loads(run("documents", "list", "--json").stdout)
    assert len(listed) == 5 and {"id", "title", "organisation", "date", "language", "chunk_count"} <= set(listed[0])
    assert "text" not in listed[0] and "term_df" not in listed[0]
    table = run("documents", "list").stdout
    assert "Helse Midt-Norge" in table and "2023-06-13" in table

    asked = run("ask", "--json", "Vad säger strategin om forskningstid?")
    body = json.loads(asked.stdout)
    assert body["abstained"] is False and any(c["section"] == "5.1.5" for c in body["citations"])
    plain = run("ask", "Hva sier planen om samarbeid med industrien?").stdout
    assert plain.startswith("Ifølge ") and "\n[1] " in plain

    victim = listed[0]["id"]
    deleted = run("documents", "delete", victim)
    assert deleted.returncode == 0 and victim in deleted.stdout
    assert len(json.loads(run("documents", "list", "--json").stdout)) == 4


@pytest.mark.parametrize("args", [
    ("ingest", "/no/such/folder"),
    ("documents", "delete", "0000000000000000"),
    ("ask", "   "),
    ("ask", "?!"),
    ("ask", "fråga", "--top-k", "0"),
    ("nonsense",),
    ("eval", "--split", "sometimes"),
])
def test_bad_arguments_exit_with_code_2_and_one_line(run, args):
    result = run(*args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1
    assert "Traceback" not in result.stderr


def test_a_failed_file_is_reported_and_sets_the_exit_code(run, tmp_path: Path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "ok.txt").write_text("Forskning och utveckling i regionen ska stärkas genom samverkan.", encoding="utf-8")
    (folder / "trasig.pdf").write_bytes(b"%PDF-1.4 broken")
    result = run("ingest", str(folder))
    assert result.returncode == 1
    assert "Failed: trasig.pdf: the PDF is damaged" in result.stderr
    assert "1 added" in result.stdout and "1 failed" in result.stdout
