"""Feedback on answers: one JSON line per rating, appended under the data directory."""

from __future__ import annotations

import csv
import io
import json
import os
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from fouassist.schemas import Text

Rating = Literal["helpful", "not_helpful"]


class FeedbackCitation(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: StrictInt = Field(ge=0, le=1000)
    document_id: Text = Field(max_length=64)
    title: Text = Field(max_length=500)
    section: Text | None = Field(None, max_length=50)
    quote: Text = Field(max_length=3000)


class Feedback(BaseModel):
    """What a reader thought of one answer, with the answer it is about. Every field has a cap:
    anyone may send feedback, and it is kept on disk."""

    model_config = ConfigDict(extra="forbid")
    rating: Rating
    comment: Text = Field("", max_length=2000)
    question: Text = Field(min_length=1, max_length=2000)
    answer: Text = Field(max_length=10_000)
    citations: list[FeedbackCitation] = Field(default_factory=list, max_length=10)
    abstained: StrictBool = False
    language: Literal["sv", "nb", "nn"] | None = None
    session: Text | None = Field(None, max_length=100, description="Opaque id of the conversation.")


class FeedbackStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def add(self, feedback: Feedback) -> dict[str, Any]:
        entry = {"id": uuid.uuid4().hex, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                 **feedback.model_dump()}
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, self.path.open("a", encoding="utf-8") as file:
            file.write(line)  # one write of one line: an interrupted write loses at most this entry
            file.flush()
            os.fsync(file.fileno())
        return entry

    def entries(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        entries = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut short by a crash
        return entries

    def export(self, format: Literal["jsonl", "csv"] = "jsonl") -> str:
        entries = self.entries()
        if format == "jsonl":
            return "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries)
        buffer = io.StringIO()
        fields = ["id", "created", "rating", "comment", "question", "answer", "abstained", "language", "session",
                  "citations"]
        writer = csv.DictWriter(buffer, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for entry in entries:
            cited = "; ".join(f"[{c['id']}] {c['title']} {c.get('section') or ''}: {c['quote']}"
                              for c in entry.get("citations", []))
            writer.writerow({key: _cell(value) for key, value in {**entry, "citations": cited}.items()})
        return buffer.getvalue()


def _cell(value: Any) -> Any:
    """A CSV cell that a spreadsheet will not run: text starting with = + - @ tab or CR gets a
    leading apostrophe (OWASP's advice against formula injection)."""
    if isinstance(value, str) and value.startswith(("=", "+", "-", "@", "\t", "\r")):
        return "'" + value
    return value
