"""Adapter for torch.optim.SparseAdam, fed sparse COO gradients built from the case's
`sparse_rows` (harness/row_sparse.py). SparseAdam is lazy Adam: it updates exp_avg,
exp_avg_sq and the parameter only in the rows a gradient lists (it coalesces repeated
indices, summing them), so it is compared with the spec's lazy switch, i.e. on cases
with use_lazy=True (harness/catalogue.py: non-lazy row-sparse Adam has no counterpart).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch

from harness.adapters.base import Snapshot
from harness.adapters.torch_adam import _TORCH_DTYPES, TorchHistory, _numpy
from harness.casefile import DEFAULT_HYPERPARAMETERS, Case
from harness.row_sparse import row_sparse
from reference.adam import lr_at

# Options SparseAdam has no counterpart for (it takes lr, betas, eps, maximize): passed
# under their own names when set, so torch rejects them with its own TypeError (the
# catalogue says "no counterpart"). loss_scale, use_locking, use_offload: as for
# torch.optim.Adam (unscaled gradients; no change to single-process math).
_NO_COUNTERPART = ("weight_decay", "amsgrad", "decoupled_weight_decay", "use_nesterov")


class TorchSparseAdapter:
    name: ClassVar[str] = "torch-sparse"
    framework: ClassVar[str] = "torch"
    description: ClassVar[str] = f"torch.optim.SparseAdam (torch {torch.__version__}, sparse COO gradients)"

    def __init__(self, case: Case) -> None:
        self.case = case
        self.dtype = _TORCH_DTYPES[case.dtype]
        self.tensors = [torch.nn.Parameter(torch.from_numpy(p.value.reshape(p.shape).copy()).to(self.dtype))
                        for p in case.params]
        by_name = dict(zip((p.name for p in case.params), self.tensors))
        groups = ([{"params": [by_name[n] for n in g.params], **({"lr": g.lr} if g.lr is not None else {})}
                   for g in case.param_groups] or [{"params": self.tensors}])
        kwargs = {"lr": lr_at(case.hp("lr"), 1), "betas": tuple(case.hp("betas")), "eps": case.hp("eps"),
                  "maximize": case.hp("maximize")}
        kwargs.update({key: case.hp(key) for key in _NO_COUNTERPART if case.hp(key) != DEFAULT_HYPERPARAMETERS[key]})
        self.optimizer = torch.optim.SparseAdam(groups, **kwargs)
        self.steps = 0

    def step(self, grads: list[np.ndarray]) -> None:
        if isinstance(self.case.hp("lr"), list):  # a schedule writes group["lr"], as for torch.optim.Adam
            for group, spec_group in zip(self.optimizer.param_groups, self.case.param_groups or [None]):
                if spec_group is None or spec_group.lr is None:
                    group["lr"] = lr_at(self.case.hp("lr"), self.steps + 1)
        for index, (tensor, grad) in enumerate(zip(self.tensors, grads)):
            if self.case.sparse_rows:
                indices, values = row_sparse(self.case, self.steps, index, grad)
                tensor.grad = torch.sparse_coo_tensor(torch.from_numpy(indices)[None, :],
                                                      torch.from_numpy(values).to(self.dtype),
                                                      tensor.shape, check_invariants=True)
            else:
                # SparseAdam rejects these itself ("does not support dense gradients").
                tensor.grad = torch.from_numpy(grad.reshape(tensor.shape).copy()).to(self.dtype)
        self.steps += 1
        self.optimizer.step()

    def history(self, num_steps: int) -> TorchHistory:
        return TorchHistory(self.tensors, [p.name for p in self.case.params], self.optimizer.state,
                            ("exp_avg", "exp_avg_sq"), self.dtype, num_steps)

    def snapshot(self) -> Snapshot:
        out: Snapshot = {}
        for spec, tensor in zip(self.case.params, self.tensors):
            state = self.optimizer.state.get(tensor, {})
            entry = {"param": _numpy(tensor)}
            for quantity in ("exp_avg", "exp_avg_sq"):
                if quantity in state:
                    entry[quantity] = _numpy(state[quantity])
            if "step" in state:
                entry["step"] = int(state["step"])
            out[spec.name] = entry
        return out
