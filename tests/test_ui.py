"""The web interface in a real headless Chromium (Debian's), against a real server.

Screenshots of each step go to test-artifacts/ui/ (not committed).
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from conftest import ARTIFACTS, Server

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
API_KEY = "ui-test-key"
SHOTS = ARTIFACTS / "ui"
UPLOAD = ("Plan för simuleringsträning i Region Exempel\n\n"
          "Region Exempel ska öppna ett simuleringscentrum för kirurgisk färdighetsträning under 2027. "
          "Centret ska vara öppet för alla yrkesgrupper.\n")
# The chat is done when a new answer is there and the question box takes text again.
DONE = """(n) => document.querySelectorAll('#chatbot [data-testid=bot]').length > n
                 && !document.querySelector('#msg textarea').disabled"""


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory):
    running = Server(tmp_path_factory.mktemp("ui") / "data", env={"FOUASSIST_API_KEY": API_KEY})
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make browser` (or apt-get install chromium) installs it")
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


def open_ui(browser, server, locale="sv-SE", width=1280, height=900):
    context = browser.new_context(locale=locale, viewport={"width": width, "height": height})
    page = context.new_page()
    page.goto(f"{server.url}/ui")  # the address the README gives, as a user types it
    page.wait_for_selector("#msg textarea", state="visible")
    page.wait_for_function("() => document.querySelector('#banner') !== null")
    page.wait_for_timeout(500)  # the load event sets the language and the banner
    return context, page


def ask(page, question: str) -> str:
    count = page.locator("#chatbot [data-testid=bot]").count()
    page.fill("#msg textarea", question)
    page.keyboard.press("Enter")
    page.wait_for_function(DONE, arg=count, timeout=60_000)
    return page.locator("#chatbot [data-testid=bot]").last.inner_text()


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_ask_shows_citations_sources_and_context(browser, ui_server):
    context, page = open_ui(browser, ui_server)
    try:
        shot(page, "01-start-sv")
        assert "Semantisk sökning är avstängd" in page.locator("#banner").inner_text()
        answer = ask(page, "Vad säger strategin om forskningstid?")
        shot(page, "02-answer-sv")
        assert answer.startswith("Enligt dokumentet ”Region Stockholms forsknings-, utbildnings- och utvecklingsstrategi”")
        assert page.locator("#chatbot a.cite").count() >= 2
        sources = page.locator("#sources").inner_text()
        assert "Region Stockholms forsknings-, utbildnings- och utvecklingsstrategi" in sources
        assert "avsnitt 5.1.5" in sources
        assert page.locator("#sources mark").count() >= 2  # the quoted spans are highlighted

        page.locator("#chatbot a.cite").first.click()
        page.wait_for_selector("#context mark", timeout=15_000)
        shot(page, "03-context-from-marker")
        assert "Sammanhang" in page.locator("#context").inner_text()

        first_quote = page.locator("#context mark").first.inner_text()
        assert "forskningstid" in first_quote
        second_quote = page.locator("#sources .source").nth(1).locator("mark").first.inner_text()
        assert second_quote[:40] not in first_quote  # so that the change of context is seen
        page.locator("#sources a.show-context").nth(1).click()
        page.wait_for_function(  # the context of source 2, its quote highlighted
            "quote => [...document.querySelectorAll('#context mark')].some(m => m.innerText.includes(quote))",
            arg=second_quote[:40], timeout=15_000)
        shot(page, "04-context-from-source")
    finally:
        context.close()


def test_abstention_shows_closest_passages_as_not_answering(browser, ui_server):
    context, page = open_ui(browser, ui_server)
    try:
        page.locator("#examples button", has_text="Hvem vedtok handlingsplanene").click()  # an example question
        page.wait_for_function(DONE, arg=0, timeout=60_000)
        assert page.locator("#chatbot [data-testid=bot]").last.inner_text().startswith("Ifølge dokumentet «Handlingsplaner")
        answer = ask(page, "Vad säger strategin om cancerscreening?")
        shot(page, "05-abstention")
        assert answer.startswith("Dokumenten säger inget om cancerscreening.") or \
            answer.startswith("Dokumenten nämner") and "cancerscreening" in answer.splitlines()[0]
        sources = page.locator("#sources").inner_text()
        assert "Närmaste träffar – de svarar inte på frågan" in sources
        assert page.locator("#sources .source.closest").count() >= 1
        assert page.locator("#sources .source:not(.closest)").count() == 0
    finally:
        context.close()


def test_switching_to_norsk_changes_the_labels(browser, ui_server):
    context, page = open_ui(browser, ui_server)
    try:
        assert page.locator("#send").inner_text() == "Skicka"
        page.locator("#lang label", has_text="Norsk").click()
        page.wait_for_function("() => document.querySelector('#send').innerText.trim() == 'Send'", timeout=15_000)
        shot(page, "06-norsk")
        assert "For eksempel" in page.locator("#msg textarea").get_attribute("placeholder")
        assert page.locator("button[role=tab]", has_text="Dokumenter").count() == 1
        assert "Semantisk søk er slått av" in page.locator("#banner").inner_text()
        assert "Ny samtale" in page.locator("#new").inner_text()
        answer = ask(page, "Hva sier planen om samarbeid med industrien?")
        assert answer.startswith("Ifølge ")
        page.locator("#lang label", has_text="Svenska").click()
        page.wait_for_function("() => document.querySelector('#send').innerText.trim() == 'Skicka'", timeout=15_000)
        assert "Källor" in page.locator("body").inner_text()
    finally:
        context.close()


def test_a_norwegian_question_turns_a_swedish_interface_norwegian(browser, ui_server):
    context, page = open_ui(browser, ui_server)
    try:
        assert page.locator("#lang input[value=Svenska]").is_checked()
        answer = ask(page, "Hvor mye koster kantinemat på sykehuset?")
        assert answer.startswith("Dokumentene sier ikke noe om hva kantinemat på sykehuset koster."), answer
        page.wait_for_function("() => document.querySelector('#send').innerText.trim() == 'Send'", timeout=15_000)
        assert page.locator("#lang input[value=Norsk]").is_checked()
        assert "Nærmeste treff" in page.locator("#sources").inner_text()  # the sources panel follows too
        shot(page, "06-norsk-question")
    finally:
        context.close()


def test_the_browser_language_picks_the_interface_language(browser, ui_server):
    context, page = open_ui(browser, ui_server, locale="nb-NO")
    try:
        page.wait_for_function("() => document.querySelector('#send').innerText.trim() == 'Send'", timeout=15_000)
        assert page.locator("#lang input[value=Norsk]").is_checked()
    finally:
        context.close()
    context, page = open_ui(browser, ui_server, locale="en-GB")
    try:
        assert page.locator("#lang input[value=Svenska]").is_checked()  # anything else falls back to Svenska
        # Gradio's own footer would speak the browser's language (here English) on a Swedish page
        assert "Built with Gradio" not in page.inner_text("body") and page.locator("footer").count() == 0
        banner = page.locator("#banner")  # a warning box only when there is something to warn about
        assert banner.is_visible() == bool(banner.evaluate("e => e.querySelector('.md').textContent.trim()"))
    finally:
        context.close()


def test_upload_list_ask_and_delete_with_the_api_key(browser, ui_server, tmp_path):
    path = tmp_path / "simulering.txt"
    path.write_text(UPLOAD, encoding="utf-8")
    context, page = open_ui(browser, ui_server)
    try:
        page.locator("button[role=tab]", has_text="Dokument").click()
        page.wait_for_selector("#documents table")
        shot(page, "07-documents")
        assert "Helse Midt-Norge" in page.locator("#documents").inner_text()

        page.locator("#files input[type=file]").set_input_files(str(path))  # without the key: not even stored
        page.wait_for_function("() => document.body.innerText.includes('Ange API-nyckeln under Dokument först')",
                               timeout=30_000)
        page.locator("#upload").click()
        page.wait_for_function("() => document.querySelector('#upload-status').innerText.includes('Välj först')",
                               timeout=30_000)
        assert "Plan för simuleringsträning" not in page.locator("#documents").inner_text()

        page.fill("#api-key input", API_KEY)
        page.locator("#files input[type=file]").set_input_files(str(path))
        page.locator("#upload").click()
        page.wait_for_function("() => document.querySelector('#upload-status').innerText.includes('tillagd')",
                               timeout=60_000)
        page.wait_for_function("() => document.querySelector('#documents').innerText.includes('simuleringsträning')",
                               timeout=15_000)
        shot(page, "08-uploaded")
        assert page.locator("#upload-status").inner_text().strip() == "✓ simulering.txt: tillagd (1 textavsnitt)."

        page.locator("button[role=tab]", has_text="Fråga").click()
        answer = ask(page, "När ska simuleringscentrumet för kirurgisk träning öppna?")
        shot(page, "09-answer-about-upload")
        assert "2027" in answer and "Plan för simuleringsträning" in page.locator("#sources").inner_text()

        page.locator("button[role=tab]", has_text="Dokument").click()
        page.locator("#delete-choice input").click()
        page.locator("[role=option]", has_text="Plan för simuleringsträning").click()
        page.locator("#delete").click()
        page.wait_for_function("() => document.querySelector('#delete-status').innerText.includes('borttaget')",
                               timeout=30_000)
        shot(page, "10-deleted")
        assert "simuleringsträning" not in page.locator("#documents").inner_text()
        stored = page.evaluate("() => JSON.stringify({...localStorage}) + JSON.stringify({...sessionStorage})")
        assert API_KEY not in stored and "run-history" not in stored  # the key stays in the page, never stored
    finally:
        context.close()
        remove_documents_titled("Plan för simuleringsträning", ui_server)  # when a failure left it there
    assert httpx.get(f"{ui_server.url}/health").json()["documents"] == 5


def remove_documents_titled(start: str, server) -> None:
    """Delete (through the API) the documents whose title starts with `start`."""
    auth = {"Authorization": f"Bearer {API_KEY}"}
    found = [d["id"] for d in httpx.get(f"{server.url}/v1/documents", headers=auth, timeout=30).json()["documents"]
             if d["title"].startswith(start)]
    for document_id in found:
        httpx.delete(f"{server.url}/v1/documents/{document_id}", headers=auth, timeout=60)


def test_document_text_is_shown_never_rendered(browser, ui_server):
    """A title with Markdown link syntax (in any spelling) and a literal [3] in a document stay text:
    no link to the outside, no marker the answer did not place."""
    title = "[phish](https://evil.example) [x](HTTPS://evil.example) [y]( https://evil.example)"
    created = httpx.post(f"{ui_server.url}/v1/documents", headers={"Authorization": f"Bearer {API_KEY}"}, json={
        "title": title, "text": "Zebraplanen säger att regionen ska satsa på zebraforskning [3] varje år."})
    assert created.status_code == 201, created.text
    context, page = open_ui(browser, ui_server)
    try:
        answer = ask(page, "Vad säger zebraplanen om zebraforskning?")
        shot(page, "11-markdown-as-text")
        assert "phish］(https://evil.example)" in answer and "( https://evil.example)" in answer and "［3］" in answer
        assert page.locator("#chatbot a[href*='evil']").count() == 0
        assert page.locator("#chatbot a.cite").count() == 1  # [1], the answer's own
        page.locator("button[role=tab]", has_text="Dokument").click()
        page.fill("#api-key input", API_KEY)
        page.locator("#delete-choice input").click()
        page.locator("[role=option]", has_text="phish").first.click()
        page.locator("#delete").click()
        page.wait_for_function("() => document.querySelector('#delete-status').innerText.includes('borttaget')",
                               timeout=30_000)
        assert "[phish](https://evil.example)" in page.locator("#delete-status").inner_text()
        assert page.locator("a[href*='evil']").count() == 0
    finally:
        context.close()
        httpx.delete(f"{ui_server.url}/v1/documents/{created.json()['id']}",  # 404 when the interface deleted it
                     headers={"Authorization": f"Bearer {API_KEY}"}, timeout=60)


def test_two_browsers_chatting_at_once_keep_their_own_history(browser, ui_server):
    first_context, first = open_ui(browser, ui_server)
    second_context, second = open_ui(browser, ui_server, locale="nb-NO")
    try:
        first.fill("#msg textarea", "Vad säger strategin om forskningstid?")
        second.fill("#msg textarea", "Hvem vedtok handlingsplanene for forskning og innovasjon?")
        first.keyboard.press("Enter")
        second.keyboard.press("Enter")
        first.wait_for_function(DONE, arg=0, timeout=60_000)
        second.wait_for_function(DONE, arg=0, timeout=60_000)
        follow_up = ask(first, "Och i Mellansverige?")
        shot(first, "11-session-a")
        shot(second, "12-session-b")
        first_user = first.locator("#chatbot [data-testid=user]").all_inner_texts()
        second_user = second.locator("#chatbot [data-testid=user]").all_inner_texts()
        assert [t.strip() for t in first_user] == ["Vad säger strategin om forskningstid?", "Och i Mellansverige?"]
        assert [t.strip() for t in second_user] == ["Hvem vedtok handlingsplanene for forskning og innovasjon?"]
        assert "Mellansverige" in follow_up  # the follow-up used this session's history
        assert "Helse Midt-Norge" not in first.locator("#sources").inner_text()

        first.locator("#new").click()
        first.wait_for_function("() => document.querySelectorAll('#chatbot [data-testid=user]').length == 0")
        assert second.locator("#chatbot [data-testid=user]").count() == 1
    finally:
        first_context.close()
        second_context.close()


def test_feedback_is_stored_and_exported(browser, ui_server):
    context, page = open_ui(browser, ui_server)
    try:
        ask(page, "Vad säger strategin om forskningstid?")
        page.locator("#feedback").get_by_text("Var svaret till hjälp?").click()
        page.fill("#comment textarea", "Bra källor, men kortare svar vore bättre.")
        page.locator("#not-helpful").click()
        page.wait_for_function("() => document.querySelector('#feedback-status').innerText.includes('Tack')",
                               timeout=15_000)
        shot(page, "13-feedback")
    finally:
        context.close()
    refused = httpx.get(f"{ui_server.url}/v1/feedback")
    assert refused.status_code == 401
    exported = httpx.get(f"{ui_server.url}/v1/feedback", headers={"Authorization": f"Bearer {API_KEY}"})
    entries = [json.loads(line) for line in exported.text.splitlines()]
    entry = next(e for e in entries if e["comment"] == "Bra källor, men kortare svar vore bättre.")
    assert entry["rating"] == "not_helpful"
    assert entry["question"] == "Vad säger strategin om forskningstid?"
    assert entry["answer"].startswith("Enligt ") and entry["citations"]


def test_keyboard_and_phone_width(browser, ui_server):
    context, page = open_ui(browser, ui_server, width=390, height=844)
    try:
        page.locator("#msg textarea").click()
        page.keyboard.type("första raden")
        page.keyboard.press("Shift+Enter")
        page.keyboard.type("andra raden")
        assert page.locator("#msg textarea").input_value() == "första raden\nandra raden"
        assert page.locator("#chatbot [data-testid=user]").count() == 0  # Shift+Enter did not send
        page.fill("#msg textarea", "")
        ask(page, "Hva sier planen om samarbeid med industrien?")
        shot(page, "14-phone")
        chat_box = page.locator("#chatbot").bounding_box()
        sources_box = page.locator("#sources").bounding_box()
        assert sources_box["y"] > chat_box["y"] + chat_box["height"]  # stacked, not side by side
        assert page.evaluate("document.documentElement.scrollWidth") <= 400  # nothing wider than the phone
    finally:
        context.close()


def test_empty_index_banner(browser, tmp_path):
    server = Server(tmp_path / "data", env={"FOUASSIST_AUTO_INGEST": "false"})
    try:
        context, page = open_ui(browser, server)
        try:
            page.wait_for_function("() => document.querySelector('#banner').innerText.includes('Inga dokument')",
                                   timeout=15_000)
            assert page.locator("#banner").is_visible()
            shot(page, "15-empty-index")
        finally:
            context.close()
    finally:
        server.stop()


# -- the shipped configuration: dense search on ----------------------------------------------------

def sources_titles(page) -> str:
    return page.locator("#sources").inner_text()


def test_with_dense_search_on_the_banner_is_quiet_and_answers_cite(browser, shipped_server):
    context, page = open_ui(browser, shipped_server)
    try:
        assert "avstängd" not in page.locator("#banner").inner_text()  # dense search is on: nothing to warn about
        answer = ask(page, "Vad säger strategin om forskningstid?")
        shot(page, "20-dense-answer")
        assert answer.startswith("Enligt dokumentet ”Region Stockholms") and page.locator("#chatbot a.cite").count() >= 2
        assert "avsnitt 5.1.5" in sources_titles(page)
    finally:
        context.close()


def test_the_document_and_organisation_filters_limit_the_answer(browser, shipped_server):
    question = "Vad säger dokumenten om forskningstid?"
    context, page = open_ui(browser, shipped_server)
    try:
        assert "Region Stockholms" in ask(page, question)  # unfiltered, Stockholm's strategy answers
        page.locator("#filters").get_by_text("Avgränsa sökningen").click()
        page.locator("#filter-organisations label", has_text="Sjukvårdsregion Mellansverige").click()
        answer = ask(page, question)
        shot(page, "21-organisation-filter")
        assert answer.startswith("Enligt dokumentet ”Målbild för ökad klinisk forskning"), answer
        assert "Region Stockholms" not in answer and "Region Stockholms" not in sources_titles(page)
        page.locator("#filter-organisations label", has_text="Sjukvårdsregion Mellansverige").click()  # off again
        page.locator("#filter-documents label", has_text="Västerbotten som innovationsmotor").click()
        answer = ask(page, "Vad säger dokumenten om samverkan med näringslivet?")
        shot(page, "22-document-filter")
        titles = sources_titles(page)
        assert "Västerbotten som innovationsmotor" in titles and "Region Stockholms" not in titles, titles
        assert "Region Stockholms" not in answer and "Målbild" not in answer
    finally:
        context.close()


def test_the_answer_streams_into_the_chat(browser, shipped_server):
    """The answer grows in the chat piece by piece before its sources appear."""
    context, page = open_ui(browser, shipped_server)
    try:
        page.evaluate("""() => {
            window.seen = [];
            new MutationObserver(() => {
                const bots = document.querySelectorAll('#chatbot [data-testid=bot]');
                const text = bots.length ? bots[bots.length - 1].innerText.trim() : '';
                if (text && text !== window.seen[window.seen.length - 1]) window.seen.push(text);
            }).observe(document.querySelector('#chatbot'), {subtree: true, childList: true, characterData: true});
        }""")
        answer = ask(page, "Hva sier planen om samarbeid med industrien?")
        seen = page.evaluate("window.seen")
        shot(page, "23-streamed")
        assert len(seen) >= 3, seen  # several states of the answer, not just the finished one
        assert seen[-1] == answer.strip() and len(seen[0]) < len(seen[-1])
        assert answer.startswith(seen[0][:20])  # the first piece shown is the answer's beginning
    finally:
        context.close()
