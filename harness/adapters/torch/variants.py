"""The other torch.optim implementations of Adam, each a declaration on TorchAdapter
(harness/adapters/torch/adam.py): how lr and the parameters are held. Which class and
which constructor keywords (foreach=True, fused=True, differentiable=True, AdamW) are
their catalogue records' `optimizer` and `options` (harness/catalogue.py), read by the
wing's translation (translate.py). Measured on torch 2.13.0, CPU."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch

from harness.adapters.torch.adam import TorchAdapter
from harness.casefile import Case

_VERSION = f"torch {torch.__version__}"


class TorchForeachAdapter(TorchAdapter):
    """_multi_tensor_adam: torch._foreach_* ops over all parameters of a group."""

    name: ClassVar[str] = "torch-foreach"
    description: ClassVar[str] = f"torch.optim.Adam(foreach=True) ({_VERSION}, _multi_tensor_adam)"


class TorchFusedAdapter(TorchAdapter):
    """_fused_adam: one ATen kernel per group (aten/src/ATen/native/FusedAdam.cpp on CPU)."""

    name: ClassVar[str] = "torch-fused"
    description: ClassVar[str] = f"torch.optim.Adam(fused=True) ({_VERSION}, CPU fused kernel)"


class TorchAdamWAdapter(TorchAdapter):
    """torch.optim.AdamW: Adam with decoupled_weight_decay=True fixed by the class (the
    translation leaves the keyword out, translate.py)."""

    name: ClassVar[str] = "torch-adamw"
    description: ClassVar[str] = f"torch.optim.AdamW ({_VERSION}, default implementation)"


class TorchTensorLrAdapter(TorchAdapter):
    """lr as a 0-d Tensor (float64, so it holds the case's lr exactly; torch.tensor(lr)
    would be float32). torch rejects a Tensor lr with foreach=True unless capturable,
    which has no CPU support, so this is the single-tensor path; a schedule writes the
    tensor in place, as a tensor-aware scheduler would."""

    name: ClassVar[str] = "torch-tensor-lr"
    description: ClassVar[str] = f"torch.optim.Adam(lr=torch.tensor(lr, dtype=float64)) ({_VERSION})"

    def _lr(self, lr: float) -> torch.Tensor:
        return torch.tensor(lr, dtype=torch.float64)

    def _set_lr(self, group: dict, lr: float) -> None:
        group["lr"].fill_(lr)


class TorchDifferentiableAdapter(TorchAdapter):
    """differentiable=True: the step runs under autograd. torch refuses in-place updates
    of leaf parameters that require grad, so, as in torch's own differentiable-optimizer
    tests, the parameters are non-leaf tensors (a clone of a leaf that requires grad)
    and the graph grows across steps."""

    name: ClassVar[str] = "torch-differentiable"
    description: ClassVar[str] = f"torch.optim.Adam(differentiable=True) ({_VERSION}, single-tensor under autograd)"

    def _parameter(self, value: np.ndarray) -> torch.Tensor:
        leaf = torch.from_numpy(value.copy()).to(self.dtype).requires_grad_(True)
        parameter = leaf.clone()
        parameter.retain_grad()  # .grad of a non-leaf is read by the optimizer
        return parameter


class TorchLrSchedulerAdapter(TorchAdapter):
    """A per-step lr through torch.optim.lr_scheduler.LambdaLR (scheduler.step() after
    every optimizer step, as training loops do) instead of writing group["lr"]: the
    factor for step k is lr[k] / lr[0] (the last value past the end), so the scheduler
    forms lr[0] * (lr[k] / lr[0]), within an ulp of lr[k]."""

    name: ClassVar[str] = "torch-lr-scheduler"
    description: ClassVar[str] = f"torch.optim.Adam + lr_scheduler.LambdaLR ({_VERSION})"

    def __init__(self, case: Case) -> None:
        super().__init__(case)
        lr = case.hp("lr")
        if isinstance(lr, list):
            values = list(lr)
            if values[0] == 0.0:  # outside its space (harness/catalogue.py): say why, not ZeroDivisionError
                raise ValueError("LambdaLR scales the initial lr: a schedule starting at lr = 0 cannot be expressed")
            factor = lambda k: values[min(k, len(values) - 1)] / values[0]  # noqa: E731
        else:  # a single lr: factor 1 (lr[0] / lr[0] was 0 / 0 at lr = 0, a harness crash)
            factor = lambda k: 1.0  # noqa: E731
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, factor)

    def _set_lr(self, group: dict, lr: float) -> None:
        pass  # the scheduler sets it

    def step(self, grads: list[np.ndarray]) -> None:
        super().step(grads)
        self.scheduler.step()
