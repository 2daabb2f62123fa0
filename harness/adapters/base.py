"""The one protocol every implementation adapter follows.

An adapter is thin: it translates a canonical `Case` into framework calls and reads
the results back as float64 numpy arrays. It holds no comparison logic.

    adapter = Adapter(case)              # build the optimizer from the case
    adapter.step(grads)                  # one step; grads[i] is flat, in the case dtype
    adapter.snapshot()                   # {param name: {quantity: float64 array or int}}

Quantities in a snapshot: "param" always; "exp_avg", "exp_avg_sq",
"max_exp_avg_sq" (amsgrad only) and "step" where the framework exposes them.

Optional, for speed: `adapter.history(num_steps)` returns an object with `take(t)`
(read the state after step t, 0 = before the first) and `data()` ({param name:
{quantity: float64 array [num_steps + 1, n], "step": int array}}): the same values
snapshot() after every step gives (harness/trajectory.py records through it when an
adapter has one, through snapshot() otherwise).
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

import numpy as np

from harness.casefile import Case

QUANTITIES = ("param", "exp_avg", "exp_avg_sq", "max_exp_avg_sq", "step")

Snapshot = dict[str, dict[str, Any]]


class Adapter(Protocol):
    name: ClassVar[str]
    # The framework behind it ("reference", "torch", "mindspore"): reports read a
    # MindSpore-only row's option as "no counterpart" for every torch implementation.
    framework: ClassVar[str]
    # Human description for reports, e.g. "torch.optim.Adam (foreach=False)".
    description: ClassVar[str]

    def __init__(self, case: Case) -> None: ...

    @classmethod
    def unsupported_reason(cls, case: Case) -> str | None:
        """Why this implementation cannot express `case`, or None when it can."""
        ...

    def step(self, grads: list[np.ndarray]) -> None: ...

    def snapshot(self) -> Snapshot: ...


def as_float64(array: Any) -> np.ndarray:
    return np.array(array, dtype=np.float64, copy=True).reshape(-1)


def unsupported_options(case: Case, without_counterpart: dict[str, Any]) -> str | None:
    """Reason string for options set to a value the framework has no counterpart for."""
    found = [key for key, value in without_counterpart.items() if case.hp(key) == value]
    return ", ".join(f"{key}={case.hp(key)!r} has no counterpart" for key in found) or None
