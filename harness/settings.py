"""The harness's settings from the environment, each checked where it is read.

    OPTIM_PARITY_CASE_BUDGET=N        the largest case the harness runs, in elements x steps
                                      (default 2,000,000); a larger case is refused with one
                                      line before any of its arrays exist
    OPTIM_PARITY_CASE_TIMEOUT=SECONDS per-case timeout of an isolated worker (harness/isolation.py)
    OPTIM_PARITY_ISOLATION=0          run adapters in-process (harness/isolation.py)
    OPTIM_PARITY_RESULTS_MAX_BYTES=N  the largest results or baseline file read (default 512 MiB:
                                      a ci run's results file is about 33 MB, the committed
                                      baselines 3-5 MB, a thorough run's tens of MB)

A value that is not what its setting takes is a SettingsError: one line, exit 2, raised
by `check()` before a command starts any work.

The default budget fits a 2-core, 8 GB machine with the suite's workers beside it. What
a case costs in memory: every process holds the case's gradients (4 bytes an element-step
in float32); up to 4M element-steps the caller also the spec's float64 run (24 bytes) and
an implementation's trajectory in its dtype (12 bytes in float32), a worker its own;
beyond, the spec's run is made one column block at a time in each comparison
(harness/trajectory_comparison.py ColumnReference) and a worker keeps its trajectory in
files (harness/trajectory_files.py), not in memory. Measured: `replay` of a 1e6-element
x 100-step float32 case through reference, torch and MindSpore peaks at 1.12 GiB in its
largest process (a MindSpore worker); raise the budget for such cases.
"""

from __future__ import annotations

import math
import os

CASE_BUDGET_ENV = "OPTIM_PARITY_CASE_BUDGET"
CASE_TIMEOUT_ENV = "OPTIM_PARITY_CASE_TIMEOUT"
DEFAULT_CASE_BUDGET = 2_000_000
RESULTS_MAX_BYTES_ENV = "OPTIM_PARITY_RESULTS_MAX_BYTES"
DEFAULT_RESULTS_MAX_BYTES = 512 << 20


class SettingsError(ValueError):
    """An environment setting the harness cannot use; the message is one line."""


def _positive(name: str, integer: bool) -> float | None:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        kind = "a positive integer" if integer else "a positive number of seconds"
        raise SettingsError(f"{name}={ascii(raw)[1:-1][:40]!r}: expected {kind}")
    return value


def case_budget() -> int:
    """The largest case, in elements x steps."""
    value = _positive(CASE_BUDGET_ENV, integer=True)
    return DEFAULT_CASE_BUDGET if value is None else int(value)


def case_timeout() -> float | None:
    """The configured per-case timeout in seconds (None: the isolation default)."""
    return _positive(CASE_TIMEOUT_ENV, integer=False)


def results_max_bytes() -> int:
    """The largest results or baseline file read, in bytes."""
    value = _positive(RESULTS_MAX_BYTES_ENV, integer=True)
    return DEFAULT_RESULTS_MAX_BYTES if value is None else int(value)


def check() -> None:
    """Every setting, read once: a bad one fails here, before any work."""
    case_budget()
    case_timeout()
    results_max_bytes()
