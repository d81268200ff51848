"""The development material (never what the gate measures): each development set with a service over
an index of its own, and the answerability signals over them that the answerability model is
trained on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fouassist.evaluate.question_sets import Question, external_sets, gold_removed_set, load_questions
from fouassist.progress import progress_bar
from fouassist.service import Service


def development_sets(settings, work: Path, gold_removed: bool = False, progress: bool = True
                     ) -> dict[str, tuple[Service, list[Question]]]:
    """The development material, each set with a service over an index of its own kept in `work`
    (built on the first call, reused later): the default set's dev split, SweFAQ's tuning half and
    NorQuAD train, or with `gold_removed` the two external sets with every other gold passage left
    out. Never held-out material (the default set's test split, SweFAQ's held-out half, NorQuAD
    validation)."""
    from fouassist.service import load_models

    models = load_models(settings)
    default = Service(settings.model_copy(update={"data_dir": work / "default"}), models)
    default.ingest_paths([settings.corpus_dir], progress=progress)
    sets = {"default/dev": (default, load_questions(settings.eval_dir / "sets" / "default.jsonl", "dev"))}
    for set_name in ("swefaq", "norquad"):
        [external] = external_sets(settings.eval_dir / "external", set_name, "dev")
        if gold_removed:
            external, _ = gold_removed_set(external)
        name = external.name.replace("/", "-")
        folder = work / f"{name}-documents"
        folder.mkdir(parents=True, exist_ok=True)
        for source, _, text in external.documents:
            if not (folder / source).exists():
                (folder / source).write_text(text, encoding="utf-8")
        service = Service(settings.model_copy(update={"data_dir": work / name,
                                                      "manifest": folder / "no-manifest.toml"}), models)
        service.ingest_paths([folder], progress=progress)
        sets[external.name] = (service, external.questions)
    return sets


def answerability_material(settings, work: Path, progress: bool = True) -> list[tuple[str, str, Any, Any, bool]]:
    """(set, group, signals with dense search, signals lexical-only, answerable) for every
    question of the development material with unanswerable questions: the default set's dev
    split, and SweFAQ's tuning half and NorQuAD train with every other gold passage removed.
    Questions about one passage share a group."""

    kept = work / "signals.jsonl"  # what the signals of this version were; reused by --reuse-signals
    rows = []
    for name, (service, questions) in development_sets(settings, work, gold_removed=True, progress=progress).items():
        with progress_bar(progress, len(questions), f"Signals of {name}", "question") as bar:
            for question in questions:
                group = f"{name}:{question.documents[0] if question.documents else question.id}"
                rows.append((name, group, service.signals(question.question, question.history),
                             service.signals(question.question, question.history, "lexical"), question.answerable))
                bar.update(1)
        service.close()
    kept.write_text("".join(json.dumps([n, g, h.__dict__, lex.__dict__, a]) + "\n" for n, g, h, lex, a in rows),
                    encoding="utf-8")
    return rows


def kept_answerability_material(work: Path) -> list[tuple[str, str, Any, Any, bool]]:
    """The signals the last `answerability_material(work)` computed."""
    from fouassist.ask.answerability import Signals

    rows = [json.loads(line) for line in (work / "signals.jsonl").read_text(encoding="utf-8").splitlines()]
    names = Signals.names()
    return [(n, g, Signals(**{k: h[k] for k in names}), Signals(**{k: lex[k] for k in names}), a)
            for n, g, h, lex, a in rows]
