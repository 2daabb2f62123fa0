"""Adapter for torch.optim.SparseAdam, fed sparse COO gradients built from the case's
`sparse_rows` (harness/row_sparse.py). SparseAdam is lazy Adam: it updates exp_avg,
exp_avg_sq and the parameter only in the rows a gradient lists (it coalesces repeated
indices, summing them), so it is compared with the spec's lazy switch, i.e. on cases
with use_lazy=True (harness/catalogue.py: non-lazy row-sparse Adam has no counterpart).
Its arguments (lr, betas, eps, maximize, and what it has no counterpart for under its own
name) are the wing's translation (translate.py).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch

from harness.adapters.base import Snapshot
from harness.adapters.torch.adam import TORCH_DTYPES, TorchHistory, as_numpy
from harness.adapters.torch.translate import constructor_arguments, group_arguments
from harness.casefile import Case
from harness.row_sparse import row_sparse
from reference.adam import lr_at


class TorchSparseAdapter:
    name: ClassVar[str] = "torch-sparse"
    description: ClassVar[str] = f"torch.optim.SparseAdam (torch {torch.__version__}, sparse COO gradients)"

    def __init__(self, case: Case) -> None:
        self.case = case
        self.dtype = TORCH_DTYPES[case.dtype]
        self.tensors = [torch.nn.Parameter(torch.from_numpy(p.value.reshape(p.shape).copy()).to(self.dtype))
                        for p in case.params]
        by_name = dict(zip((p.name for p in case.params), self.tensors))
        groups = ([dict(g, params=[by_name[n] for n in g["params"]]) for g in group_arguments(case, self.name)]
                  or [{"params": self.tensors}])
        self.optimizer = torch.optim.SparseAdam(groups, **constructor_arguments(case, self.name))
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
            entry = {"param": as_numpy(tensor)}
            for quantity in ("exp_avg", "exp_avg_sq"):
                if quantity in state:
                    entry[quantity] = as_numpy(state[quantity])
            if "step" in state:
                entry["step"] = int(state["step"])
            out[spec.name] = entry
        return out
