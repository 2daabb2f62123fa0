"""paddle's plain calls, as a user writes them: the bench's bare loops (harness/bench.py;
each implementation's record names its loop: `bare_loop`). The constructor arguments are
the wing's translation (translate.py), as the adapter's are.

A bare loop takes (case, implementation) and returns each step's seconds: one step =
backward() of the loss whose gradient is the case's + optimizer.step() +
optimizer.clear_grad(), timed (the loss is built before the clock starts: it is the
model's forward pass, not the optimizer's work); the parameters are read back once at
the end. The bench's default case set has dense gradients and one group.

paddle is imported inside the functions that run it, never at this module's top: the
bench's harness process reads the records (and imports this module to check them)
without importing a framework; the loops run in a fresh interpreter per implementation,
after the wing's setup().
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from harness.adapters.paddle.translate import constructor_arguments, lr_schedule, optimizer_class
from harness.casefile import Case


def adam(case: Case, implementation: str) -> list[float]:
    """paddle.optimizer.Adam / AdamW (the record's class) on dense gradients."""
    import paddle  # deferred: see the module docstring

    def tensor(values):
        # np.array keeps a 0-d value 0-d; bfloat16 through float32 (exact)
        if case.dtype == "bfloat16":
            return paddle.to_tensor(np.array(values, dtype=np.float32)).astype("bfloat16")
        return paddle.to_tensor(np.array(values))

    params = []
    for spec in case.params:
        p = paddle.create_parameter(list(spec.shape), dtype=case.dtype,
                                    default_initializer=paddle.nn.initializer.Constant(0.0))
        p.set_value(tensor(spec.value.reshape(spec.shape)))
        params.append(p)
    kwargs = constructor_arguments(case, implementation)
    lrs = lr_schedule(case)
    scheduler = None
    if lrs is not None:
        scheduler = paddle.optimizer.lr.LambdaDecay(learning_rate=1.0, lr_lambda=lambda k: lrs[min(k, len(lrs) - 1)])
        kwargs["learning_rate"] = scheduler
    optimizer = getattr(paddle.optimizer, optimizer_class(implementation))(parameters=params, **kwargs)
    step_seconds = []
    for grads in case.grads:
        loss = paddle.add_n([(p * tensor(g.reshape(p.shape))).sum() for p, g in zip(params, grads)])
        start = time.perf_counter()
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        optimizer.clear_grad()
        step_seconds.append(time.perf_counter() - start)
    [p.numpy().copy() for p in params]
    return step_seconds


def hyperparameter_probe(keywords: dict, initial: np.ndarray, gradient: np.ndarray, steps: int,
                         constructed: Callable[[], None]) -> np.ndarray:
    """paddle.optimizer.Adam built with `keywords` (translate.keyword_arguments of a probed
    value) on one float32 parameter, stepped `steps` times with `gradient` (backward of
    sum(p * g), step, clear_grad); calls `constructed()` once the constructor has accepted
    them. The parameter's final values."""
    import paddle  # deferred: see the module docstring

    p = paddle.create_parameter(list(initial.shape), dtype="float32",
                                default_initializer=paddle.nn.initializer.Constant(0.0))
    p.set_value(paddle.to_tensor(np.array(initial, dtype=np.float32)))
    optimizer = paddle.optimizer.Adam(parameters=[p], **keywords)
    constructed()
    g = paddle.to_tensor(np.array(gradient, dtype=np.float32))
    for _ in range(steps):
        (p * g).sum().backward()
        optimizer.step()
        optimizer.clear_grad()
    return p.numpy().astype(np.float64)
