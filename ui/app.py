"""The Gradio interface, mounted at /ui on the API's own app and using the same service.

Each browser session has its own conversation (a `gr.State`); nothing about a conversation is
kept at module level. All labels come from `texts.TEXTS` and switch between Swedish and
Norwegian without a reload.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
import uuid
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before any Blocks exist

import gradio as gr  # noqa: E402

# Gradio switches matplotlib's backend around every event, and the first switch imports pyplot
# (about a second) on the event loop, where /health would wait for it: import it here, with Gradio,
# in the background.
import matplotlib.pyplot  # noqa: E402, F401
from fastapi import FastAPI  # noqa: E402
from fouassist_ui.render import (  # noqa: E402
    BRIDGE_JS,
    CSS,
    SOURCES_JS,
    banner_markdown,
    chat_markup,
    context_html,
    literal,
    sources_html,
)
from fouassist_ui.texts import EXAMPLES, FILE_ERRORS, LANGUAGES, TEXTS, language_of_browser  # noqa: E402
from gradio import utils as gr_utils  # noqa: E402

from fouassist.ask.answer import Answer  # noqa: E402
from fouassist.bounds import MAX_QUESTION_CHARS  # noqa: E402
from fouassist.feedback import Feedback  # noqa: E402
from fouassist.index.store import SearchFilters  # noqa: E402
from fouassist.ingest.jobs import QueueFull  # noqa: E402
from fouassist.language.words import resource_language  # noqa: E402
from fouassist.serve.interface_gate import Input, InterfaceEvents  # noqa: E402
from fouassist.serve.middleware import ClientLimiter  # noqa: E402
from fouassist.serve.schemas import AskResponse  # noqa: E402
from fouassist.service import Busy, NotFound, QuestionTooLong, Service  # noqa: E402

log = logging.getLogger(__name__)
UI_PATH = "/ui"
CODE_OF = LANGUAGES  # "Svenska" -> "sv"
NAME_OF = {code: name for name, code in LANGUAGES.items()}


def new_session() -> dict[str, Any]:
    """One browser session's conversation. It lives on the server (a `gr.State`): the chat on the
    page is only drawn from it, and no event takes the conversation back from the client."""
    return {"id": None, "history": [], "answers": [], "chat": [], "pending": None}


def client_of(request: gr.Request | None) -> str:
    return request.client.host if request is not None and request.client else "unknown"


class Interface:
    """The handlers of the interface, bound to one service."""

    def __init__(self, service: Service, limiter: ClientLimiter) -> None:
        self.service = service
        self.limiter = limiter

    # -- shared bits --------------------------------------------------------------------------
    def document_rows(self, lang: str) -> dict[str, Any]:
        words = TEXTS[lang]
        headers = [words[k] for k in ("col_title", "col_organisation", "col_date", "col_language", "col_chunks",
                                      "col_source", "col_id")]
        rows = [[r["title"], r.get("organisation") or "", r.get("date") or "", r["language"], r["chunk_count"],
                 r["source"], r["id"]] for r in self.service.documents()]
        return {"headers": headers, "data": rows}

    def document_choices(self) -> list[tuple[str, str]]:
        return [(f"{r['title']} ({r.get('organisation') or r['source']})", r["id"]) for r in self.service.documents()]

    def organisation_choices(self) -> list[str]:
        return sorted({r["organisation"] for r in self.service.documents() if r.get("organisation")})

    def refreshed(self, lang: str) -> tuple:
        """Banner, table, filter choices and delete choices after the documents changed."""
        documents = self.document_choices()
        return (
            gr.update(value=banner_markdown(self.service.health(), lang)),
            gr.update(value=self.document_rows(lang)),
            gr.update(choices=documents),
            gr.update(choices=self.organisation_choices()),
            gr.update(choices=documents, value=None),
        )

    def key_ok(self, key: Any) -> bool:
        configured = self.service.settings.server.api_key
        key = key if isinstance(key, str) else ""
        return configured is None or hmac.compare_digest(key.encode(), configured.get_secret_value().encode())

    # -- chat ---------------------------------------------------------------------------------
    def add_question(self, question: Any, session: dict, ui_language: str) -> tuple:
        """The question goes into the conversation as pending; `answer` takes it from there."""
        words = TEXTS[CODE_OF.get(ui_language, "sv")]
        question = question.strip() if isinstance(question, str) else ""
        if not question:
            return gr.update(), session["chat"], session
        if len(question) > MAX_QUESTION_CHARS:  # the box stops typing at the limit; a script may not
            refusal = words["question_too_long"].format(n=len(question), limit=MAX_QUESTION_CHARS)
            session = {**session, "chat": session["chat"] + [{"role": "assistant", "content": literal(refusal)}]}
            return gr.update(), session["chat"], session
        session = {**session, "pending": question,
                   "chat": session["chat"] + [{"role": "user", "content": literal(question)}]}
        return gr.update(value="", interactive=False), session["chat"], session

    def answer(self, session: dict, ui_language: str, documents: Any, organisations: Any, mode: Any,
               request: gr.Request = None):
        """Stream the answer to the pending question into the chat, then show its sources."""
        lang = CODE_OF.get(ui_language, "sv")
        question = session.get("pending")
        if not question:
            yield session["chat"], gr.update(), session
            return
        session = {**session, "pending": None, "id": session.get("id") or uuid.uuid4().hex}
        chat = session["chat"] + [{"role": "assistant", "content": ""}]
        retry_after = self.limiter.hit("ask", client_of(request))
        if retry_after is not None:
            chat[-1]["content"] = literal(TEXTS[lang]["too_many"].format(seconds=retry_after))
            yield chat, gr.update(), {**session, "chat": chat}
            return
        turn = len(session["answers"])
        filters = _filters(documents, organisations)
        mode = mode if mode in ("extractive", "generative") else "extractive"
        text = ""
        try:
            for event in self.service.ask_stream(question, filters=filters, history=session["history"], mode=mode):
                if isinstance(event, Answer):
                    answer = {**AskResponse.of(event).model_dump(), "requested": mode}
                    lang = resource_language(event.language)  # the sources speak the answer's language
                    chat[-1]["content"] = chat_markup(event.answer, turn)
                    session["history"] = session["history"] + [
                        {"role": "user", "content": question}, {"role": "assistant", "content": event.answer}]
                    session["answers"] = session["answers"] + [{"question": question, **answer}]
                    session["chat"] = chat
                    yield chat, gr.update(value=sources_html(answer, turn, lang)), session
                else:
                    text += event
                    chat[-1]["content"] = chat_markup(text, turn)
                    yield chat, gr.update(), session
        except QuestionTooLong:
            chat[-1]["content"] = literal(TEXTS[lang]["question_too_long"].format(
                n=len(question), limit=MAX_QUESTION_CHARS))
            yield chat, gr.update(), {**session, "chat": chat}
        except Exception as error:  # shown to the reader in her language; the log has the details
            log.exception("The interface could not answer %r", question)
            chat[-1]["content"] = TEXTS[lang]["error"].format(error=type(error).__name__)
            yield chat, gr.update(), {**session, "chat": chat}

    def new_conversation(self, ui_language: str) -> tuple:
        lang = CODE_OF.get(ui_language, "sv")
        return [], new_session(), gr.update(value=sources_html(None, 0, lang)), gr.update(value="", visible=False), ""

    def show_context(self, reference: str, session: dict, ui_language: str) -> dict:
        """reference "turn-n" (a citation) or "turn-n-c" (a closest passage), maybe with "|time"."""
        lang = CODE_OF.get(ui_language, "sv")
        parts = reference.split("|")[0].split("-")
        try:
            answer = session["answers"][int(parts[0])]
            pool = answer["closest"] if len(parts) > 2 else answer["citations"]
            citation = next(c for c in pool if c["id"] == int(parts[1]))
            context = self.service.context(citation["document_id"], citation["start"], citation["end"])
        except (IndexError, ValueError, StopIteration, KeyError, NotFound):
            return gr.update(value="", visible=False)
        return gr.update(value=context_html(context, lang), visible=True)

    def context_from_sources(self, session: dict, ui_language: str, event: gr.EventData) -> dict:
        data = getattr(event, "_data", None)  # what the page sent with the click: {"cite": "turn-n"}
        cite = data.get("cite") if isinstance(data, dict) else None
        return self.show_context(cite if isinstance(cite, str) else "", session, ui_language)

    def helpful(self, comment: Any, session: dict, ui_language: str, request: gr.Request = None) -> tuple:
        return self.give_feedback("helpful", comment, session, ui_language, client_of(request))

    def not_helpful(self, comment: Any, session: dict, ui_language: str, request: gr.Request = None) -> tuple:
        return self.give_feedback("not_helpful", comment, session, ui_language, client_of(request))

    def give_feedback(self, rating: str, comment: Any, session: dict, ui_language: str, client: str) -> tuple:
        lang = CODE_OF.get(ui_language, "sv")
        comment = comment if isinstance(comment, str) else ""
        if not session.get("answers"):
            return gr.update(value=TEXTS[lang]["feedback_nothing"]), comment
        retry_after = self.limiter.hit("feedback", client)
        if retry_after is not None:
            return gr.update(value=TEXTS[lang]["too_many"].format(seconds=retry_after)), comment
        last = session["answers"][-1]
        self.service.feedback.add(Feedback(
            rating=rating, comment=comment.strip()[:2000], question=last["question"], answer=last["answer"],
            citations=last["citations"], abstained=last["abstained"], language=last["language"], session=session["id"],
        ))
        return gr.update(value=TEXTS[lang]["feedback_thanks"]), ""

    # -- documents ----------------------------------------------------------------------------
    def upload(self, paths: list[str] | None, key: str, ui_language: str, progress=gr.Progress()) -> tuple:
        """Each file becomes a background job; the bar follows them until all are done. Gradio's
        copies of the files are removed as soon as they are read, whatever happens next."""
        lang = CODE_OF.get(ui_language, "sv")
        words, errors = TEXTS[lang], FILE_ERRORS[lang]
        settings = self.service.settings
        paths = [path for path in paths or [] if uploaded_here(path)]
        if not self.key_ok(key) or not paths:
            for path in paths or []:
                Path(path).unlink(missing_ok=True)
            message = words["api_key_wrong"] if paths else words["upload_none"]
            return (gr.update(value=message), *self.refreshed(lang), gr.update(value=None))

        def reason(code: str | None) -> str:
            text = errors.get(code or "", errors["unreadable"])
            chars = f"{settings.max_document_chars:,}".replace(",", " ")
            return text.format(limit=settings.server.max_upload_mb, chars=chars)

        messages: list[str] = []
        jobs = []
        for path in paths:
            name = Path(path).name
            try:
                if Path(path).stat().st_size > settings.server.max_upload_mb * 1024 * 1024:
                    messages.append(words["failed"].format(name=literal(name), reason=reason("too_large")))
                    continue
                jobs.append(self.service.submit_upload(name, Path(path).read_bytes()))
            except QueueFull:
                messages.append(words["failed"].format(name=literal(name), reason=reason("queue_full")))
            finally:
                Path(path).unlink(missing_ok=True)
        while not all(job.wait(0) for job in jobs):
            running = next(job for job in jobs if not job.wait(0))
            done = sum(job.wait(0) for job in jobs)
            detail = words["upload_progress"].format(name=running.name, done=running.done, total=running.total) \
                if running.total else words["upload_reading"].format(name=running.name)
            progress((done + (running.done / running.total if running.total else 0)) / len(jobs),
                     desc=f"{words['uploading']} – {detail}")
            time.sleep(0.3)
        for job in jobs:
            if job.status == "succeeded":
                messages.append(words[job.outcome].format(name=literal(job.name),
                                                          chunks=(job.document or {}).get("chunk_count", 0)))
            else:
                messages.append(words["failed"].format(name=literal(job.name), reason=reason(job.error_code)))
        return (gr.update(value="\n\n".join(messages)), *self.refreshed(lang), gr.update(value=None))

    def delete(self, document_id: str | None, key: str, ui_language: str) -> tuple:
        lang = CODE_OF.get(ui_language, "sv")
        words = TEXTS[lang]
        if not self.key_ok(key):
            return (gr.update(value=words["api_key_wrong"]), *self.refreshed(lang))
        if not document_id:
            return (gr.update(value=words["delete_none"]), *self.refreshed(lang))
        title = next((r["title"] for r in self.service.documents() if r["id"] == document_id), document_id)
        try:
            self.service.delete(document_id)
        except NotFound:
            pass  # someone else deleted it first; the refreshed list shows the state
        except Busy:
            return (gr.update(value=FILE_ERRORS[lang]["busy"]), *self.refreshed(lang))
        return (gr.update(value=words["deleted"].format(title=literal(title))), *self.refreshed(lang))


def _filters(documents: Any, organisations: Any) -> SearchFilters | None:
    """The filters as chosen; values of the wrong type (only a script sends them) count as none."""
    def strings(values: Any) -> list[str] | None:
        return [v for v in values if isinstance(v, str)] or None if isinstance(values, list) else None

    documents, organisations = strings(documents), strings(organisations)
    return SearchFilters(document_ids=documents, organisations=organisations) if documents or organisations else None


def follow_question(session: dict, current: str) -> dict:
    """The interface turns to the language of the last question (the reader may turn it back)."""
    answers = session.get("answers") or []
    name = NAME_OF[resource_language(answers[-1]["language"])] if answers else current
    return gr.update(value=name) if name != current else gr.update()


def mode_choices(lang: str) -> list[tuple[str, str]]:
    return [(TEXTS[lang]["mode_extractive"], "extractive"), (TEXTS[lang]["mode_generative"], "generative")]


def build(service: Service, limiter: ClientLimiter) -> gr.Blocks:
    ui = Interface(service, limiter)
    protected = service.settings.server.api_key is not None
    words = TEXTS["sv"]
    # Gradio keeps uploaded files in its cache: what the upload handler has not removed already
    # goes after an hour.
    with gr.Blocks(title="fouassist", analytics_enabled=False, delete_cache=(3600, 3600)) as blocks:
        session = gr.State(new_session())
        browser_language = gr.Textbox(visible=False)
        with gr.Row(equal_height=False):
            with gr.Column(scale=4, min_width=280):
                heading = gr.Markdown(f"## {words['title']}", elem_id="heading")
            language = gr.Radio(list(LANGUAGES), value="Svenska", label=words["language"], elem_id="lang",
                                scale=1, min_width=220)
        banner = gr.Markdown(elem_id="banner")
        intro = gr.Markdown(words["intro"], elem_id="intro")
        with gr.Tabs():
            with gr.Tab(words["tab_chat"], id="chat") as chat_tab:
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3, min_width=320):
                        chat = gr.Chatbot(label=words["chat"], elem_id="chatbot", height=460, sanitize_html=True)
                        question = gr.Textbox(label=words["question"], placeholder=words["placeholder"],
                                              lines=1, max_lines=8, elem_id="msg", autofocus=True,
                                              max_length=MAX_QUESTION_CHARS)
                        with gr.Row():
                            send = gr.Button(words["send"], variant="primary", elem_id="send")
                            new = gr.Button(words["new"], elem_id="new")
                        examples = gr.Dataset(components=[gr.Textbox(visible=False)], samples=[[e] for e in EXAMPLES],
                                              label=words["examples"], elem_id="examples", type="index")
                        with gr.Accordion(words["feedback"], open=False, elem_id="feedback") as feedback_box:
                            comment = gr.Textbox(label=words["comment"], placeholder=words["comment_placeholder"],
                                                 lines=1, elem_id="comment")
                            with gr.Row():
                                helpful = gr.Button(words["helpful"], elem_id="helpful", size="sm")
                                unhelpful = gr.Button(words["not_helpful"], elem_id="not-helpful", size="sm")
                            feedback_status = gr.Markdown(elem_id="feedback-status")
                    with gr.Column(scale=2, min_width=300):
                        sources_title = gr.Markdown(f"### {words['sources']}")
                        context = gr.HTML(visible=False, elem_id="context")
                        sources = gr.HTML(sources_html(None, 0, "sv"), elem_id="sources", js_on_load=SOURCES_JS)
                        bridge = gr.Textbox(visible="hidden", elem_id="cite-bridge")
                answer_mode = gr.Radio(mode_choices("sv"), value="extractive", label=words["answer_mode"],
                                       visible=service.generator is not None, elem_id="answer-mode")
                with gr.Accordion(words["filters"], open=False, elem_id="filters") as filters_box:
                    document_filter = gr.CheckboxGroup(label=words["documents_filter"], elem_id="filter-documents")
                    organisation_filter = gr.CheckboxGroup(label=words["organisations_filter"],
                                                           elem_id="filter-organisations")
            with gr.Tab(words["tab_documents"], id="documents") as documents_tab:
                api_key = gr.Textbox(label=words["api_key"], type="password", visible=protected, elem_id="api-key")
                table = gr.Dataframe(label=words["documents_list"], interactive=False, elem_id="documents",
                                     wrap=True)
                files = gr.File(label=words["upload"], file_count="multiple", elem_id="files",
                                file_types=[".pdf", ".docx", ".txt", ".md", ".markdown", ".html", ".htm"])
                upload_button = gr.Button(words["upload_button"], variant="primary", elem_id="upload")
                upload_status = gr.Markdown(elem_id="upload-status")
                with gr.Row():
                    to_delete = gr.Dropdown(label=words["delete_choice"], elem_id="delete-choice")
                    delete_button = gr.Button(words["delete_button"], variant="stop", elem_id="delete")
                delete_status = gr.Markdown(elem_id="delete-status")

        refreshed = [banner, table, document_filter, organisation_filter, to_delete]

        # Language: every label, placeholder and message follows the radio.
        labelled = [
            (heading, "value", "title", "## {}"), (intro, "value", "intro", "{}"), (language, "label", "language", "{}"),
            (chat_tab, "label", "tab_chat", "{}"), (documents_tab, "label", "tab_documents", "{}"),
            (chat, "label", "chat", "{}"), (question, "label", "question", "{}"),
            (question, "placeholder", "placeholder", "{}"), (send, "value", "send", "{}"), (new, "value", "new", "{}"),
            (examples, "label", "examples", "{}"), (feedback_box, "label", "feedback", "{}"),
            (comment, "label", "comment", "{}"), (comment, "placeholder", "comment_placeholder", "{}"),
            (helpful, "value", "helpful", "{}"), (unhelpful, "value", "not_helpful", "{}"),
            (sources_title, "value", "sources", "### {}"), (filters_box, "label", "filters", "{}"),
            (document_filter, "label", "documents_filter", "{}"),
            (organisation_filter, "label", "organisations_filter", "{}"), (api_key, "label", "api_key", "{}"),
            (files, "label", "upload", "{}"), (upload_button, "value", "upload_button", "{}"),
            (to_delete, "label", "delete_choice", "{}"), (delete_button, "value", "delete_button", "{}"),
            (answer_mode, "label", "answer_mode", "{}"),
        ]
        targets = list(dict.fromkeys(component for component, *_ in labelled))

        def relabel(name: str, state: dict):
            lang = CODE_OF.get(name, "sv")
            updates: dict[Any, dict[str, Any]] = {c: {} for c in targets}
            for component, prop, key, template in labelled:
                updates[component][prop] = template.format(TEXTS[lang][key])
            updates[answer_mode]["choices"] = mode_choices(lang)
            answers = state.get("answers") or []
            last = answers[-1] if answers else None
            return ([gr.update(**updates[c]) for c in targets]
                    + [gr.update(value=sources_html(last, len(answers) - 1, lang)),
                       gr.update(value=banner_markdown(service.health(), lang)),
                       gr.update(value=ui.document_rows(lang))])

        language.change(relabel, [language, session], [*targets, sources, banner, table], queue=False)

        def start(code: str):
            lang = language_of_browser(code)
            return (gr.update(value=NAME_OF[lang]), *ui.refreshed(lang))

        blocks.load(start, [browser_language], [language, *refreshed], js="(x) => navigator.language || ''")

        ask_inputs = [session, language, document_filter, organisation_filter, answer_mode]

        def answer_after(event):
            """Stream the answer after the question is in the chat, then let the reader type again."""
            return event.then(ui.answer, ask_inputs, [chat, sources, session]).then(
                follow_question, [session, language], language, queue=False).then(
                lambda: gr.update(interactive=True), None, question)

        for trigger in (question.submit, send.click):
            answer_after(trigger(ui.add_question, [question, session, language], [question, chat, session],
                                 queue=False))
        answer_after(examples.click(example_question, examples, question, queue=False).then(
            ui.add_question, [question, session, language], [question, chat, session], queue=False))
        new.click(ui.new_conversation, language, [chat, session, sources, context, feedback_status], queue=False)
        sources.click(ui.context_from_sources, [session, language], context)
        bridge.change(ui.show_context, [bridge, session, language], context)
        helpful.click(ui.helpful, [comment, session, language], [feedback_status, comment])
        unhelpful.click(ui.not_helpful, [comment, session, language], [feedback_status, comment])
        upload_button.click(ui.upload, [files, api_key, language], [upload_status, *refreshed, files])
        delete_button.click(ui.delete, [to_delete, api_key, language], [delete_status, *refreshed])
    for event in blocks.fns.values():  # the page's own events, not an API: none is listed or called by name
        event.api_visibility = "private"
    # Inputs whose choices change with the documents: the gate checks values against them.
    blocks.changing_choices = {
        document_filter: lambda: frozenset(d for _, d in ui.document_choices()),
        organisation_filter: lambda: frozenset(ui.organisation_choices()),
        to_delete: lambda: frozenset(d for _, d in ui.document_choices()),
    }
    return blocks


def gate_rule(block, changing: dict) -> Input:
    """What the gate lets through for one input of an event (see fouassist.serve.interface_gate.Input)."""
    if isinstance(block, gr.State):
        return Input("state")
    if isinstance(block, gr.File):
        return Input("files")
    if isinstance(block, gr.Dataset):
        return Input("index")
    if isinstance(block, (gr.Radio, gr.Dropdown, gr.CheckboxGroup)):
        fixed = frozenset(value for _, value in block.choices)
        kind = "choices" if isinstance(block, gr.CheckboxGroup) else "choice"
        return Input(kind, changing.get(block, lambda: fixed))
    return Input("text")


def uploaded_here(path: Any) -> bool:
    """Only a file in Gradio's upload folder is read (and removed): Gradio checks this too once
    `has_launched` is set; this holds whatever it does."""
    if not isinstance(path, str):
        return False
    return Path(path).resolve().is_relative_to(Path(gr_utils.get_upload_folder()).resolve())


def example_question(index: Any) -> str:
    return EXAMPLES[index] if isinstance(index, int) and 0 <= index < len(EXAMPLES) else ""


def blocked_paths(settings) -> list[str]:
    """What the interface never reads or serves, whatever a request names."""
    return [str(Path(p).resolve()) for p in ("/proc", "/dev", "/sys", settings.data_dir, Path.home())]


def build_queued(service: Service, limiter: ClientLimiter) -> gr.Blocks:
    """The interface with its queue: the slow part of mounting (Gradio's components and templates
    load on first use), which the server runs in a thread, off its event loop."""
    blocks = build(service, limiter)
    blocks.queue(default_concurrency_limit=8, api_open=False)
    return blocks


def mount_ui(app: FastAPI, service: Service, blocks: gr.Blocks) -> FastAPI:
    """Mount the interface (`build_queued`) at /ui on the API's app, with the path checks of a
    launched app (which Gradio skips for a mounted one), no run history in the browser and, when
    reads need the key, Gradio's login with the API key as the password."""
    settings = service.settings
    key = settings.server.api_key.get_secret_value() if settings.server.api_key else None
    login = (lambda _user, password: hmac.compare_digest(password.encode(), key.encode())) \
        if key and settings.server.read_requires_key else None
    # No Gradio footer: its words follow the browser's locale, not the interface's sv/nb (the API's
    # own documentation is at /docs).
    mounted = gr.mount_gradio_app(app, blocks, path=UI_PATH, css=CSS, js=BRIDGE_JS, footer_links=[],
                                  run_history=False, blocked_paths=blocked_paths(settings), auth=login,
                                  auth_message=TEXTS["sv"]["login"] if login else None,
                                  max_file_size=f"{settings.server.max_upload_mb}mb")
    blocks.has_launched = True  # turns on Gradio's checks of the paths that events hand it
    app.state.interface_events = InterfaceEvents(
        inputs={index: tuple(gate_rule(block, blocks.changing_choices) for block in event.inputs)
                for index, event in blocks.fns.items()},
        upload_folder=str(Path(gr_utils.get_upload_folder()).resolve()),
        has_session=lambda session: session in blocks._queue.pending_messages_per_session)
    return mounted


def mount_on_running_app(app: FastAPI, service: Service, blocks: gr.Blocks):
    """Mount the interface on an app that is already serving; returns the Gradio sub-app, whose
    start-up the caller runs (Gradio normally hooks it into the parent's lifespan)."""
    mount_ui(app, service, blocks)
    routes = app.router.routes
    routes.insert(0, routes.pop())  # ahead of the placeholder that answered while it loaded
    return routes[0].app
