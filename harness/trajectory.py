"""Recording a trajectory: step one adapter through a case, snapshotting every step."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.adapters.base import storage_dtype
from harness.adapters.reference import ReferenceAdapter
from harness.casefile import Case


@dataclass
class Trajectory:
    """Per parameter name: quantity -> array [completed_steps + 1, n] (row 0 is the
    state before the first step; "step" is an int array [completed_steps + 1]), float64
    for the spec, an implementation's in the dtype it holds them (storage_dtype,
    harness/adapters/base.py): comparing with float64 widens them exactly."""

    data: dict[str, dict[str, np.ndarray]]
    completed_steps: int
    # What is derived from this trajectory as a reference and shared by every comparison
    # against it (harness/trajectory_comparison.py tolerances_of); not part of its value.
    cache: dict = field(default_factory=dict, compare=False, repr=False)


class StepFailure(Exception):
    """An adapter raised; carries the step (0 = while building) and the framework's error."""

    def __init__(self, step: int, error: BaseException):
        super().__init__(f"{type(error).__name__} at step {step}: {first_line(error)}")
        self.step = step
        self.error = error


def first_line(error: BaseException) -> str:
    """The framework's message in one line: MindSpore wraps its errors in banners of
    dashes and section headers, so keep the first two lines that carry content."""
    lines = [line.strip() for line in str(error).splitlines()]
    content = [line for line in lines if any(c.isalnum() for c in line) and not line.startswith("-")
               and not line.endswith(":")]
    return " / ".join(content[:2])[:400] or type(error).__name__


@dataclass
class Timing:
    build_seconds: float = 0.0
    first_step_seconds: float = 0.0  # includes MindSpore's graph compile
    later_step_seconds: float = 0.0  # mean over steps 2..T
    # The caller's judgement of the recording (harness/engine.py judge): the comparison
    # with the spec, and attribution where it leaves tolerance (the bench's parts).
    compare_seconds: float = 0.0
    attribution_seconds: float = 0.0

    def to_json(self) -> dict:
        return {k: round(v, 6) for k, v in self.__dict__.items()}


class SnapshotHistory:
    """How a trajectory is recorded from any adapter: its `snapshot()` after every step,
    each quantity stored as it arrives, in its storage_dtype (harness/adapters/base.py;
    widened to float64 if a later value does not fit). A quantity first seen at a later step
    keeps zeros in the rows before it (torch creates a moment at the parameter's first
    gradient). Adapters whose reads cost more than their steps offer their own
    `history(num_steps)` with the same two methods (harness/adapters/base.py)."""

    def __init__(self, adapter: Any, num_steps: int) -> None:
        self.adapter = adapter
        self.num_steps = num_steps
        self.values: dict[str, dict[str, np.ndarray]] = {}

    def take(self, t: int) -> None:
        for name, quantities in self.adapter.snapshot().items():
            slot = self.values.setdefault(name, {})
            for quantity, value in quantities.items():
                dtype = np.int64 if quantity == "step" else storage_dtype(np.asarray(value).dtype)
                if quantity not in slot:
                    shape = (self.num_steps + 1,) if quantity == "step" else (self.num_steps + 1, np.size(value))
                    slot[quantity] = np.zeros(shape, dtype=dtype)
                elif np.promote_types(slot[quantity].dtype, dtype) != slot[quantity].dtype:
                    slot[quantity] = slot[quantity].astype(np.float64)
                slot[quantity][t] = value

    def data(self) -> dict[str, dict[str, np.ndarray]]:
        return self.values


def record(adapter: Any, case: Case, steps: int | None = None) -> tuple[Trajectory, Timing]:
    """Step `adapter` through the case's gradients (the first `steps` of them when given),
    snapshotting after every step."""
    timing = Timing()
    num_steps = case.num_steps if steps is None else min(steps, case.num_steps)
    history = adapter.history(num_steps) if hasattr(adapter, "history") else SnapshotHistory(adapter, num_steps)
    history.take(0)
    later = 0.0
    for t, grads in enumerate(case.grads[:num_steps], start=1):
        start = time.perf_counter()
        try:
            adapter.step(list(grads))
        except Exception as exc:  # a framework crash is a finding
            raise StepFailure(t, exc) from exc
        elapsed = time.perf_counter() - start
        if t == 1:
            timing.first_step_seconds = elapsed
        else:
            later += elapsed
        history.take(t)
    data = history.data()
    for name, spec in zip(data, case.params):  # row 0: the case's values, as given to the framework
        data[name]["param"][0] = spec.value
    if num_steps > 1:
        timing.later_step_seconds = later / (num_steps - 1)
    return Trajectory(data, num_steps), timing


def reference_trajectory(case: Case, variant: dict | None = None, steps: int | None = None) -> Trajectory:
    """The spec (with `variant`, harness/rows.py) through the case, or its first `steps` steps."""
    return record(ReferenceAdapter(case, variant), case, steps)[0]


def spec_states(case: Case, variant: dict | None = None):
    """The spec's run (with `variant`) a step at a time, nothing kept: each step's
    snapshot ({parameter: {quantity: flat values}}), step 0 (the initial state) first;
    the rows reference_trajectory would hold, bit for bit."""
    adapter = ReferenceAdapter(case, variant)
    yield adapter.snapshot()
    for grads in case.grads:
        adapter.step(list(grads))
        yield adapter.snapshot()


# The base spec run of the latest case object, for everything that needs it for that case
# (the engine's comparisons, the registry's conditions): one run per case, not one per user.
_shared: tuple[Case | None, Trajectory | None] = (None, None)


def shared_reference(case: Case) -> Trajectory:
    """reference_trajectory(case), made once per case object (treat it as read-only)."""
    global _shared
    owner, trajectory = _shared
    if owner is not case or trajectory is None:
        trajectory = reference_trajectory(case)
        _shared = (case, trajectory)
    return trajectory


def prefix(trajectory: Trajectory, steps: int) -> Trajectory:
    """The first `steps` steps of a trajectory (views of its arrays; its own cache)."""
    if steps >= trajectory.completed_steps:
        return trajectory
    return Trajectory({name: {quantity: values[: steps + 1] for quantity, values in quantities.items()}
                       for name, quantities in trajectory.data.items()}, steps)
