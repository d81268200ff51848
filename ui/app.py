"""The Gradio interface, mounted at /ui on the API's own app and using the same service.

Each browser session has its own conversation (a `gr.State`); nothing about a conversation is
kept at module level. All labels come from `texts.TEXTS` and switch between Swedish and
Norwegian without a reload.
"""

from __future__ import annotations

import hmac
import html
import os
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before any Blocks exist

import gradio as gr  # noqa: E402
from fastapi import FastAPI  # noqa: E402

from fouassist.answer import Answer  # noqa: E402
from fouassist.feedback import Feedback  # noqa: E402
from fouassist.schemas import MAX_QUESTION_CHARS  # noqa: E402
from fouassist.service import Busy, NotFound, Service  # noqa: E402
from fouassist.store import SearchFilters  # noqa: E402
from fouassist_ui.render import (  # noqa: E402
    BRIDGE_JS, CSS, SOURCES_JS, banner_markdown, chat_markup, context_html, literal, sources_html,
)
from fouassist_ui.texts import EXAMPLES, FILE_ERRORS, LANGUAGES, TEXTS, language_of_browser  # noqa: E402

UI_PATH = "/ui"
CODE_OF = LANGUAGES  # "Svenska" -> "sv"
NAME_OF = {code: name for name, code in LANGUAGES.items()}


def new_session() -> dict[str, Any]:
    return {"id": None, "history": [], "answers": []}


def _plain(message: dict[str, Any]) -> str:
    """A chat message's text as the reader typed it (Gradio hands content back as a list of
    parts; the chat shows it with Markdown's characters as entities)."""
    content = message.get("content")
    if isinstance(content, list):
        content = " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return html.unescape(str(content or ""))


