"""The lockstep engine: every implementation steps through the same gradients; after
every step every quantity it exposes is recorded, then compared to the reference."""

from __future__ import annotations

import os
import re
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from harness.adapters import load_adapter
from harness.attribution import attribute
from harness.casefile import Case
from harness.catalogue import NO_COUNTERPART as OUTSIDE_NO_COUNTERPART, TABLE_IMPLEMENTATIONS, Outside, framework_of, \
    outside
from harness.compare import Comparison, Violation, compare
from harness.trajectory import StepFailure, Timing, Trajectory, first_line, record, shared_reference

PASS, VIOLATION, KNOWN, UNSUPPORTED, CRASH = "pass", "violation", "known", "unsupported", "crash"
# The case is outside what the implementation's API can ask for (harness/catalogue.py):
# never compared.
NO_COUNTERPART = "no-counterpart"
STATUSES = (PASS, KNOWN, VIOLATION, NO_COUNTERPART, UNSUPPORTED, CRASH)


@dataclass
class ImplementationResult:
    implementation: str
    status: str
    message: str = ""
    violations: list[Violation] = field(default_factory=list)
    worst_ratio: float = 0.0
    worst: Violation | None = None
    worst_series: np.ndarray | None = None  # the worst element's error/tolerance per step (not in to_json)
    rows: list[str] = field(default_factory=list)
    divergence: list[str] = field(default_factory=list)  # registry ids, status "known"
    timing: Timing = field(default_factory=Timing)
    description: str = ""

    def to_json(self) -> dict:
        return {
            "implementation": self.implementation,
            "description": self.description,
            "status": self.status,
            "message": self.message,
            "rows": self.rows,
            "divergence": self.divergence,
            "worst_ratio": _json_number(self.worst_ratio),
            "worst": self.worst.to_json() if self.worst else None,
            "violations": [v.to_json() for v in self.violations],
            "timing": self.timing.to_json(),
        }


def _json_number(x: float) -> float | str:
    return x if np.isfinite(x) else "inf"


@dataclass
class CaseRun:
    case: Case
    reference: Trajectory
    results: list[ImplementationResult]
    trajectories: dict[str, Trajectory]


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
    """Forget the confirmed declarations, here and in the live workers: a report starts
    from none, so the same cases give the same results file byte for byte, whatever ran
    in this process before (a later case of a confirmed kind says so in its message)."""
    from harness import isolation

    _confirmed_declarations.clear()
    if isolation._pool is not None and not os.environ.get(isolation.INSIDE_WORKER_ENV):
        isolation._pool.forget_confirmed_declarations()


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


def record_implementation(name: str, case: Case) -> Recording:
    """The implementation's recording of the case: in its framework's worker process
    (harness/isolation.py), or here for the reference, extra implementations and with
    isolation off."""
    return start_recording(name, case)()


def start_recording(name: str, case: Case) -> Callable[[], Recording]:
    """Start recording the case and return what waits for its recording: a worker starts
    at once, so the caller can go on meanwhile; an in-process recording is made when the
    returned function is called."""
    from harness import isolation
    from harness.catalogue import known

    if not isolation.enabled() or name == "reference" or not known(name):
        return lambda: record_in_process(name, case)
    workers = isolation.pool()
    try:
        # One worker per framework (torch-foreach shares torch's), named by the prefix.
        pending = workers.submit(framework_of(name), name, case)
    except isolation.WorkerDied as death:
        died = Recording(failed_step=-1, error=str(death))
        return lambda: died

    def wait() -> Recording:
        try:
            return workers.collect(pending)
        except isolation.WorkerDied as death:
            return Recording(failed_step=-1, error=str(death))

    return wait


def run_implementation(name: str, case: Case, reference: Trajectory) -> tuple[ImplementationResult, Trajectory | None]:
    return judge(name, case, reference, record_implementation(name, case))


def judge(name: str, case: Case, reference: Trajectory,
          recording: Recording) -> tuple[ImplementationResult, Trajectory | None]:
    """The verdict on a recording: its failure, or its comparison with the reference and
    the attribution of what leaves tolerance."""
    if recording.import_error:
        return ImplementationResult(name, CRASH, f"cannot import: {recording.import_error}"), None
    result = ImplementationResult(name, PASS, description=recording.description)
    found = recording.outside
    declared = found.reason if found else None
    if found and not found.compared and recording.failed_step != -1:
        no_counterpart = found.kind == OUTSIDE_NO_COUNTERPART
        result.status = NO_COUNTERPART if no_counterpart else UNSUPPORTED
        result.message = (f"{'no counterpart' if no_counterpart else 'not compared'}: {declared}"
                          + (f" ({recording.error})" if recording.error else ""))
        return result, None
    if recording.failed_step == -1:  # the worker process died or timed out: never "unsupported"
        result.status, result.message = CRASH, f"{recording.error} (case run in an isolated worker)"
        return result, None
    if recording.failed_step is not None:
        if declared is not None:
            result.status, result.message = UNSUPPORTED, f"{declared} ({recording.error})"
        else:
            where = "building the optimizer" if recording.failed_step == 0 else f"step {recording.failed_step}"
            result.status, result.message = CRASH, f"{where}: {recording.error}\n{recording.detail}"
        return result, None
    trajectory = recording.trajectory
    result.timing = recording.timing
    if declared is not None:
        # The declaration is the harness's claim; the framework accepted the case, so
        # it is compared like any other and the stale claim is reported.
        result.message = f"declared unsupported ({declared}) but the framework ran it"
    comparison: Comparison = compare(case, reference, trajectory)
    result.violations = comparison.violations
    result.worst_ratio, result.worst = comparison.worst_ratio, comparison.worst
    result.worst_series = comparison.worst_series
    if comparison.violations:
        result.status = VIOLATION
        result.rows = attribute(case, trajectory, comparison.violations, framework_of(name), name)
    return result, trajectory


def run_case(case: Case, implementations: Sequence[str] = TABLE_IMPLEMENTATIONS,
             on_implementation: Callable[[int, str], None] | None = None) -> CaseRun:
    """Every implementation on the case, results in the order given. The frameworks'
    workers record at the same time, while the spec runs here: each framework's first
    implementation is sent before the spec's run, the next one of a framework when the
    previous one's recording is back (a worker records one case at a time), so the
    caller judges one while the workers record the next. Each recording and verdict is
    what running them one after another gives (the same calls in each process, in the
    same order). on_implementation(position, name): called before waiting for each
    implementation's recording (the command line's progress display)."""
    names = list(implementations)
    following: dict[int, int] = {}  # position -> the next position of the same framework
    last_of: dict[str, int] = {}
    for position, name in enumerate(names):
        framework = framework_of(name)
        if framework in last_of:
            following[last_of[framework]] = position
        last_of[framework] = position
    from harness.adapters.reference import ReferenceAdapter

    def spec_recording() -> Recording:
        # The spec's recording is the run made below (the same calls; recording it again
        # was a tenth of a single-process suite's time).
        return Recording(description=ReferenceAdapter.description, trajectory=reference)

    followed = set(following.values())
    started = {position: spec_recording if name == "reference" else start_recording(name, case)
               for position, name in enumerate(names) if position not in followed}
    reference = shared_reference(case)
    results, trajectories = [], {}
    for position, name in enumerate(names):
        if on_implementation is not None:
            on_implementation(position, name)
        recording = started.pop(position)()
        if position in following:
            started[following[position]] = start_recording(names[following[position]], case)
        result, trajectory = judge(name, case, reference, recording)
        results.append(result)
        if trajectory is not None:
            trajectories[name] = trajectory
    return CaseRun(case, reference, results, trajectories)
