"""Adapter for torch.optim.Adam (default implementation: on CPU tensors torch picks
the single-tensor for-loop path, foreach=None -> False).

TorchAdapter is also the base of the other torch implementations
(harness/adapters/torch_variants.py): each one only declares its optimizer class,
its constructor keywords (`options`) and how it holds lr and the parameters.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch

from harness.adapters.base import Snapshot, unsupported_options
from harness.casefile import Case
from harness.rows import ROWS_BY_ID
from reference.adam import lr_at

_TORCH_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32,
                 "float64": torch.float64}


def _is_schedule(lr: object) -> bool:
    return isinstance(lr, list)


class TorchAdapter:
    name: ClassVar[str] = "torch"
    framework: ClassVar[str] = "torch"
    description: ClassVar[str] = f"torch.optim.Adam (torch {torch.__version__}, default implementation)"
    # The torch.optim class by name (looked up when the optimizer is built).
    optimizer_class: ClassVar[str] = "Adam"
    # Constructor keywords that select this implementation (foreach, fused, ...).
    options: ClassVar[dict] = {}

    def __init__(self, case: Case) -> None:
        self.case = case
        self.dtype = _TORCH_DTYPES[case.dtype]
        self.tensors = [self._parameter(p.value.reshape(p.shape)) for p in case.params]
        by_name = dict(zip((p.name for p in case.params), self.tensors))
        # Groups as torch spells them; per-step lr lists are applied in step(),
        # the way an LR scheduler writes group["lr"].
        if case.param_groups:
            groups = []
            for group in case.param_groups:
                entry = {"params": [by_name[n] for n in group.params]}
                if group.lr is not None:
                    entry["lr"] = self._lr(group.lr)
                if group.weight_decay is not None:
                    entry["weight_decay"] = group.weight_decay
                groups.append(entry)
        else:
            groups = [{"params": self.tensors}]
        self.optimizer = getattr(torch.optim, self.optimizer_class)(groups, **self._constructor_kwargs(case))
        self.steps = 0

    def _constructor_kwargs(self, case: Case) -> dict:
        kwargs = {ROWS_BY_ID["lr"].torch_args["lr"]: self._lr(lr_at(case.hp("lr"), 1))}
        for row_id in ("eps", "weight_decay", "amsgrad", "betas"):
            for key, torch_key in ROWS_BY_ID[row_id].torch_args.items():
                kwargs[torch_key] = tuple(case.hp(key)) if key == "betas" else case.hp(key)
        kwargs["maximize"] = case.hp("maximize")
        # Options torch has no counterpart for are passed under their own name, so
        # torch rejects them with its own error (reported as "unsupported").
        if case.hp("use_nesterov"):
            kwargs["use_nesterov"] = True
        return {**kwargs, **self.options}

    def _parameter(self, value: np.ndarray) -> torch.Tensor:
        return torch.nn.Parameter(torch.from_numpy(value.copy()).to(self.dtype))

    def _lr(self, lr: float) -> float | torch.Tensor:
        return lr

    @classmethod
    def unsupported_reason(cls, case: Case) -> str | None:
        # loss_scale needs no counterpart: torch receives the unscaled gradients.
        # use_locking / use_lazy / use_offload do not change dense single-process math.
        return unsupported_options(case, {"use_nesterov": True})

    def step(self, grads: list[np.ndarray]) -> None:
        self.steps += 1
        for group, spec_group in zip(self.optimizer.param_groups, self.case.param_groups or [None]):
            if spec_group is None or spec_group.lr is None:
                if _is_schedule(self.case.hp("lr")):
                    self._set_lr(group, lr_at(self.case.hp("lr"), self.steps))
        for j, (tensor, grad) in enumerate(zip(self.tensors, grads)):
            # A missing gradient is .grad = None: torch skips the parameter.
            tensor.grad = (torch.from_numpy(grad.reshape(tensor.shape).copy()).to(self.dtype)
                           if self.case.has_gradient(self.steps - 1, j) else None)
        self.optimizer.step()

    def _set_lr(self, group: dict, lr: float) -> None:
        group["lr"] = lr

    def snapshot(self) -> Snapshot:
        out: Snapshot = {}
        for spec, tensor in zip(self.case.params, self.tensors):
            state = self.optimizer.state.get(tensor, {})
            entry = {"param": _numpy(tensor)}
            for ours, theirs in (("exp_avg", "exp_avg"), ("exp_avg_sq", "exp_avg_sq"), ("max_exp_avg_sq", "max_exp_avg_sq")):
                if theirs in state:
                    entry[ours] = _numpy(state[theirs])
            if "step" in state:
                entry["step"] = int(state["step"])
            elif not state:
                # No gradient yet (missing gradients): torch creates the state, zeros,
                # at the parameter's first gradient; until then it is the initial state.
                zeros = np.zeros(entry["param"].size)
                entry.update(exp_avg=zeros, exp_avg_sq=zeros, step=0)
                if self.case.hp("amsgrad"):
                    entry["max_exp_avg_sq"] = zeros
            out[spec.name] = entry
        return out


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    """float64 values of a tensor: one copy in numpy (half the cost of converting in torch
    first, and this runs for every quantity after every step); bfloat16, which numpy
    lacks, through float32 (exact)."""
    tensor = tensor.detach()
    if tensor.dtype == torch.bfloat16:
        tensor = tensor.float()
    return tensor.numpy().reshape(-1).astype(np.float64)
