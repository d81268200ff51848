"""Progress of long work: a bar on a terminal, a line per stage elsewhere (CI, log files)."""

from __future__ import annotations

import sys
import time

from tqdm import tqdm


class StageLines:
    """What a progress bar says, as a few lines: when the stage starts, at each tenth of the
    way, and when it ends."""

    def __init__(self, total: int, desc: str, unit: str, stream) -> None:
        self.total, self.desc, self.unit, self.stream = total, desc, unit, stream
        self.done = 0
        self.tenths = 0
        self.postfix = ""
        self.started = time.perf_counter()

    def update(self, n: int = 1) -> None:
        self.done += n
        tenths = min(10, self.done * 10 // max(1, self.total))
        if tenths > self.tenths and self.done < self.total:
            self.tenths = tenths
            seconds = max(time.perf_counter() - self.started, 1e-9)
            rate = self.done / seconds
            detail = f" ({self.postfix})" if self.postfix else ""
            print(f"{self.desc}: {self.done} of {self.total} {self.unit}(s), {rate:.1f} {self.unit}(s)/s, "
                  f"about {(self.total - self.done) / rate:.0f} s left{detail}", file=self.stream, flush=True)

    def set_postfix_str(self, text: str) -> None:
        """Shown with the next line (a bar shows it at once)."""
        self.postfix = text

    def __enter__(self) -> StageLines:
        print(f"{self.desc}: {self.total} {self.unit}(s)", file=self.stream, flush=True)
        return self

    def __exit__(self, *exc) -> None:
        seconds = time.perf_counter() - self.started
        print(f"{self.desc}: {self.done} of {self.total} {self.unit}(s) done in {seconds:.1f} s",
              file=self.stream, flush=True)


def progress_bar(enabled: bool, total: int, desc: str, unit: str, stream=None):
    """A bar when `stream` (standard error) is a terminal; stage lines when it is not; nothing
    when progress is off or there is nothing to do."""
    stream = stream or sys.stderr
    if not enabled or not total:
        return _Silent()
    if stream.isatty():
        return tqdm(total=total, unit=unit, desc=desc, file=stream)
    return StageLines(total, desc, unit, stream)


class _Silent:
    def update(self, n: int = 1) -> None: ...
    def set_postfix_str(self, text: str) -> None: ...
    def __enter__(self) -> _Silent: return self
    def __exit__(self, *exc) -> None: ...
