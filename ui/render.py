"""HTML for the interface: answers with clickable markers, source cards, context excerpts."""

from __future__ import annotations

import re
from html import escape
from typing import Any

from fouassist_ui.texts import DENSE_REASONS, TEXTS

_MARKER_RE = re.compile(r"\[(\d{1,2})\]")
# Characters that Markdown (and the HTML inside it) would read as syntax: as numeric entities they
# are shown as they are, so a document's "[phish](https://…)" stays text, whatever its spelling.
_MARKDOWN_SYNTAX = {ord(c): f"&#{ord(c)};" for c in "\\`*_{}[]()#+-.!|~<>&\"'=:"}


def literal(text: str) -> str:
    """Text from a document, a title or a file name, for a Markdown component: shown, never rendered."""
    return text.translate(_MARKDOWN_SYNTAX)


def chat_markup(text: str, turn: int) -> str:
    """An answer for the chat: every character literal, except the markers [n] the answer itself
    placed, which become links to their sources. (Quotes cannot carry a marker of their own: the
    answer writes a quoted "[3]" with other brackets.)"""
    parts = _MARKER_RE.split(text)  # text, number, text, number, ...
    return "".join(
        literal(part) if index % 2 == 0 else f'<a href="#cite-{turn}-{part}" class="cite" title="{part}">[{part}]</a>'
        for index, part in enumerate(parts))


def _where(citation: dict[str, Any], lang: str) -> str:
    words = TEXTS[lang]
    parts = [citation.get("organisation") or ""]
    if citation.get("section"):
        parts.append(f"{words['section']} {citation['section']}")
    if citation.get("page"):
        last = citation.get("last_page") or citation["page"]
        parts.append(f"{words['page']} {citation['page']}" + (f"–{last}" if last != citation["page"] else ""))
    return ", ".join(p for p in parts if p)


def _highlighted(passage: str, quote: str) -> str:
    at = passage.find(quote)
    if at < 0:
        return escape(passage)
    return (escape(passage[:at]) + f"<mark>{escape(quote)}</mark>" + escape(passage[at + len(quote):]))


def _card(citation: dict[str, Any], turn: int, lang: str, closest: bool) -> str:
    words = TEXTS[lang]
    number = citation["id"]
    badge = f'<span class="badge">{"~" if closest else number}</span>'
    return (
        f'<div class="source{" closest" if closest else ""}" id="source-{turn}-{number}">'
        f'<div class="source-head">{badge}<b>{escape(citation["title"])}</b>'
        f'<span class="where">{escape(_where(citation, lang))}</span></div>'
        f'<div class="passage">{_highlighted(citation["passage"], citation["quote"])}</div>'
        f'<a href="#" class="show-context" data-cite="{turn}-{number}{"-c" if closest else ""}">'
        f'{words["show_context"]}</a></div>'
    )


def sources_html(answer: dict[str, Any] | None, turn: int, lang: str) -> str:
    words = TEXTS[lang]
    if not answer:
        return f'<div class="sources-empty">{words["sources_empty"]}</div>'
    notes = []
    if answer.get("fallback_reason") and answer.get("requested") == "generative":
        notes.append(f'<div class="answer-note">{words["fallback_note"]}</div>')
    if answer.get("unsupported"):
        notes.append(f'<div class="answer-note">{words["removed_note"].format(n=len(answer["unsupported"]))}</div>')
    cards = notes + [_card(c, turn, lang, closest=False) for c in answer["citations"]]
    if answer.get("abstained") and answer.get("closest"):
        cards.append(f'<div class="closest-label">{words["closest"]}</div>')
        cards.extend(_card(c, turn, lang, closest=True) for c in answer["closest"])
    return f'<div class="sources">{"".join(cards) or words["sources_empty"]}</div>'


