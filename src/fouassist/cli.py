"""The command line: `fouassist ingest | documents | ask | serve`, mirroring the HTTP API.

Every command builds the service from the same settings (FOUASSIST_* variables and an
optional fouassist.toml). Bad arguments print one line and exit with code 2.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from pathlib import Path
from typing import Annotated, Optional

import typer

from fouassist.config import Settings

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  pretty_exceptions_enable=False, help=__doc__.splitlines()[0])
documents_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="List and delete indexed documents.")
app.add_typer(documents_app, name="documents")
feedback_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Feedback that readers gave on answers.")
app.add_typer(feedback_app, name="feedback")
answerability_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                                help="The model that decides whether the documents answer a question.")
app.add_typer(answerability_app, name="answerability")

USAGE_ERROR = 2


def fail(message: str, code: int = USAGE_ERROR) -> None:
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(code)


def _settings() -> Settings:
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    try:
        settings = Settings()
    except ValidationError as error:
        problems = "; ".join(f"FOUASSIST_{'_'.join(map(str, e['loc'])).upper()}={e.get('input')!r}: {e['msg']}"
                             if e["loc"] else str(e["msg"]).removeprefix("Value error, ") for e in error.errors())
        fail(f"the settings are not valid: {problems}")
    except (SettingsError, FileNotFoundError, ValueError) as error:
        fail(f"the settings are not valid: {str(error).splitlines()[0]}")
    logging.basicConfig(level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("httpx", "sentence_transformers", "transformers", "urllib3", "bm25s"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return settings


def _service(settings: Settings | None = None):
    from fouassist.index.backends import IndexBusy
    from fouassist.index.store import IndexLayoutError
    from fouassist.ingest.read_limits import DocumentError
    from fouassist.service import Service

    try:
        return Service(settings or _settings())
    except IndexBusy as error:
        fail(str(error), code=1)
    except IndexLayoutError as error:
        fail(str(error))
    except (DocumentError, FileNotFoundError) as error:
        fail(str(error))


@app.command()
def ingest(
    paths: Annotated[Optional[list[Path]], typer.Argument(help="Files or folders; default: the default corpus.")] = None,
    reset: Annotated[bool, typer.Option("--reset", help="Empty the index first and rebuild it.")] = False,
    prune: Annotated[bool, typer.Option("--prune", help="Delete indexed documents not among PATHS.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Add documents to the index; unchanged ones are skipped, changed ones replaced."""
    settings = _settings()
    targets = paths or [settings.corpus_dir]
    missing = [str(p) for p in targets if not p.exists()]
    if missing:
        fail(f"no such file or folder: {', '.join(missing)}")
    from fouassist.service import Busy

    service = _service(settings)
    try:
        report = service.ingest_paths(targets, reset=reset, prune=prune, progress=not as_json)
    except Busy as error:
        fail(str(error), code=1)
    finally:
        service.close()
    if as_json:
        typer.echo(json.dumps({
            "added": report.added, "unchanged": report.unchanged, "replaced": report.replaced,
            "failed": [{"source": s, "reason": r} for s, r in report.failed], "chunks": report.chunks,
            "seconds": round(report.seconds, 2), "dense": report.dense,
        }, ensure_ascii=False, indent=2))
    else:
        for source, reason in report.failed:
            typer.echo(f"Failed: {source}: {reason}", err=True)
        typer.echo(report.summary())
    if report.failed:
        raise typer.Exit(1)


