"""The command line, run as a user runs it: `python -m fouassist.cli ...` in a child process."""

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, cli_environment

from fouassist.ask.answerability import AnswerabilityModel
from fouassist.evaluate.question_sets import load_questions
from fouassist.feedback import Feedback, FeedbackStore


@pytest.fixture
def run(tmp_path: Path):
    def fouassist(*args: str, env: dict[str, str | None] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "fouassist.cli", *args], cwd=tmp_path, capture_output=True,
                              text=True, timeout=timeout, env=cli_environment(tmp_path / "data", env))
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


def test_ingest_reset_rebuilds_from_the_paths_given_with_settings_from_a_toml_file(run, tmp_path: Path):
    first, second = tmp_path / "first", tmp_path / "second"
    for folder, names in ((first, ("a.txt", "b.txt")), (second, ("c.txt",))):
        folder.mkdir()
        for name in names:
            (folder / name).write_text(f"Plan {name}\n\nRegionen ska satsa på forskning om {name[0]}-frågor.",
                                       encoding="utf-8")
    config = tmp_path / "fouassist-cli.toml"
    config.write_text(f'data_dir = "{tmp_path / "index-from-toml"}"\n', encoding="utf-8")
    env = {"FOUASSIST_CONFIG": str(config), "FOUASSIST_DATA_DIR": None}  # the data directory comes from the file
    assert run("ingest", str(first), env=env).returncode == 0
    assert (tmp_path / "index-from-toml" / "index").is_dir() and not (tmp_path / "data").exists()
    reset = run("ingest", "--reset", "--json", str(second), env=env)
    assert reset.returncode == 0, reset.stderr
    assert json.loads(reset.stdout)["added"] == ["c.txt"]
    listed = json.loads(run("documents", "list", "--json", env=env).stdout)
    assert [d["source"] for d in listed] == ["c.txt"]  # a.txt and b.txt went with the reset


def test_feedback_export_as_json_lines_and_csv(run, tmp_path: Path):
    store = FeedbackStore(tmp_path / "data" / "feedback" / "feedback.jsonl")
    for rating, comment in (("helpful", "Bra, tack"), ("not_helpful", 'För "kort"; fel källa')):
        store.add(Feedback(rating=rating, comment=comment, question="Vad säger strategin om forskningstid?",
                           answer="Enligt dokumentet …"))
    lines = run("feedback", "export").stdout.splitlines()
    assert [json.loads(line)["comment"] for line in lines] == ["Bra, tack", 'För "kort"; fel källa']
    out = tmp_path / "feedback.csv"
    written = run("feedback", "export", "--format", "csv", "--out", str(out))
    assert written.returncode == 0 and written.stdout == ""
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [(r["rating"], r["comment"]) for r in rows] == [("helpful", "Bra, tack"), ("not_helpful", 'För "kort"; fel källa')]
    wrong = run("feedback", "export", "--format", "xml")
    assert wrong.returncode == 2 and "jsonl or csv" in wrong.stderr


def test_answerability_train_refits_on_kept_signals_and_writes_a_model_that_loads(run, tmp_path: Path,
                                                                                   corpus_service):
    """A small, fast run: the signals of the default set's dev questions (lexical-only, in process)
    are kept where `--reuse-signals` finds them, and the CLI fits and writes the weights."""
    questions = load_questions(ROOT / "eval" / "sets" / "default.jsonl", "dev")
    work = tmp_path / "work"
    work.mkdir()
    rows = []
    for question in questions:
        signals = corpus_service.signals(question.question, question.history).__dict__
        group = f"default/dev:{question.documents[0] if question.documents else question.id}"
        rows.append(json.dumps(["default/dev", group, signals, signals, question.answerable]))
    (work / "signals.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert {q.answerable for q in questions} == {True, False}
    out = tmp_path / "answerability.json"
    trained = run("answerability", "train", "--work", str(work), "--reuse-signals", "--out", str(out),
                  "--false-abstention", "0.10")
    assert trained.returncode == 0, trained.stderr
    assert f"Wrote {out}" in trained.stdout and "hybrid default/dev: {'questions': " in trained.stdout
    model = AnswerabilityModel.load(out)
    assert model.trained_on["sets"] == ["default/dev"] and model.trained_on["command"] == "fouassist answerability train"
    assert 0 < model.hybrid.threshold < 1
    for bad, words in ((["--false-abstention", "1.5"], "between 0 and 1"),
                       (["--work", str(tmp_path / "empty"), "--reuse-signals"], "run without --reuse-signals")):
        refused = run("answerability", "train", *bad, "--out", str(tmp_path / "never.json"))
        assert refused.returncode == 2 and words in refused.stderr and not (tmp_path / "never.json").exists()