def context_html(context: dict[str, Any], lang: str) -> str:
    words = TEXTS[lang]
    text, start, end = context["text"], context["quote_start"], context["quote_end"]
    body = escape(text[:start]) + f"<mark>{escape(text[start:end])}</mark>" + escape(text[end:])
    paragraphs = "".join(f"<p>{p}</p>" for p in body.split("\n\n"))
    source = escape(context["title"] + (f" ({context['organisation']})" if context.get("organisation") else ""))
    return (f'<div class="context"><div class="context-head">{words["context"]} – {words["context_from"]} '
            f'<b>{source}</b></div>{paragraphs}</div>')


def banner_markdown(health: dict[str, Any], lang: str) -> str:
    words = TEXTS[lang]
    lines = []
    dense = health["dense"]
    if not dense["enabled"]:
        reasons = DENSE_REASONS[lang]
        reason = reasons.get(dense.get("code"), reasons[None]).format(model=dense.get("model") or "–")
        lines.append(words["banner_lexical"].format(reason=reason))
    llm = health.get("llm") or {}
    if llm.get("configured") and llm.get("reachable") is False:
        lines.append(words["banner_llm_down"])
    if health["documents"] == 0:
        lines.append(words["banner_empty"])
    return "\n\n".join(lines)


CSS = """
#banner { border-left: 4px solid #e6a23c; padding: 4px 12px; background: #fdf6ec; }
#banner:has(.md:empty) { display: none; }  /* Gradio wraps the text: the block itself is never :empty */
.answer-note { border-left: 4px solid #e6a23c; padding: 4px 10px; background: #fdf6ec; font-size: 0.9em; }
.sources { display: flex; flex-direction: column; gap: 10px; }
.source { border: 1px solid #d0d7de; border-radius: 8px; padding: 8px 10px; }
.source.closest { border-style: dashed; opacity: 0.85; }
.source-head { display: flex; flex-wrap: wrap; gap: 6px; align-items: baseline; }
.source-head .where { color: #57606a; font-size: 0.9em; }
.badge { display: inline-block; min-width: 1.6em; text-align: center; border-radius: 1em; background: #0969da;
         color: white; font-weight: bold; font-size: 0.85em; }
.source.closest .badge { background: #8c959f; }
.closest-label { font-weight: bold; color: #8c4a00; margin-top: 6px; }
.passage { font-size: 0.92em; margin: 6px 0; white-space: pre-wrap; }
mark { background: #fff3a3; padding: 0 1px; }
.context { border-left: 4px solid #0969da; padding: 4px 12px; }
.context-head { margin-bottom: 6px; }
a.cite { text-decoration: none; font-weight: bold; }
"""

# Clicks on a marker [n] in the chat go through a hidden textbox to Python (the chat keeps only
# href and class on links); a timestamp makes every click a change.
BRIDGE_JS = """
() => {
  // An upload stores a file on the server: it carries the API key typed in the Documents tab, as
  // a request to /v1 would (the server refuses it without the key when one is configured).
  const send = window.fetch.bind(window);
  window.fetch = (input, init = {}) => {
    const url = typeof input === 'string' ? input : (input && input.url) || '';
    const key = document.querySelector('#api-key input')?.value;
    if (key && url.includes('/gradio_api/upload?')) {
      const headers = new Headers(init.headers || {});
      headers.set('Authorization', 'Bearer ' + key);
      init = {...init, headers};
    }
    return send(input, init);
  };
  document.addEventListener('click', (event) => {
    const link = event.target.closest('#chatbot a.cite');
    if (!link) return;
    event.preventDefault();
    const box = document.querySelector('#cite-bridge textarea');
    if (!box) return;
    box.value = link.getAttribute('href').replace('#cite-', '') + '|' + Date.now();
    box.dispatchEvent(new Event('input', {bubbles: true}));
  });
}
"""

SOURCES_JS = """
element.addEventListener('click', (event) => {
  const link = event.target.closest('[data-cite]');
  if (!link) return;
  event.preventDefault();
  trigger('click', {cite: link.dataset.cite});
});
"""
