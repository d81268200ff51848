"""Reading a document in a child process, with a deadline and a cap on its memory.

The limits in `ReadLimits` are counted while a document is extracted, but the libraries that do
the extraction (pypdf above all) can spend time and memory between two counts. So the whole read
runs in a child process: it gets `cpu_s` seconds of processor time (RLIMIT_CPU: a busy machine
does not shorten it), `wall_factor` times that in wall-clock time, and may grow its address space
by at most `memory_mb` (RLIMIT_AS); past any of them it is stopped and the document refused.
Children are forked from a forkserver that has imported the parsers and loaded the word lists
once, so a child starts in milliseconds.
"""

from __future__ import annotations

import math
import multiprocessing
import signal
from dataclasses import dataclass
from multiprocessing.connection import Connection

from fouassist.ingest.documents import Document, ManifestEntry
from fouassist.ingest.read_limits import DocumentError, ReadLimits

_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["fouassist.ingest.sandbox_child"])


def start_readers() -> None:
    """Start the forkserver now (it imports the parsers and word lists: seconds), so that the
    first upload does not wait for it."""
    from multiprocessing import forkserver

    forkserver.ensure_running()


@dataclass(frozen=True)
class ParseBudget:
    """Time and memory one document's reading may take: `base_s` plus `s_per_mb` for each MB of
    the file in processor time, `wall_factor` times that in wall-clock time, and `memory_mb` more
    address space than the child starts with."""

    base_s: float
    s_per_mb: float
    wall_factor: float
    memory_mb: int

    @classmethod
    def of(cls, settings) -> ParseBudget:
        return cls(base_s=settings.parse_base_s, s_per_mb=settings.parse_s_per_mb,
                   wall_factor=settings.parse_wall_factor, memory_mb=settings.parse_memory_mb)

    def cpu_s(self, size: int) -> int:
        return math.ceil(self.base_s + self.s_per_mb * size / 1024 / 1024)


def read_bounded(name: str, data: bytes, budget: ParseBudget, manifest: dict[str, ManifestEntry] | None = None,
                 title: str | None = None, limits: ReadLimits = ReadLimits()) -> Document:
    """`read_document` in a child process within `budget`. Raises DocumentError as it does, and
    with code "too_slow" or "too_large" when the child runs out of time or memory."""
    cpu_s = budget.cpu_s(len(data))
    too_slow = DocumentError(name, f"reading the document took longer than {cpu_s} s (the limit for a file of its "
                                   "size); check that it is not damaged, or save its text as a .txt file and upload "
                                   "that", code="too_slow")
    receiver, sender = _CONTEXT.Pipe(duplex=False)
    child = _CONTEXT.Process(target=_read_in_child, args=(sender, name, data, manifest, title, limits,
                                                          budget.memory_mb, cpu_s), daemon=True)
    child.start()
    sender.close()
    try:
        if not receiver.poll(cpu_s * budget.wall_factor):
            raise too_slow
        outcome, value = receiver.recv()
    except EOFError:
        child.join()
        if child.exitcode == -signal.SIGXCPU:
            raise too_slow from None
        raise DocumentError(name, "the document could not be read: its reader stopped unexpectedly; check that the "
                                  "file is not damaged", code="damaged") from None
    finally:
        receiver.close()
        if child.is_alive():
            child.kill()
        child.join()
    if outcome == "document":
        return value
    if outcome == "memory":
        raise DocumentError(name, f"reading the document needs more than {budget.memory_mb} MB of memory (the "
                                  "limit); split it, or save its text as a .txt file and upload that", code="too_large")
    if outcome == "crash":
        raise RuntimeError(f"reading {name} failed in the reader process:\n{value}")
    source, reason, code = value
    raise DocumentError(source, reason, code)


def _read_in_child(sender: Connection, *args) -> None:
    from fouassist.ingest.sandbox_child import read  # imported (with the parsers) by the forkserver already

    read(sender, *args)