class Interface:
    """The handlers of the interface, bound to one service."""

    def __init__(self, service: Service) -> None:
        self.service = service

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

    def key_ok(self, key: str | None) -> bool:
        configured = self.service.settings.api_key
        return configured is None or hmac.compare_digest((key or "").encode(), configured.get_secret_value().encode())

    # -- chat ---------------------------------------------------------------------------------
    def add_question(self, question: str, chat: list[dict], ui_language: str) -> tuple:
        if not question.strip():
            return gr.update(), chat
        if len(question) > MAX_QUESTION_CHARS:  # the box stops typing at the limit; a script may not
            words = TEXTS[CODE_OF.get(ui_language, "sv")]
            refusal = words["question_too_long"].format(n=len(question), limit=MAX_QUESTION_CHARS)
            return gr.update(), chat + [{"role": "assistant", "content": literal(refusal)}]
        return gr.update(value="", interactive=False), chat + [{"role": "user", "content": literal(question.strip())}]

    def answer(self, chat: list[dict], session: dict, ui_language: str, documents: list[str], organisations: list[str],
               mode: str = "extractive"):
        """Stream the answer to the last question into the chat, then show its sources."""
        lang = CODE_OF.get(ui_language, "sv")
        if not chat or chat[-1]["role"] != "user":
            yield chat, gr.update(), session
            return
        question = _plain(chat[-1])
        session = {**session, "id": session.get("id") or uuid.uuid4().hex}
        turn = len(session["answers"])
        filters = SearchFilters(document_ids=documents or None, organisations=organisations or None) \
            if documents or organisations else None
        chat = chat + [{"role": "assistant", "content": ""}]
        text = ""
        try:
            for event in self.service.ask_stream(question, filters=filters, history=session["history"],
                                                 mode=mode or "extractive"):
                if isinstance(event, Answer):
                    answer = {**asdict(event), "requested": mode}
                    lang = interface_language(event.language)  # the sources speak the answer's language
                    chat[-1]["content"] = chat_markup(event.answer, turn)
                    session["history"] = session["history"] + [
                        {"role": "user", "content": question}, {"role": "assistant", "content": event.answer}]
                    session["answers"] = session["answers"] + [{"question": question, **answer}]
                    yield chat, gr.update(value=sources_html(answer, turn, lang)), session
                else:
                    text += event
                    chat[-1]["content"] = chat_markup(text, turn)
                    yield chat, gr.update(), session
        except Exception as error:  # shown to the reader in her language; the log has the details
            import logging

            logging.getLogger(__name__).exception("The interface could not answer %r", question)
            chat[-1]["content"] = TEXTS[lang]["error"].format(error=type(error).__name__)
            yield chat, gr.update(), session

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
        return self.show_context(str(getattr(event, "cite", "")), session, ui_language)

    def give_feedback(self, rating: str, comment: str, session: dict, ui_language: str) -> tuple:
        lang = CODE_OF.get(ui_language, "sv")
        if not session.get("answers"):
            return gr.update(value=TEXTS[lang]["feedback_nothing"]), comment
        last = session["answers"][-1]
        self.service.feedback.add(Feedback(
            rating=rating, comment=(comment or "").strip()[:2000], question=last["question"], answer=last["answer"],
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
        if not self.key_ok(key) or not paths:
            for path in paths or []:
                Path(path).unlink(missing_ok=True)
            message = words["api_key_wrong"] if paths else words["upload_none"]
            return (gr.update(value=message), *self.refreshed(lang), gr.update(value=None))

        def reason(code: str | None) -> str:
            text = errors.get(code or "", errors["unreadable"])
            return text.format(limit=settings.max_upload_mb, chars=f"{settings.max_document_chars:,}".replace(",", " "))

        messages: list[str] = []
        jobs = []
        for path in paths:
            name = Path(path).name
            try:
                if Path(path).stat().st_size > settings.max_upload_mb * 1024 * 1024:
                    messages.append(words["failed"].format(name=literal(name), reason=reason("too_large")))
                    continue
                jobs.append(self.service.submit_upload(name, Path(path).read_bytes()))
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


def interface_language(language: str) -> str:
    """The interface's texts for an answer's language: Swedish, or Norwegian for Bokmål and Nynorsk."""
    return "sv" if language == "sv" else "nb"


def follow_question(session: dict, current: str) -> dict:
    """The interface turns to the language of the last question (the reader may turn it back)."""
    answers = session.get("answers") or []
    name = NAME_OF[interface_language(answers[-1]["language"])] if answers else current
    return gr.update(value=name) if name != current else gr.update()


def mode_choices(lang: str) -> list[tuple[str, str]]:
    return [(TEXTS[lang]["mode_extractive"], "extractive"), (TEXTS[lang]["mode_generative"], "generative")]


def build(service: Service) -> gr.Blocks:
    ui = Interface(service)
    protected = service.settings.api_key is not None
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
                                              label=words["examples"], elem_id="examples")
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

        ask_inputs = [chat, session, language, document_filter, organisation_filter, answer_mode]

        def answer_after(event):
            """Stream the answer after the question is in the chat, then let the reader type again."""
            return event.then(ui.answer, ask_inputs, [chat, sources, session]).then(
                follow_question, [session, language], language, queue=False).then(
                lambda: gr.update(interactive=True), None, question)

        for trigger in (question.submit, send.click):
            answer_after(trigger(ui.add_question, [question, chat, language], [question, chat], queue=False))
        answer_after(examples.click(lambda sample: sample[0], examples, question, queue=False).then(
            ui.add_question, [question, chat, language], [question, chat], queue=False))
        new.click(ui.new_conversation, language, [chat, session, sources, context, feedback_status], queue=False)
        sources.click(ui.context_from_sources, [session, language], context)
        bridge.change(ui.show_context, [bridge, session, language], context)
        helpful.click(lambda *a: ui.give_feedback("helpful", *a), [comment, session, language],
                      [feedback_status, comment])
        unhelpful.click(lambda *a: ui.give_feedback("not_helpful", *a), [comment, session, language],
                        [feedback_status, comment])
        upload_button.click(ui.upload, [files, api_key, language], [upload_status, *refreshed, files])
        delete_button.click(ui.delete, [to_delete, api_key, language], [delete_status, *refreshed])
    return blocks


def mount_ui(app: FastAPI, service: Service) -> FastAPI:
    """Mount the interface at /ui on the API's app."""
    blocks = build(service)
    blocks.queue(default_concurrency_limit=8)
    # No Gradio footer: its words follow the browser's locale, not the interface's sv/nb (the API's
    # own documentation is at /docs).
    return gr.mount_gradio_app(app, blocks, path=UI_PATH, css=CSS, js=BRIDGE_JS, footer_links=[],
                               max_file_size=f"{service.settings.max_upload_mb}mb")


def mount_on_running_app(app: FastAPI, service: Service):
    """Mount the interface on an app that is already serving; returns the Gradio sub-app, whose
    start-up the caller runs (Gradio normally hooks it into the parent's lifespan)."""
    mount_ui(app, service)
    routes = app.router.routes
    routes.insert(0, routes.pop())  # ahead of the placeholder that answered while it loaded
    return routes[0].app
