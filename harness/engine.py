"""The lockstep engine: every implementation steps through the same gradients; after
every step every quantity it exposes is recorded (harness/recording.py, in a framework's
worker process: harness/isolation.py), then compared to the reference and judged.

The status words live in harness/statuses.py (imported here under the same names, which
older callers read from this module)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from harness import isolation
from harness.adapters.reference import ReferenceAdapter
from harness.attribution import attribute
from harness.casefile import Case
from harness.catalogue import NO_COUNTERPART as OUTSIDE_NO_COUNTERPART, UNRELIABLE as OUTSIDE_UNRELIABLE
from harness.catalogue import TABLE_IMPLEMENTATIONS, framework_of, known, outside
from harness.trajectory_comparison import ColumnReference, Comparison, Violation, compare, spec_reference
from harness.nonfinite import to_json
from harness.recording import Recording, record_in_process
from harness.statuses import CRASH, KNOWN, NO_COUNTERPART, PASS, STATUSES, UNSUPPORTED, VIOLATION
from harness.trajectory import Timing, Trajectory
from harness.trajectory_files import release

__all__ = ["CRASH", "KNOWN", "NO_COUNTERPART", "PASS", "STATUSES", "UNSUPPORTED", "VIOLATION",  # harness/statuses.py
           "CaseRun", "ImplementationResult", "judge", "record_implementation", "run_case", "run_implementation",
           "start_recording"]


@dataclass
class ImplementationResult:
    implementation: str
    status: str
    message: str = ""
    # Those of a sample of the violating elements when there are many (harness/
    # trajectory_comparison.py SAMPLE_PER_PARAMETER); violation_count counts them all.
    violations: list[Violation] = field(default_factory=list)
    violation_count: int = 0
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
            "worst_ratio": to_json(self.worst_ratio),
            "worst": self.worst.to_json() if self.worst else None,
            "violations": [v.to_json() for v in self.violations],
            "violation_count": self.violation_count,
            "timing": self.timing.to_json(),
        }


@dataclass
class CaseRun:
    case: Case
    reference: Trajectory | ColumnReference  # ColumnReference: a large case's, never held whole
    results: list[ImplementationResult]
    trajectories: dict[str, Trajectory]


def record_implementation(name: str, case: Case) -> Recording:
    """The implementation's recording of the case: in its framework's worker process
    (harness/isolation.py), or here for the reference, extra implementations and with
    isolation off."""
    return start_recording(name, case)()


def start_recording(name: str, case: Case) -> Callable[[], Recording]:
    """Start recording the case and return what waits for its recording: a worker starts
    at once, so the caller can go on meanwhile; an in-process recording is made when the
    returned function is called."""
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


def judge(name: str, case: Case, reference: Trajectory | ColumnReference,
          recording: Recording) -> tuple[ImplementationResult, Trajectory | None]:
    """The verdict on a recording: its failure, or its comparison with the reference and
    the attribution of what leaves tolerance."""
    if recording.import_error:
        return ImplementationResult(name, CRASH, f"cannot import: {recording.import_error}"), None
    result = ImplementationResult(name, PASS, description=recording.description)
    found = recording.outside
    if found is None and recording.failed_step == -1 and known(name):
        found = outside(name, case)  # a dead worker sent no declaration: the catalogue's
    declared = found.reason if found else None
    # A case declared unreliable (its result depends on memory the harness does not
    # control) may also kill the worker that way (paddle's AdamW with SelectedRows
    # gradients reads a garbage dimension and sometimes aborts in bad_alloc): that is the
    # declaration, not a new finding. Any other dead worker is a crash.
    unreliable = found is not None and found.kind == OUTSIDE_UNRELIABLE
    if found and not found.compared and (recording.failed_step != -1 or unreliable):
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
    start = time.perf_counter()
    comparison: Comparison = compare(case, reference, trajectory)
    result.timing.compare_seconds = time.perf_counter() - start
    result.violations, result.violation_count = comparison.violations, comparison.violation_count
    result.worst_ratio, result.worst = comparison.worst_ratio, comparison.worst
    result.worst_series = comparison.worst_series
    if comparison.violations:
        result.status = VIOLATION
        start = time.perf_counter()
        result.rows = attribute(case, trajectory, comparison.violations, framework_of(name), name)
        result.timing.attribution_seconds = time.perf_counter() - start
    return result, trajectory


def run_case(case: Case, implementations: Sequence[str] = TABLE_IMPLEMENTATIONS,
             on_implementation: Callable[[int, str], None] | None = None,
             keep_trajectories: bool = True) -> CaseRun:
    """Every implementation on the case, results in the order given. The frameworks'
    workers record at the same time, while the spec runs here: each framework's first
    implementation is sent before the spec's run, the next one of a framework when the
    previous one's recording is back (a worker records one case at a time), so the
    caller judges one while the workers record the next. Each recording and verdict is
    what running them one after another gives (the same calls in each process, in the
    same order). on_implementation(position, name): called before waiting for each
    implementation's recording (the command line's progress display).
    keep_trajectories: False drops each implementation's trajectory once judged (`replay`
    reads only the verdicts): the caller then holds one implementation's at a time, not
    all of them (16 float32 trajectories of a 1e6-element, 20-step case are 4 GB)."""
    names = list(implementations)
    following: dict[int, int] = {}  # position -> the next position of the same framework
    last_of: dict[str, int] = {}
    for position, name in enumerate(names):
        framework = framework_of(name)
        if framework in last_of:
            following[last_of[framework]] = position
        last_of[framework] = position

    def spec_recording() -> Recording:
        # The spec's recording is the run made below (the same calls; recording it again
        # was a tenth of a single-process suite's time).
        return Recording(description=ReferenceAdapter.description, trajectory=reference)

    followed = set(following.values())
    started = {position: spec_recording if name == "reference" else start_recording(name, case)
               for position, name in enumerate(names) if position not in followed}
    reference = spec_reference(case)  # the shared run, or a ColumnReference of a large case
    results, trajectories = [], {}
    for position, name in enumerate(names):
        if on_implementation is not None:
            on_implementation(position, name)
        recording = started.pop(position)()
        if position in following:
            started[following[position]] = start_recording(names[following[position]], case)
        result, trajectory = judge(name, case, reference, recording)
        results.append(result)
        if trajectory is not None and keep_trajectories:
            trajectories[name] = trajectory
        elif isinstance(trajectory, Trajectory):
            release(trajectory.data)  # its files, where a worker kept it in files
        # Not held while the next one arrives (a 1e6-element, 100-step float32 one is 1.2 GB).
        recording = trajectory = None
    return CaseRun(case, reference, results, trajectories)
