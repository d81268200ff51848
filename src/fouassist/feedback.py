"""Feedback on answers: one JSON line per rating, appended under the data directory."""

from __future__ import annotations

import csv
import io
import json
import os
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from fouassist.bounds import Text

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

    def entries(self) -> Iterator[dict[str, Any]]:
        """The entries, read one line at a time."""
        if not self.path.is_file():
            return
        with self.path.open(encoding="utf-8") as file:
            for line in file:
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut short by a crash

    def stream(self, format: Literal["jsonl", "csv"] = "jsonl") -> Iterator[str]:
        """The export piece by piece (a header, then one piece per entry): it never holds all of it."""
        if format == "jsonl":
            for entry in self.entries():
                yield json.dumps(entry, ensure_ascii=False) + "\n"
            return
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=_CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for entry in self.entries():
            cited = "; ".join(f"[{c['id']}] {c['title']} {c.get('section') or ''}: {c['quote']}"
                              for c in entry.get("citations", []))
            writer.writerow({key: _cell(value) for key, value in {**entry, "citations": cited}.items()})
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        yield buffer.getvalue()  # the header when there are no entries

    def export(self, format: Literal["jsonl", "csv"] = "jsonl") -> str:
        return "".join(self.stream(format))


_CSV_FIELDS = ["id", "created", "rating", "comment", "question", "answer", "abstained", "language", "session",
               "citations"]


def _cell(value: Any) -> Any:
    """A CSV cell that a spreadsheet will not run: text starting with = + - @ tab or CR gets a
    leading apostrophe (OWASP's advice against formula injection)."""
    if isinstance(value, str) and value.startswith(("=", "+", "-", "@", "\t", "\r")):
        return "'" + value
    return value
