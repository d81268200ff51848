"""One writer at a time: a thread lock within the process and, across processes that share the
data directory, a lock file beside the index."""

from __future__ import annotations

import fcntl
import threading
from pathlib import Path


class Busy(Exception):
    """Another writer holds the index."""


class WriteLock:
    """Held by every change to the index; a writer waits at most `wait_s`, then gets Busy."""

    def __init__(self, path: Path, wait_s: float) -> None:
        self.path = path
        self.wait_s = wait_s
        self.thread_lock = threading.Lock()

    def __enter__(self) -> None:
        if not self.thread_lock.acquire(timeout=self.wait_s):
            raise Busy(f"another change to the index is under way and did not finish within {self.wait_s:g} s; "
                       "try again shortly")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = self.path.open("a+")
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.file.close()
            self.thread_lock.release()
            raise Busy(f"another process is changing the index (lock file {self.path}); "
                       "wait for it to finish and try again") from None

    def __exit__(self, *exc) -> None:
        fcntl.flock(self.file, fcntl.LOCK_UN)
        self.file.close()
        self.thread_lock.release()
