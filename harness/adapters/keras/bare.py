"""Keras's plain calls, as a user writes them: the bench's bare loop (harness/bench.py,
each implementation's record names its loop: `bare_loop`) and the hyperparameter
probe's run (harness/acceptance.py). The constructor arguments are the wing's
translation (translate.py), as the adapter's are.

A bare loop takes (case, implementation) and returns each step's seconds: one step =
optimizer.apply_gradients(zip(grads, variables)) with the step's gradients made jax
arrays, timed (jax dispatches asynchronously: the step's new parameter values are
waited for inside the timing); the parameters are read back once at the end.

Keras is imported inside the functions that run it, never at this module's top: the
bench's harness process reads the records (and imports this module to check them)
without importing a framework; the loops run in a fresh interpreter per implementation,
after the wing's setup() (the jax backend).
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from harness.adapters.keras.translate import PiecewiseConstant, constructor_arguments, optimizer_class
from harness.casefile import Case


def adam(case: Case, implementation: str) -> list[float]:
    """keras.optimizers.Adam / AdamW (the record's class) on keras.Variables of the case
    dtype."""
    import keras  # deferred: see the module docstring

    kwargs = constructor_arguments(case, implementation)
    lr = kwargs["learning_rate"]
    if isinstance(lr, PiecewiseConstant):
        kwargs["learning_rate"] = keras.optimizers.schedules.PiecewiseConstantDecay(list(lr.boundaries),
                                                                                   list(lr.values))
    variables = [keras.Variable(p.value.reshape(p.shape), dtype=case.dtype) for p in case.params]
    optimizer = getattr(keras.optimizers, optimizer_class(implementation))(**kwargs)
    optimizer.build(variables)
    step_seconds = []
    for grads in case.grads:
        start = time.perf_counter()
        tensors = [keras.ops.convert_to_tensor(g.reshape(p.shape), dtype=case.dtype)
                   for g, p in zip(grads, case.params)]
        optimizer.apply_gradients(zip(tensors, variables))
        for variable in variables:
            variable.value.block_until_ready()
        step_seconds.append(time.perf_counter() - start)
    [np.asarray(v.value).copy() for v in variables]
    return step_seconds


def hyperparameter_probe(keywords: dict, initial: np.ndarray, gradient: np.ndarray, steps: int,
                         constructed: Callable[[], None]) -> np.ndarray:
    """keras.optimizers.Adam built with `keywords` (translate.keyword_arguments of a probed
    value) on one float32 variable, stepped `steps` times with `gradient`; calls
    `constructed()` once the constructor has accepted them. The variable's final values."""
    import keras  # deferred: see the module docstring

    variable = keras.Variable(initial.astype(np.float32))
    optimizer = keras.optimizers.Adam(**keywords)
    constructed()
    for _ in range(steps):
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(gradient.astype(np.float32)), variable)])
    return np.asarray(variable.value).astype(np.float64)
