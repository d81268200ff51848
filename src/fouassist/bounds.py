"""What any text a client sends must satisfy, at every door (API, web interface, CLI, service):
its length, valid UTF-8, and for a question at least one word."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

MAX_QUESTION_CHARS = 2000  # a question, and every earlier question of a conversation: what the analyser reads
MAX_MESSAGE_CHARS = 20_000  # an earlier answer, or a system message: kept, never analysed
# A question must have a letter or digit of the Latin alphabet (Nordic letters included); the
# same rule stands in the OpenAPI schema, so that clients can check before they send.
WORD_PATTERN = r"[0-9A-Za-zÀ-ÖØ-öø-ÿ]"
LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # not encodable as UTF-8


def check_text(value: str, name: str, limit: int | None = MAX_MESSAGE_CHARS) -> str:
    """Any text a client sends: within `limit` (None: limited elsewhere), and encodable (no lone
    UTF-16 surrogate)."""
    if limit is not None and len(value) > limit:
        raise ValueError(f"the {name} has {len(value)} characters; the limit is {limit}")
    if LONE_SURROGATE.search(value):
        raise ValueError(f"the {name} contains an invalid character (a lone UTF-16 surrogate such as \\ud800); "
                         "send text in valid UTF-8")
    return value


def check_question(value: str, name: str = "question") -> str:
    check_text(value, name, MAX_QUESTION_CHARS)
    if not value.strip():
        raise ValueError(f"the {name} is empty; write a question in Swedish or Norwegian")
    if not re.search(WORD_PATTERN, value):
        raise ValueError(f"the {name} has no words, only punctuation or symbols; write a question with words")
    return value.strip()


Text = Annotated[str, AfterValidator(lambda value: check_text(value, "text"))]
# A document's text: its length is the reader's limit (FOUASSIST_MAX_DOCUMENT_CHARS), checked by the service.
DocumentText = Annotated[str, AfterValidator(lambda value: check_text(value, "text", limit=None))]
