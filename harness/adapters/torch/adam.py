"""Adapter for torch.optim.Adam (default implementation: on CPU tensors torch picks
the single-tensor for-loop path, foreach=None -> False).

TorchAdapter is also the base of the other torch.optim.Adam / AdamW forms
(harness/adapters/torch/variants.py): the class it builds and the constructor keywords
that select a form are the implementation's catalogue record (optimizer, options), turned
into arguments by the wing's translation (translate.py); a form only declares how it
holds lr and the parameters.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch

from harness.adapters.base import Snapshot, as_stored
from harness.adapters.torch.translate import constructor_arguments, group_arguments, optimizer_class, receives_gradient
from harness.casefile import Case
from harness.trajectory_files import row_store
from reference.adam import lr_at

TORCH_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32,
                "float64": torch.float64}


def _is_schedule(lr: object) -> bool:
    return isinstance(lr, list)


class TorchAdapter:
    name: ClassVar[str] = "torch"
    description: ClassVar[str] = f"torch.optim.Adam (torch {torch.__version__}, default implementation)"

    def __init__(self, case: Case) -> None:
        self.case = case
        self.dtype = TORCH_DTYPES[case.dtype]
        self.tensors = [self._parameter(p.value.reshape(p.shape)) for p in case.params]
        by_name = dict(zip((p.name for p in case.params), self.tensors))
        # Groups as torch spells them; per-step lr lists are applied in step(),
        # the way an LR scheduler writes group["lr"].
        groups = []
        for group in group_arguments(case, self.name):
            entry = dict(group, params=[by_name[n] for n in group["params"]])
            if "lr" in entry:
                entry["lr"] = self._lr(entry["lr"])
            groups.append(entry)
        kwargs = constructor_arguments(case, self.name)
        kwargs["lr"] = self._lr(kwargs["lr"])
        # The record's class (torch.optim.Adam / AdamW), looked up when the optimizer is built.
        cls = getattr(torch.optim, optimizer_class(self.name))
        self.optimizer = cls(groups or [{"params": self.tensors}], **kwargs)
        self.steps = 0

    def _parameter(self, value: np.ndarray) -> torch.Tensor:
        return torch.nn.Parameter(torch.from_numpy(value.copy()).to(self.dtype))

    def _lr(self, lr: float) -> float | torch.Tensor:
        return lr

    def step(self, grads: list[np.ndarray]) -> None:
        self.steps += 1
        for group, spec_group in zip(self.optimizer.param_groups, self.case.param_groups or [None]):
            if spec_group is None or spec_group.lr is None:
                if _is_schedule(self.case.hp("lr")):
                    self._set_lr(group, lr_at(self.case.hp("lr"), self.steps))
        for j, (tensor, grad) in enumerate(zip(self.tensors, grads)):
            # A missing gradient is .grad = None: torch skips the parameter.
            tensor.grad = (torch.from_numpy(grad.reshape(tensor.shape).copy()).to(self.dtype)
                           if receives_gradient(self.case, self.steps - 1, j) else None)
        self.optimizer.step()

    def _set_lr(self, group: dict, lr: float) -> None:
        group["lr"] = lr

    def history(self, num_steps: int) -> TorchHistory:
        moments = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq") if self.case.hp("amsgrad") else ("exp_avg", "exp_avg_sq")
        return TorchHistory(self.tensors, [p.name for p in self.case.params], self.optimizer.state, moments,
                            self.dtype, num_steps)

    def snapshot(self) -> Snapshot:
        out: Snapshot = {}
        for spec, tensor in zip(self.case.params, self.tensors):
            state = self.optimizer.state.get(tensor, {})
            entry = {"param": as_numpy(tensor)}
            for ours, theirs in (("exp_avg", "exp_avg"), ("exp_avg_sq", "exp_avg_sq"), ("max_exp_avg_sq", "max_exp_avg_sq")):
                if theirs in state:
                    entry[ours] = as_numpy(state[theirs])
            if "step" in state:
                entry["step"] = int(state["step"])
            elif not state:
                # No gradient yet (missing gradients): torch creates the state, zeros,
                # at the parameter's first gradient; until then it is the initial state.
                zeros = np.zeros(entry["param"].size, dtype=entry["param"].dtype)
                entry.update(exp_avg=zeros, exp_avg_sq=zeros, step=0)
                if self.case.hp("amsgrad"):
                    entry["max_exp_avg_sq"] = zeros
            out[spec.name] = entry
        return out


class TorchHistory:
    """A trajectory read from torch tensors (TorchAdapter.history): after every step one
    concatenation of every parameter's value and moments into that step's row of a
    buffer in the case dtype (bfloat16: float32, once at the end). The same values as
    snapshot() after every step, bit for bit (tests/test_torch_adapters.py), at a
    fraction of its cost.

    The row is copied through numpy views of the tensors (`Tensor.numpy()` shares their
    memory): measured between real steps, a torch step followed by np.concatenate costs
    ~77 us where one followed by torch.cat costs ~88 us (torch step alone ~62 us, 1-50
    steps of 0-d to 4-d float32/float64 tensors): the torch call's dispatch, not the
    copy, is what a read between two steps costs. bfloat16, which numpy lacks, is
    copied with torch.cat.

    The moments are the optimizer's state tensors, updated in place by every torch Adam
    form; they are created at a parameter's first gradient, so the tensors a row is built
    from are looked up after every step and their flat views rebuilt when one is new.
    Until a parameter has state its moments and step are 0 (as snapshot() says).

    From SEPARATE_ARRAYS_ELEMENTS elements on, each parameter's quantity has its own
    [steps + 1, n] array written row by row (a copy per quantity a step, which costs
    nothing beside copying a million elements): data() then hands them over as they are,
    where slicing the shared buffer into contiguous arrays held the trajectory twice (a
    1e6-element, 100-step float32 case: 2.4 GB in the worker instead of 1.2), each in a
    file where the caller asks for one (harness/trajectory_files.py row_store)."""

    SEPARATE_ARRAYS_ELEMENTS = 1 << 16

    def __init__(self, tensors: list[torch.Tensor], names: list[str], state: dict, quantities: tuple[str, ...],
                 dtype: torch.dtype, num_steps: int) -> None:
        self.tensors, self.names, self.state, self.quantities = tensors, names, state, quantities
        self.sizes = [tensor.numel() for tensor in tensors]
        self.zeros = [torch.zeros(size, dtype=dtype) for size in self.sizes]
        width = sum(self.sizes) * (1 + len(quantities))
        # One array per parameter and quantity (in the views' order), or one shared buffer.
        self.arrays = ([row_store(num_steps + 1, size, torch.empty(0, dtype=dtype).numpy().dtype)
                        for size in self.sizes for _ in range(1 + len(quantities))]
                       if dtype != torch.bfloat16 and sum(self.sizes) >= self.SEPARATE_ARRAYS_ELEMENTS else None)
        self.buffer = torch.empty((0 if self.arrays else num_steps + 1, width), dtype=dtype)
        self.rows = None if dtype == torch.bfloat16 else self.buffer.numpy()
        self.steps = np.zeros((num_steps + 1, len(tensors)), dtype=np.int64)
        self.sources: list[torch.Tensor | None] = []
        self.views: list = []  # numpy views of the flat tensors (torch tensors in bfloat16)

    def take(self, t: int) -> None:
        sources = []
        for j, tensor in enumerate(self.tensors):
            state = self.state.get(tensor)
            if state:
                sources += [state.get(quantity) for quantity in self.quantities]
                if "step" in state:
                    self.steps[t, j] = int(state["step"])
            else:
                sources += [None] * len(self.quantities)
        if len(sources) != len(self.sources) or any(a is not b for a, b in zip(sources, self.sources)):
            self.sources = sources
            self.views = []
            for j, tensor in enumerate(self.tensors):
                moments = sources[j * len(self.quantities):(j + 1) * len(self.quantities)]
                flat = [tensor.detach().view(-1)] + [self.zeros[j] if m is None else m.detach().view(-1)
                                                     for m in moments]
                self.views += flat if self.rows is None else [view.numpy() for view in flat]
        if self.arrays is not None:
            for view, values in zip(self.views, self.arrays):
                values[t] = view
        elif self.rows is None:
            torch.cat(self.views, out=self.buffer[t])
        else:
            np.concatenate(self.views, out=self.rows[t])

    def data(self) -> dict[str, dict[str, np.ndarray]]:
        if self.arrays is not None:
            arrays = iter(self.arrays)
            return {name: {**{quantity: next(arrays) for quantity in ("param", *self.quantities)},
                           "step": np.ascontiguousarray(self.steps[:, j])} for j, name in enumerate(self.names)}
        # Each quantity's columns copied once out of the buffer (a view of it; bfloat16 through float32).
        values = self.rows if self.rows is not None else self.buffer.float().numpy()
        out, start = {}, 0
        for j, (name, size) in enumerate(zip(self.names, self.sizes)):
            entry = {}
            for quantity in ("param", *self.quantities):
                entry[quantity] = np.ascontiguousarray(values[:, start:start + size])
                start += size
            entry["step"] = np.ascontiguousarray(self.steps[:, j])
            out[name] = entry
        return out


def as_numpy(tensor: torch.Tensor) -> np.ndarray:
    """A tensor's values, flat, in their storage_dtype (harness/adapters/base.py): one
    copy in numpy; bfloat16, which numpy lacks, through float32 (exact)."""
    tensor = tensor.detach()
    if tensor.dtype == torch.bfloat16:
        tensor = tensor.float()
    return as_stored(tensor.numpy())
