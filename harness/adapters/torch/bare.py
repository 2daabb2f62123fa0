"""torch's plain calls, as a user writes them: the bench's bare loops (harness/bench.py,
each implementation's record names its loop: `bare_loop`) and the hyperparameter
probe's run (harness/acceptance.py). The constructor arguments are the wing's
translation (translate.py), as the adapters' are.

A bare loop takes (case, implementation) and returns each step's seconds: one step =
assign the gradients + optimizer step, timed; the parameters are read back once at the
end. Cases with param_groups are not drawn by any of the bench's case sets, so the loops
pass the parameters as one group.

torch is imported inside the functions that run it, never at this module's top: the
bench's harness process reads the records (and imports this module to check them)
without importing a framework; the loops run in a fresh interpreter per implementation.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from harness.adapters.torch.translate import constructor_arguments, optimizer_class
from harness.casefile import Case
from harness.row_sparse import row_sparse


def adam(case: Case, implementation: str, tensor_lr: bool = False, lr_scheduler: bool = False) -> list[float]:
    """torch.optim.Adam / AdamW with the implementation's keywords (foreach, fused,
    differentiable: its record's options). tensor_lr: lr as a float64 0-d Tensor (holds
    the case's lr exactly, as the adapter); lr_scheduler: LambdaLR stepped after every
    optimizer step, factor lr[k] / lr[0]."""
    import torch  # deferred: see the module docstring

    kwargs = constructor_arguments(case, implementation)

    def parameter(p):
        value = torch.from_numpy(p.value.reshape(p.shape).copy())
        if kwargs.get("differentiable"):
            # torch refuses in-place updates of leaves that require grad under autograd.
            tensor = value.requires_grad_(True).clone()
            tensor.retain_grad()
            return tensor
        return torch.nn.Parameter(value)

    tensors = [parameter(p) for p in case.params]
    # A per-step lr list reaches torch only through the scheduler here (the bench's case
    # sets draw no lr lists for the other torch forms); the translation's lr is its first.
    lrs = case.hp("lr") if isinstance(case.hp("lr"), list) else [case.hp("lr")]
    if tensor_lr:
        kwargs["lr"] = torch.tensor(kwargs["lr"], dtype=torch.float64)
    optimizer = getattr(torch.optim, optimizer_class(implementation))(tensors, **kwargs)
    scheduler = (torch.optim.lr_scheduler.LambdaLR(optimizer, lambda k: lrs[min(k, len(lrs) - 1)] / lrs[0])
                 if lr_scheduler else None)
    step_seconds = []
    for grads in case.grads:
        start = time.perf_counter()
        for tensor, grad in zip(tensors, grads):
            tensor.grad = torch.from_numpy(grad.reshape(tensor.shape).copy())
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        step_seconds.append(time.perf_counter() - start)
    [t.detach().numpy().copy() for t in tensors]
    return step_seconds


def adam_tensor_lr(case: Case, implementation: str) -> list[float]:
    return adam(case, implementation, tensor_lr=True)


def adam_lr_scheduler(case: Case, implementation: str) -> list[float]:
    return adam(case, implementation, lr_scheduler=True)


def sparse_adam(case: Case, implementation: str) -> list[float]:
    """torch.optim.SparseAdam fed sparse COO gradients (the case's listed rows)."""
    import torch  # deferred: see the module docstring


    tensors = [torch.nn.Parameter(torch.from_numpy(p.value.reshape(p.shape).copy())) for p in case.params]
    optimizer = torch.optim.SparseAdam(tensors, **constructor_arguments(case, implementation))
    step_seconds = []
    for step, grads in enumerate(case.grads):
        pieces = [row_sparse(case, step, j, grad) for j, grad in enumerate(grads)]  # what backward would hand over
        start = time.perf_counter()
        for tensor, (indices, values) in zip(tensors, pieces):
            # No invariant check (the adapter's check_invariants=True): row_sparse's indices are in range.
            tensor.grad = torch.sparse_coo_tensor(torch.from_numpy(indices)[None, :], torch.from_numpy(values),
                                                  tensor.shape, check_invariants=False)
        optimizer.step()
        step_seconds.append(time.perf_counter() - start)
    [t.detach().numpy().copy() for t in tensors]
    return step_seconds


def hyperparameter_probe(keywords: dict, initial: np.ndarray, gradient: np.ndarray, steps: int,
                         constructed: Callable[[], None]) -> np.ndarray:
    """torch.optim.Adam built with `keywords` (translate.keyword_arguments of a probed
    value) on one float32 parameter, stepped `steps` times with `gradient`; calls
    `constructed()` once the constructor has accepted them. The parameter's final values."""
    import torch  # deferred: see the module docstring

    param = torch.nn.Parameter(torch.from_numpy(initial.copy()))
    optimizer = torch.optim.Adam([param], **keywords)
    constructed()
    for _ in range(steps):
        param.grad = torch.from_numpy(gradient.copy())
        optimizer.step()
    return param.detach().numpy().astype(np.float64)

