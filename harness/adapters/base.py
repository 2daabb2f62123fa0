"""The one protocol every implementation adapter follows.

An adapter is thin: it builds its framework's optimizer from a canonical `Case`, through
its wing's translation (harness/adapters/<framework>/translate.py), steps it and reads
the results back as float64 numpy arrays. It holds no comparison logic. Its framework
is its catalogue record's (harness/catalogue.py), not the adapter's.

    adapter = Adapter(case)              # build the optimizer from the case (one inside the
                                         # implementation's space, harness/catalogue.py; a case
                                         # it has no counterpart for is built and stepped once,
                                         # passing the option under its own name, for the
                                         # framework's own error)
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
    # Human description for reports, e.g. "torch.optim.Adam (foreach=False)".
    description: ClassVar[str]

    def __init__(self, case: Case) -> None: ...

    def step(self, grads: list[np.ndarray]) -> None: ...

    def snapshot(self) -> Snapshot: ...


def named_arguments(name: str | tuple[str, ...] | None, value: Any) -> dict | None:
    """A framework's keyword arguments for one canonical value under its name(s) for the
    concept (a wing's translate.py maps the names): None where it has none; a pair split
    over two names (betas as beta1, beta2); any value, including those a case cannot hold
    (the hyperparameter probes): a malformed pair goes to the first name as it is."""
    if name is None:
        return None
    if isinstance(name, tuple):
        if not (isinstance(value, (tuple, list)) and len(value) == len(name)):
            return {name[0]: value}
        return dict(zip(name, value))
    return {name: value}


def storage_dtype(dtype: Any) -> np.dtype:
    """The dtype a recorded quantity is kept in: the framework's own float16, float32 or
    float64 (a 1e6-element float32 trajectory is half the memory and half the transfer
    of float64; comparisons widen exactly: harness/trajectory_comparison.py), float32
    for bfloat16 (exact; numpy has no bfloat16 arithmetic of its own), float64 otherwise."""
    dtype = np.dtype(dtype)
    if dtype in (np.float16, np.float32, np.float64):
        return dtype
    return np.dtype(np.float32 if dtype.name == "bfloat16" else np.float64)


def as_stored(array: Any) -> np.ndarray:
    """A flat copy of `array` in its storage_dtype."""
    array = np.asarray(array)
    return np.array(array, dtype=storage_dtype(array.dtype), copy=True).reshape(-1)
