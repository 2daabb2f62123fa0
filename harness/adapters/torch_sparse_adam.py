"""Adapter for torch.optim.SparseAdam, fed sparse COO gradients built from the case's
`sparse_rows` (harness/row_sparse.py). SparseAdam is lazy Adam: it updates exp_avg,
exp_avg_sq and the parameter only in the rows a gradient lists (it coalesces repeated
indices, summing them), so it is compared with the spec's lazy switch, i.e. on cases
with use_lazy=True.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch

from harness.adapters.base import Snapshot, as_float64
from harness.adapters.torch_adam import TorchHistory
from harness.casefile import DEFAULT_HYPERPARAMETERS, Case
from harness.row_sparse import row_sparse

# Options SparseAdam has no counterpart for (it takes lr, betas, eps, maximize): passed
# under their own names when set, so torch rejects them with its own TypeError.
_NO_COUNTERPART = ("weight_decay", "amsgrad", "use_locking", "use_nesterov", "loss_scale", "use_offload")


class TorchSparseAdapter:
    name: ClassVar[str] = "torch-sparse"
    framework: ClassVar[str] = "torch"
    description: ClassVar[str] = f"torch.optim.SparseAdam (torch {torch.__version__}, sparse COO gradients)"

    def __init__(self, case: Case) -> None:
        self.case = case
        self.tensors = [torch.nn.Parameter(torch.from_numpy(p.value.reshape(p.shape).copy())) for p in case.params]
        by_name = dict(zip((p.name for p in case.params), self.tensors))
        groups = ([{"params": [by_name[n] for n in g.params], **({"lr": g.lr} if g.lr is not None else {})}
                   for g in case.param_groups] or [{"params": self.tensors}])
        lr = case.hp("lr")
        kwargs = {"lr": lr, "betas": tuple(case.hp("betas")), "eps": case.hp("eps"), "maximize": case.hp("maximize")}
        kwargs.update({key: case.hp(key) for key in _NO_COUNTERPART if case.hp(key) != DEFAULT_HYPERPARAMETERS[key]})
        self.optimizer = torch.optim.SparseAdam(groups, **kwargs)
        self.steps = 0

    @classmethod
    def unsupported_reason(cls, case: Case) -> str | None:
        reasons = [f"{key}={case.hp(key)!r} has no counterpart" for key in _NO_COUNTERPART
                   if case.hp(key) != DEFAULT_HYPERPARAMETERS[key]]
        if isinstance(case.hp("lr"), list):
            reasons.append("a per-step lr list")
        elif case.hp("lr") == 0.0:
            reasons.append("lr=0 (SparseAdam requires 0 < lr; Adam accepts 0)")
        if not case.sparse_rows:
            reasons.append("dense gradients (the case has no sparse_rows)")
        return "; ".join(reasons) or None

    def step(self, grads: list[np.ndarray]) -> None:
        for index, (tensor, grad) in enumerate(zip(self.tensors, grads)):
            if self.case.sparse_rows:
                indices, values = row_sparse(self.case, self.steps, index, grad)
                tensor.grad = torch.sparse_coo_tensor(torch.from_numpy(indices)[None, :], torch.from_numpy(values),
                                                      tensor.shape, check_invariants=True)
            else:
                # SparseAdam rejects these itself ("does not support dense gradients").
                tensor.grad = torch.from_numpy(grad.reshape(tensor.shape).copy())
        self.steps += 1
        self.optimizer.step()

    def history(self, num_steps: int) -> TorchHistory:
        return TorchHistory(self.tensors, [p.name for p in self.case.params], self.optimizer.state,
                            ("exp_avg", "exp_avg_sq"), self.tensors[0].dtype if self.tensors else torch.float64, num_steps)

    def snapshot(self) -> Snapshot:
        out: Snapshot = {}
        for spec, tensor in zip(self.case.params, self.tensors):
            state = self.optimizer.state.get(tensor, {})
            entry = {"param": as_float64(tensor.detach().numpy())}
            for quantity in ("exp_avg", "exp_avg_sq"):
                if quantity in state:
                    entry[quantity] = as_float64(state[quantity].detach().numpy())
            if "step" in state:
                entry["step"] = int(state["step"])
            out[spec.name] = entry
        return out
