"""Recording one implementation on one case: its adapter built from the case and stepped
through it (harness/trajectory.py), with what a failure or the catalogue's declaration
makes of it. What a framework's worker process runs (harness/isolation.py), and the
caller for the reference, extra implementations and with isolation off
(harness/engine.py); comparison, attribution and the registry stay in the caller.

The memo of confirmed declarations lives here, in the process that records: each worker
keeps its own (harness/isolation.py reset_declarations forgets it everywhere).
"""

from __future__ import annotations

import re
import time
import traceback
from dataclasses import dataclass, field

from harness.adapters import load_adapter
from harness.casefile import Case
from harness.catalogue import Outside, outside
from harness.trajectory import StepFailure, Timing, Trajectory, first_line, record


@dataclass
class Recording:
    """What recording one implementation on one case gave, in-process or in a worker
    (picklable: errors travel as their type name, first line and traceback tail)."""

    description: str = ""
    # Why the case is outside the implementation's space, and which kind of exclusion
    # (harness/catalogue.py Outside); None inside it.
    outside: Outside | None = None
    trajectory: Trajectory | None = None
    timing: Timing = field(default_factory=Timing)
    failed_step: int | None = None  # the adapter raised: 0 while building, else the step
    error: str = ""  # "TypeError: first line"
    detail: str = ""  # traceback tail
    import_error: str = ""
    seconds: float = 0.0  # wall time of record_in_process where it ran (the bench's split)


# (implementation, reason kind) pairs whose declared outcome this process has seen the
# framework give. A declaration is the harness's claim (harness/catalogue.py), so a case
# outside the space is still run: a measured failure (`unsupported`) is run in full, a
# framework that accepts it makes the claim stale, and that is reported; a case the API
# has no counterpart for, or whose result the framework makes unreliable, is built and
# stepped once, for the framework's own error where it has one (it is never compared).
# Once the framework has given the declared outcome, later cases of the same kind are
# not run again in this process: they are the same
# measured fact, and some failures are slow (MindSpore 2.10 spends 3 s in every Gather
# past the end of a learning_rate list, which was most of test_lr's time). A stale claim
# is never memoised, so it shows on every case.
# Value: the framework's error on the case that confirmed it (its type and first line),
# "" for a case not compared that the framework took without an error.
_confirmed_declarations: dict[tuple[str, str], str] = {}


def forget_confirmed_declarations() -> None:
    """Forget the declarations this process has confirmed (a worker, when its caller
    says so; the caller through harness/isolation.py reset_declarations, which also
    tells its live workers)."""
    _confirmed_declarations.clear()


def declaration_kind(reason: str) -> str:
    """A declared reason without its case's numbers ("a learning_rate list of # values
    for # steps ..."): the fact it states, shared by every case it covers."""
    return re.sub(r"\d+(?:\.\d+)?(?:e[-+]?\d+)?", "#", reason)


def record_in_process(name: str, case: Case) -> Recording:
    start = time.perf_counter()
    recording = _record_here(name, case)
    recording.seconds = time.perf_counter() - start
    return recording


def _record_here(name: str, case: Case) -> Recording:
    try:
        adapter_cls = load_adapter(name)
    except Exception as exc:  # framework missing or failing at import
        return Recording(import_error=f"{type(exc).__name__}: {first_line(exc)}")
    found = outside(name, case)
    recording = Recording(description=adapter_cls.description, outside=found)
    kind = (name, declaration_kind(found.reason)) if found else None
    if kind in _confirmed_declarations:
        recording.failed_step = 0 if _confirmed_declarations[kind] else None
        recording.error = (f"{_confirmed_declarations[kind]}; on an earlier case of this kind, not run again"
                           if _confirmed_declarations[kind] else "")
        return recording
    start = time.perf_counter()
    try:
        try:
            adapter = adapter_cls(case)
        except Exception as exc:
            raise StepFailure(0, exc) from exc
        build = time.perf_counter() - start
        if found is not None and not found.compared:
            # Nothing to compare: one step, for the framework's own error where it has one.
            try:
                adapter.step(list(case.grads[0]))
            except Exception as exc:
                raise StepFailure(1, exc) from exc
            _confirmed_declarations[kind] = ""
            return recording
        recording.trajectory, recording.timing = record(adapter, case)
        recording.timing.build_seconds = build
    except StepFailure as failure:
        recording.failed_step = failure.step
        recording.error = f"{type(failure.error).__name__}: {first_line(failure.error)}"
        recording.detail = "".join(traceback.format_exception(failure.error)[-3:]).strip()
        if kind is not None:
            _confirmed_declarations[kind] = recording.error
    return recording
