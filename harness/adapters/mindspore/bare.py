"""MindSpore's plain calls, as a user writes them: the bench's bare loops (harness/bench.py,
each implementation's record names its loop: `bare_loop`) and the hyperparameter probe's
run (harness/acceptance.py). The constructor arguments and the loss-scaled gradients are
the wing's translation (translate.py), as the adapters' are; the caller has run the
wing's setup() (harness.adapters.setup), so the loops run with the adapters' dispatch.

A bare loop takes (case, implementation) and returns each step's seconds: one step =
the optimizer called with the step's gradients, timed (the first one carries first-use
costs: the graph compile); the parameters are read back once at the end. Each runs in
the execution mode its implementation names, set for the run and the previous mode
restored after, as the adapters do. Cases with param_groups are not drawn by any of the
bench's case sets, so the loops pass the parameters as one flat list.

MindSpore is imported inside the functions that run it, never at this module's top: the
bench's harness process reads the records (and imports this module to check them)
without importing a framework; the loops run in a fresh interpreter per implementation.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from harness.adapters.mindspore.translate import constructor_arguments, scaled_gradient
from harness.casefile import Case
from harness.row_sparse import row_sparse


def _nn_adam_optimizer(case: Case, implementation: str, lr_form: str = "list"):
    """(parameters, nn.Adam), built in the mode the caller set."""
    from mindspore import Parameter, Tensor, nn  # deferred: see the module docstring

    from harness.adapters.mindspore.nn_adam import LR_FORMS  # deferred: imports MindSpore

    parameters = [Parameter(Tensor(p.value.reshape(p.shape).copy()), name=p.name) for p in case.params]
    return parameters, nn.Adam(parameters, **constructor_arguments(case, implementation, LR_FORMS[lr_form]))


def _timed_steps(case: Case, parameters, optimizer, scale: bool = False) -> list[float]:
    """Step a MindSpore optimizer cell with each step's dense gradients (timed; `scale`:
    loss-scaled, as nn.Adam takes them), then read the parameters back once."""
    from mindspore import Tensor  # deferred: see the module docstring

    step_seconds = []
    for grads in case.grads:
        if scale:
            grads = [scaled_gradient(case, g) for g in grads]
        start = time.perf_counter()
        optimizer(tuple(Tensor(g.reshape(p.shape)) for g, p in zip(grads, case.params)))
        step_seconds.append(time.perf_counter() - start)
    [p.asnumpy().copy() for p in parameters]
    return step_seconds


def nn_adam(case: Case, implementation: str, graph: bool = False, lr_form: str = "list") -> list[float]:
    """nn.Adam, PyNative or GRAPH_MODE; lr_form: how a per-step lr list is passed (list,
    1-d Tensor, LearningRateSchedule)."""
    import mindspore as ms  # deferred: see the module docstring

    from harness.adapters.mindspore.runtime import execution_mode  # deferred: imports MindSpore

    with execution_mode(ms.GRAPH_MODE if graph else ms.PYNATIVE_MODE):
        parameters, optimizer = _nn_adam_optimizer(case, implementation, lr_form)
        return _timed_steps(case, parameters, optimizer, scale=True)


def nn_adam_graph(case: Case, implementation: str) -> list[float]:
    return nn_adam(case, implementation, graph=True)


def nn_adam_lr_tensor(case: Case, implementation: str) -> list[float]:
    return nn_adam(case, implementation, lr_form="tensor")


def nn_adam_lr_schedule(case: Case, implementation: str) -> list[float]:
    return nn_adam(case, implementation, lr_form="schedule")


def nn_adam_target_cpu(case: Case, implementation: str) -> list[float]:
    """nn.Adam(use_lazy=...) under GRAPH_MODE with optimizer.target = 'CPU', fed RowTensor
    gradients; a RowTensor exists only inside a graph, hence the wing's small cell that
    builds them from (indices, values) and calls the optimizer."""
    import mindspore as ms  # deferred: see the module docstring
    from mindspore import Tensor

    from harness.adapters.mindspore.nn_adam import RowSparseStep  # deferred: imports MindSpore
    from harness.adapters.mindspore.runtime import execution_mode  # deferred: imports MindSpore

    with execution_mode(ms.GRAPH_MODE):
        parameters, optimizer = _nn_adam_optimizer(case, implementation)
        optimizer.target = "CPU"
        sparse_step = RowSparseStep(optimizer, tuple(tuple(p.shape) for p in parameters))
        step_seconds = []
        for step, grads in enumerate(case.grads):
            pieces = [row_sparse(case, step, j, scaled_gradient(case, grad)) for j, grad in enumerate(grads)]
            start = time.perf_counter()
            sparse_step(*(tensor for indices, values in pieces
                          for tensor in (Tensor(indices.astype(np.int32)), Tensor(values))))
            step_seconds.append(time.perf_counter() - start)
    [p.asnumpy().copy() for p in parameters]
    return step_seconds


def mint_adam(case: Case, implementation: str, graph: bool = False) -> list[float]:
    """mindspore.mint.optim.Adam in PyNative (as its users call it), or under GRAPH_MODE."""
    import mindspore as ms  # deferred: see the module docstring
    from mindspore import Parameter, Tensor, mint

    from harness.adapters.mindspore.runtime import execution_mode  # deferred: imports MindSpore

    with execution_mode(ms.GRAPH_MODE if graph else ms.PYNATIVE_MODE):
        parameters = [Parameter(Tensor(p.value.reshape(p.shape).copy()), name=p.name) for p in case.params]
        optimizer = mint.optim.Adam(parameters, **constructor_arguments(case, implementation))
        return _timed_steps(case, parameters, optimizer)


def mint_adam_graph(case: Case, implementation: str) -> list[float]:
    return mint_adam(case, implementation, graph=True)


def _adamw(case: Case, implementation: str, build) -> list[float]:
    """One of the AdamW classes, `build(parameters, **kwargs)`, in PyNative (as its users call it)."""
    import mindspore as ms  # deferred: see the module docstring
    from mindspore import Parameter, Tensor

    from harness.adapters.mindspore.runtime import execution_mode  # deferred: imports MindSpore

    with execution_mode(ms.PYNATIVE_MODE):
        parameters = [Parameter(Tensor(p.value.reshape(p.shape).copy()), name=p.name) for p in case.params]
        optimizer = build(parameters, **constructor_arguments(case, implementation))
        return _timed_steps(case, parameters, optimizer)


def adam_weight_decay(case: Case, implementation: str) -> list[float]:
    """mindspore.nn.AdamWeightDecay."""
    from mindspore import nn  # deferred: see the module docstring

    return _adamw(case, implementation, nn.AdamWeightDecay)


def experimental_adamw(case: Case, implementation: str) -> list[float]:
    """mindspore.experimental.optim.AdamW."""
    from mindspore.experimental import optim  # deferred: see the module docstring

    return _adamw(case, implementation, optim.AdamW)


def mint_adamw(case: Case, implementation: str) -> list[float]:
    """mindspore.mint.optim.AdamW (no CPU kernel: its first step raises)."""
    from mindspore import mint  # deferred: see the module docstring

    return _adamw(case, implementation, mint.optim.AdamW)


def hyperparameter_probe(keywords: dict, initial: np.ndarray, gradient: np.ndarray, steps: int,
                         constructed: Callable[[], None]) -> np.ndarray:
    """nn.Adam built with `keywords` (translate.keyword_arguments of a probed value) on one
    float32 parameter, stepped `steps` times with `gradient`; calls `constructed()` once
    the constructor has accepted them. The parameter's final values."""
    from mindspore import Parameter, Tensor, nn  # deferred: see the module docstring

    param = Parameter(Tensor(initial.copy()), name="w")
    optimizer = nn.Adam([param], **keywords)
    constructed()
    scale = keywords.get("loss_scale", 1.0)
    for _ in range(steps):
        # With loss_scale MindSpore expects the gradients of the scaled loss (any probed
        # value, not a case's: float32 arithmetic, as a user's float32 gradients would be).
        optimizer((Tensor((gradient * np.float32(scale)).astype(np.float32)),))
    return param.asnumpy().astype(np.float64)
