"""What the commands print for a person at a terminal: a one-line progress display for
the long commands (report, replay, validate, bench) and the verdict line they end with.

The progress display writes to stderr, and only when stderr is a terminal: in a CI log
or a pipe nothing is written, so what the commands print stays the same run to run. The
line is redrawn in place (carriage return, erase to the end of the line), cut to the
terminal's width so it never wraps, and erased when the work ends, however it ends (an
exception, Ctrl-C).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from typing import Sequence, TextIO

from harness.statuses import STATUSES

MIN_INTERVAL = 0.1  # seconds between redraws: a sweep finishes hundreds of cases a minute


def on_terminal(stream: TextIO | None = None) -> bool:
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{seconds:02d}" if minutes >= 60 else f"{minutes}:{seconds:02d}"


class Progress:
    """`with Progress("report", total=n) as progress: ... progress.update(done, "row eps")`.

    Disabled (every method a no-op) unless the stream is a terminal."""

    def __init__(self, label: str, total: int | None = None, stream: TextIO | None = None,
                 enabled: bool | None = None) -> None:
        self.label = label
        self.total = total
        self.stream = sys.stderr if stream is None else stream
        self.enabled = on_terminal(self.stream) if enabled is None else enabled
        self.start = time.monotonic()
        self.done = 0
        self.detail = ""
        self._drawn = False
        self._last = 0.0

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def text(self) -> str:
        """`report: 8/88 (9%), 0:05 elapsed, about 0:50 left: eps-1a2b3c4d5e on torch` (the
        counts and times first: a narrow terminal cuts the end)."""
        elapsed = time.monotonic() - self.start
        parts = [f"{self.done}/{self.total} ({100 * self.done // self.total}%)"] if self.total else []
        parts.append(f"{_clock(elapsed)} elapsed")
        if self.total and 0 < self.done < self.total and elapsed > 2.0:
            parts.append(f"about {_clock(elapsed / self.done * (self.total - self.done))} left")
        return f"{self.label}: {', '.join(parts)}" + (f": {self.detail}" if self.detail else "")

    def update(self, done: int | None = None, detail: str | None = None, force: bool = False) -> None:
        if done is not None:
            self.done = done
        if detail is not None:
            self.detail = detail
        if not self.enabled:
            return
        now = time.monotonic()
        if force or now - self._last >= MIN_INTERVAL:
            self._last = now
            self._draw()

    def _width(self) -> int:
        """The terminal's columns less one (a line that fills the last column wraps on some)."""
        try:
            columns = os.get_terminal_size(self.stream.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
        return max((columns or shutil.get_terminal_size((80, 24)).columns) - 1, 10)

    def _draw(self) -> None:
        width = self._width()
        try:
            self.stream.write("\r" + self.text()[:width] + "\x1b[K")
            self.stream.flush()
        except (OSError, ValueError):  # the terminal went away: progress is not worth an error
            self.enabled = False
            return
        self._drawn = True

    def clear(self) -> None:
        if self.enabled and self._drawn:
            try:
                self.stream.write("\r\x1b[K")
                self.stream.flush()
            except (OSError, ValueError):
                self.enabled = False
            self._drawn = False

    def close(self) -> None:
        self.clear()
        self.enabled = False


# --------------------------------------------------------------------------- verdict line

# The last line of report, merge, replay, validate and bench: OK or FAIL, why, and the exit
# code the command returns (`verdict: FAIL - 2 unregistered violation(s) (...), 0 crash(es); exit 1`).
VERDICT_LISTED = 6  # implementations named in a verdict line before "... (N more)"


def verdict_line(code: int, reason: str) -> str:
    return f"verdict: {'OK' if code == 0 else 'FAIL'} - {reason}; exit {code}"


def _listed(items: Sequence[str]) -> str:
    shown = "; ".join(items[:VERDICT_LISTED])
    return shown + (f"; ... ({len(items) - VERDICT_LISTED} more)" if len(items) > VERDICT_LISTED else "")


def findings_reason(violations: int, violating: Sequence[str], crashes: int, crashing: Sequence[str]) -> str:
    """`2 unregistered violation(s) (torch-fused on eps, lr; ...), 1 crash(es) (mindspore-mint)`."""
    return (f"{violations} unregistered violation(s)" + (f" ({_listed(violating)})" if violating else "")
            + f", {crashes} crash(es)" + (f" ({_listed(crashing)})" if crashing else ""))


def statuses_reason(counts: dict[str, int], what: str) -> str:
    """`every implementation passes, is outside its space or shows only known divergences (...)`."""
    shown = ", ".join(f"{counts[status]} {status}" for status in STATUSES if counts.get(status))
    return ("every implementation passes, is outside its space or shows only known divergences"
            + (f" ({what}: {shown})" if shown else ""))