@documents_app.command("list")
def documents_list(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List the indexed documents with their metadata."""
    service = _service()
    try:
        records = service.documents()
    finally:
        service.close()
    if as_json:
        typer.echo(json.dumps(records, ensure_ascii=False, indent=2))
        return
    if not records:
        typer.echo("The index is empty; run `fouassist ingest`.")
    for r in records:
        typer.echo(f"{r['id']}  {r['language']}  {r.get('date') or '-':10}  {r['chunk_count']:4} chunks  "
                   f"{r['title']} ({r.get('organisation') or '?'}) [{r['source']}]")


@documents_app.command("delete")
def documents_delete(document_id: Annotated[str, typer.Argument(help="The document's id (see `documents list`).")]) -> None:
    """Delete a document and its chunks from the index."""
    from fouassist.service import NotFound

    service = _service()
    try:
        service.delete(document_id)
    except NotFound:
        fail(f"no document with id {document_id}; `fouassist documents list` shows the ids")
    finally:
        service.close()
    typer.echo(f"Deleted {document_id}")


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question, in Swedish or Norwegian.")],
    top_k: Annotated[int, typer.Option("--top-k", min=1, max=50, help="Passages to retrieve.")] = 5,
    document: Annotated[Optional[list[str]], typer.Option("--document", help="Only this document id (repeatable).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the same JSON as POST /v1/ask.")] = False,
    mode: Annotated[str, typer.Option("--mode", help="extractive (quotes) or generative (needs FOUASSIST_LLM_*).")
                    ] = "extractive",
) -> None:
    """Answer a question from the indexed documents, with citations."""
    from fouassist.bounds import check_question
    from fouassist.index.store import SearchFilters
    from fouassist.serve.schemas import AskResponse

    try:
        question = check_question(question)
    except ValueError as error:
        fail(str(error))
    if mode not in ("extractive", "generative"):
        fail(f"--mode must be extractive or generative, not {mode!r}")
    service = _service()
    try:
        if service.ensure_default_corpus() is not None:
            typer.echo("(The index was empty: the default corpus was ingested first.)", err=True)
        answer = service.ask(question, top_k, SearchFilters(document_ids=document) if document else None, mode=mode)
    finally:
        service.close()
    if as_json:
        typer.echo(AskResponse.of(answer).model_dump_json(indent=2))
        return
    typer.echo(answer.answer)
    if answer.fallback_reason:
        typer.echo(f"(Extractive answer: {answer.fallback_reason}.)", err=True)
    for sentence in answer.unsupported:
        typer.echo(f"(Removed, not supported by its citations: {sentence})", err=True)
    if answer.citations:
        typer.echo("")
    for c in answer.citations:
        pages = f"s. {c.page}" + (f"–{c.last_page}" if c.last_page and c.last_page != c.page else "") if c.page else ""
        where = ", ".join(x for x in (f"avsnitt {c.section}" if c.section else "", pages) if x)
        typer.echo(f"[{c.id}] {c.title}{f' ({where})' if where else ''} [{c.document_id} {c.start}-{c.end}]")


@app.command()
def serve(
    host: Annotated[Optional[str], typer.Option(help="Interface to listen on (default from settings: 127.0.0.1).")] = None,
    port: Annotated[Optional[int], typer.Option(min=1, max=65535, help="Port (default from settings: 8000).")] = None,
) -> None:
    """Start the HTTP API (and the web interface at /ui) with uvicorn."""
    import uvicorn

    from fouassist.ingest.sandbox import start_readers
    from fouassist.serve.app import create_app

    settings = _settings()
    service = _service(settings)
    if settings.auto_ingest:
        if service.catalog.records:  # re-embed what needs it in the background; the API serves meanwhile
            service.writer.update_dense_in_background()
        else:  # first start: the default corpus is there before the first question
            service.ensure_default_corpus(progress=True)
    threading.Thread(target=start_readers, daemon=True).start()
    extensions = [_close_at_shutdown(service)]
    try:
        from fouassist_ui import serve_ui_when_ready

        extensions.append(serve_ui_when_ready(service))
    except ImportError as error:  # the UI is optional for API-only installs
        logging.getLogger("fouassist").warning("The web interface is not installed (%s); serving the API only", error)
    application = create_app(service, extensions)
    health = service.health()  # a model that cannot load says so itself, loudly, when it gives up
    if health["dense"]["state"] == "off":
        logging.getLogger("fouassist").warning("Running LEXICAL-ONLY: %s", health["dense"]["reason"])
    if health["llm"]["configured"] and not health["llm"]["reachable"]:
        logging.getLogger("fouassist").warning("The language model server does not answer (%s); generative "
                                               "requests get extractive answers until it does",
                                               health["llm"]["reason"])
    try:
        # X-Forwarded-For names the client only when it comes from a proxy named in the settings:
        # otherwise anyone on loopback could pick the address the rate limits count.
        server, proxies = settings.server, settings.server.trusted_proxies
        uvicorn.run(application, host=host or server.host, port=port or server.port,
                    log_level=server.log_level.lower(), access_log=False,  # fouassist.access logs requests
                    proxy_headers=bool(proxies), forwarded_allow_ips=",".join(proxies) or None)
    finally:
        service.close()


def _close_at_shutdown(service):
    """An API extension that closes the service when the server shuts down: after a SIGTERM,
    uvicorn raises the signal again once it has shut down, so what follows uvicorn.run never runs."""
    import asyncio

    async def extension(app, stack) -> None:
        stack.push_async_callback(asyncio.to_thread, service.close)

    return extension


@feedback_app.command("export")
def feedback_export(
    format: Annotated[str, typer.Option("--format", help="jsonl or csv.")] = "jsonl",
    out: Annotated[Optional[Path], typer.Option(help="Write to this file instead of standard output.")] = None,
) -> None:
    """Print (or write) all feedback with its questions, answers and citations."""
    from fouassist.feedback import FeedbackStore

    if format not in ("jsonl", "csv"):
        fail(f"unknown format {format!r}; choose jsonl or csv")
    store = FeedbackStore(_settings().feedback_path)
    pieces = store.stream(format)  # type: ignore[arg-type]
    if out is None:
        for piece in pieces:
            typer.echo(piece, nl=False)
        return
    with out.open("w", encoding="utf-8") as file:
        file.writelines(pieces)
    typer.echo(f"Wrote {sum(1 for _ in store.entries())} entries to {out}", err=True)


@app.command("eval")
def evaluate(
    set_name: Annotated[str, typer.Option("--set", help="default, swefaq, norquad or all.")] = "default",
    split: Annotated[str, typer.Option(help="dev (what tuning and training use), test (held out: what the gate "
                                            "measures) or all.")] = "test",
    out: Annotated[Path, typer.Option(help="Where report.json, report.md and the plots go.")] = Path("eval/reports/latest"),
    check: Annotated[Optional[Path], typer.Option(help="Fail (exit 1) when a report misses these thresholds and "
                                                  "rules (eval/thresholds.toml).")] = None,
    mode: Annotated[str, typer.Option("--mode", help="extractive, or generative: also the language model's "
                                                     "answers (needs FOUASSIST_LLM_BASE_URL and _MODEL).")
                    ] = "extractive",
    abstention: Annotated[bool, typer.Option("--abstention/--no-abstention", help="Also SweFAQ and NorQuAD with "
                                             "every other gold passage removed (unanswerable with near misses).")
                          ] = True,
) -> None:
    """Measure retrieval, citations, answers and abstention against reference questions."""
    from fouassist.evaluate import report as eval_report
    from fouassist.evaluate.measure import run_default, run_external
    from fouassist.evaluate.question_sets import EXTERNAL_FILES, external_sets

    names = _eval_set_names(set_name, split, check, mode)
    settings = _settings()
    if mode == "generative" and not settings.llm_base_url:
        fail("--mode generative needs a language model: set FOUASSIST_LLM_BASE_URL and FOUASSIST_LLM_MODEL "
             "to an OpenAI-compatible server")
    external = settings.eval_dir / "external"
    work = out / "work"
    reports = []
    for name in names:
        if name == "default":
            set_path = settings.eval_dir / "sets" / "default.jsonl"
            if not set_path.is_file():
                fail(f"no question set at {set_path}")
            reports.append(run_default(settings, set_path, split, work, progress=True, mode=mode))
        else:
            for file in EXTERNAL_FILES[name]:
                if not (external / file).is_file():
                    fail(f"no external set at {external / file}")
            for material in external_sets(external, name, split):
                reports.extend(run_external(settings, material, work, progress=True, mode=mode,
                                            abstention=abstention))
    for path in eval_report.write(reports, out):
        typer.echo(f"Wrote {path}")
    for report in reports:
        typer.echo(f"\n{report['set']}\n" + "\n".join(eval_report.table(report["metrics"], report["configs"])))
    if check is not None:
        _check_gate(reports, check, out)


def _eval_set_names(set_name: str, split: str, check: Optional[Path], mode: str) -> list[str]:
    """The sets `fouassist eval` runs; fails on an unknown set, split or mode, or thresholds that do not load."""
    from fouassist.evaluate import report as eval_report

    names = ["default", "swefaq", "norquad"] if set_name == "all" else [set_name]
    if any(n not in ("default", "swefaq", "norquad") for n in names):
        fail(f"unknown set {set_name!r}; choose default, swefaq, norquad or all")
    if split not in ("dev", "test", "all"):
        fail(f"unknown split {split!r}; choose dev, test or all")
    if check is not None and not check.is_file():
        fail(f"no thresholds file at {check}")
    if check is not None:
        try:
            eval_report.load_thresholds(check)
        except ValueError as error:
            fail(str(error))
    if mode not in ("extractive", "generative"):
        fail(f"--mode must be extractive or generative, not {mode!r}")
    return names


def _check_gate(reports: list[dict], check: Path, out: Path) -> None:
    """Write and print the gate's verdict on `reports`; exit 1 when a metric misses its threshold or rule."""
    from fouassist.evaluate import report as eval_report

    failures, exemptions = eval_report.gate(reports, check)
    lines = [f"EXEMPT: {e}" for e in exemptions] + [f"GATE FAILED: {f}" for f in failures]
    (out / "gate.txt").write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    for line in lines:
        typer.echo(line, err=line.startswith("GATE FAILED"))
    if failures:
        raise typer.Exit(1)
    typer.echo(f"All metrics meet {check}")


@answerability_app.command("train")
def answerability_train(
    work: Annotated[Path, typer.Option(help="Indexes of the development sets (kept for the next run).")
                    ] = Path("eval/reports/answerability-work"),
    out: Annotated[Optional[Path], typer.Option(help="Where to write the weights; default: the shipped file.")] = None,
    false_abstention: Annotated[float, typer.Option(help="Out-of-fold false abstentions the threshold allows "
                                                    "(each set weighing the same).")] = 0.05,
    reuse_signals: Annotated[bool, typer.Option("--reuse-signals", help="Refit on the signals the last run "
                                                "kept in WORK, without asking the questions again.")] = False,
) -> None:
    """Fit the answerability model on the development material only and write its weights."""
    from importlib import resources

    import numpy as np

    from fouassist.ask.answerability import DENSE_SIGNALS, AnswerabilityModel, Signals, fit, rates
    from fouassist.evaluate.development import answerability_material, kept_answerability_material

    if not 0 <= false_abstention < 1:
        fail("--false-abstention must be between 0 and 1")
    if reuse_signals and not (work / "signals.jsonl").is_file():
        fail(f"no kept signals in {work}; run without --reuse-signals first")
    settings = _settings()
    rows = kept_answerability_material(work) if reuse_signals else answerability_material(settings, work)
    names = [row[0] for row in rows]
    groups = [row[1] for row in rows]
    answerable = np.array([row[4] for row in rows], dtype=int)
    fits, figures = {}, {}
    for variant, column, features in (("hybrid", 2, Signals.names()),
                                      ("lexical", 3, tuple(n for n in Signals.names() if n not in DENSE_SIGNALS))):
        fits[variant], probabilities = fit([row[column] for row in rows], list(answerable), groups, features,
                                           false_abstention=false_abstention, sets=names)
        threshold = fits[variant].threshold
        figures[variant] = {}
        for name in dict.fromkeys(names):
            chosen = np.array([n == name for n in names])
            figures[variant][name] = {
                "questions": int(chosen.sum()), "unanswerable": int((answerable[chosen] == 0).sum()),
                **{k: round(v, 3) for k, v in rates(probabilities[chosen], answerable[chosen], threshold).items()}}
            typer.echo(f"{variant} {name}: {figures[variant][name]} (out of fold, threshold {fits[variant].threshold})")
        typer.echo(f"{variant} weights (standardised signals): "
                   + ", ".join(f"{k} {v:+.2f}" for k, v in zip(features, fits[variant].coef)))
    model = AnswerabilityModel(fits["hybrid"], fits["lexical"], {
        "sets": list(dict.fromkeys(names)), "out_of_fold_at_threshold": figures,
        "embedding_model": settings.embedding_model, "command": "fouassist answerability train"})
    target = out or Path(str(resources.files("fouassist").joinpath("data/answerability.json")))
    model.save(target)
    typer.echo(f"Wrote {target}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
