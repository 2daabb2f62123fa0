"""What every MindSpore adapter of the wing shares (nn_adam.py, mint_adam.py): tensors in
and out, the execution mode, and reading the optimizer state back (MindSporeState: one
history() and snapshot() for nn.Adam and mint.optim.Adam, which differ only in where
their state lives). Imports MindSpore: loaded in the worker, after the wing's setup()
(harness/adapters/mindspore/__init__.py).
"""

from __future__ import annotations

import contextlib

import mindspore as ms
import numpy as np
from mindspore import Tensor

from harness.adapters.base import Snapshot, as_stored, storage_dtype
from harness.trajectory_files import row_store

_MINDSPORE_DTYPES = {"float16": ms.float16, "bfloat16": ms.bfloat16, "float32": ms.float32, "float64": ms.float64}
_NUMPY_DTYPES = {ms.float16: np.float16, ms.float32: np.float32, ms.float64: np.float64}


def to_tensor(values: np.ndarray, dtype: str) -> Tensor:
    """A Tensor of the case dtype (bfloat16 values arrive as the float32s that hold them).
    Values already of that dtype go in without a dtype argument, which costs 14 us
    instead of 8 us per tensor (a cast MindSpore makes even when there is none to make)."""
    if values.dtype.name == dtype:
        return Tensor(values)
    return Tensor(values, dtype=_MINDSPORE_DTYPES[dtype])


def case_parameters(case, groups: list[dict]) -> tuple[list, list]:
    """The case's parameters as MindSpore Parameters (named as in the case), and what an
    optimizer is built on: the translation's groups (`groups`, parameters by name) with
    the Parameters in them, or the flat list without groups."""
    parameters = [ms.Parameter(to_tensor(p.value.reshape(p.shape).copy(), case.dtype), name=p.name)
                  for p in case.params]
    by_name = dict(zip((p.name for p in case.params), parameters))
    return parameters, ([dict(group, params=[by_name[n] for n in group["params"]]) for group in groups]
                        or parameters)


def tensor_storage_dtype(tensor) -> np.dtype:
    """The storage_dtype of a Tensor's values (bfloat16: float32)."""
    if tensor.dtype == ms.bfloat16:
        return np.dtype(np.float32)
    return storage_dtype(_NUMPY_DTYPES.get(tensor.dtype, np.float64))


def to_numpy(tensor) -> np.ndarray:
    """A Tensor's values, flat, in its storage_dtype (numpy has no bfloat16: through
    float32, exact)."""
    if tensor.dtype == ms.bfloat16:
        tensor = tensor.astype(ms.float32)
    return as_stored(tensor.asnumpy())


# The process's execution mode: get_context("mode") costs 10.7 us (it validates the key
# against the device's options), the context's own getter 0.35 us; a step is ~150 us.
_current_mode = getattr(ms.context, "_get_mode", None) or (lambda: ms.get_context("mode"))


class MindSporeHistory:
    """A trajectory read from MindSpore tensors (the adapters' history()): after every
    step each tensor's values are copied from a numpy view of its storage into that
    step's row of an array in the tensor's storage_dtype, instead of asnumpy() per tensor
    per step (5 us each, most of it numpy parsing the buffer's PEP 3118 format; measured 2.10).

    asnumpy() returns an array sharing the tensor's storage (documented: "changes to self
    tensor will be reflected in the ndarray"; the optimizer writes its Parameters in
    place), so the view is made once and made again whenever the tensor's data_ptr()
    (0.4 us) says its storage moved. The step counter is read with asnumpy() every step,
    which also waits for MindSpore's pending work before any view is read. Bit for bit
    what snapshot() gives (tests/test_mindspore_adapters.py)."""

    def __init__(self, sources: list[tuple[str, str, Tensor]], step: Tensor, num_steps: int) -> None:
        self.sources = sources  # (parameter name, quantity, tensor), in the case's order
        self.step = step
        # Each in memory, or in a file where the caller asks for one (harness/trajectory_files.py).
        self.values = [row_store(num_steps + 1, int(np.prod(tensor.shape)), tensor_storage_dtype(tensor))
                       for _, _, tensor in sources]
        self.steps = np.zeros(num_steps + 1, dtype=np.int64)
        self.views: list[tuple[int, np.ndarray] | None] = [None] * len(sources)

    def take(self, t: int) -> None:
        self.steps[t] = int(self.step.asnumpy().reshape(-1)[0])
        for k, (_, _, tensor) in enumerate(self.sources):
            held, address = self.views[k], tensor.data_ptr()
            if held is None or held[0] != address:
                held = self.views[k] = (address, tensor.asnumpy().reshape(-1))
            self.values[k][t] = held[1]  # the tensor's own dtype (bfloat16 into float32: exact)

    def data(self) -> dict[str, dict[str, np.ndarray]]:
        out: dict[str, dict[str, np.ndarray]] = {}
        for (name, quantity, _), values in zip(self.sources, self.values):
            out.setdefault(name, {})[quantity] = values
        for quantities in out.values():
            quantities["step"] = self.steps.copy()
        return out


@contextlib.contextmanager
def execution_mode(mode: int):
    """Run MindSpore calls under `mode` (ms.PYNATIVE_MODE or ms.GRAPH_MODE) and give the
    process its previous mode back, so GRAPH_MODE adapters and PyNative ones share a
    process (measured: alternating them gives bit-identical results per mode)."""
    previous = _current_mode()
    if previous == mode:  # set_context costs tens of microseconds: twice a step is a tenth of the step
        yield
        return
    ms.set_context(mode=mode)
    try:
        yield
    finally:
        ms.set_context(mode=previous)


class MindSporeState:
    """history() and snapshot() of a MindSpore optimizer, shared by the nn.Adam and mint
    adapters: each says where its state lives (`state_tensors()`: the step counter, and
    per parameter of the case, in the case's order, its (parameter name, quantity,
    tensor) for "param", "exp_avg", "exp_avg_sq" and, where kept, "max_exp_avg_sq")."""

    def state_tensors(self) -> tuple[Tensor, list[tuple[str, str, Tensor]]]:
        raise NotImplementedError

    def history(self, num_steps: int) -> MindSporeHistory:
        step, sources = self.state_tensors()
        return MindSporeHistory(sources, step, num_steps)

    def snapshot(self) -> Snapshot:
        step_tensor, sources = self.state_tensors()
        step = int(step_tensor.asnumpy().reshape(-1)[0])
        out: Snapshot = {}
        for name, quantity, tensor in sources:
            out.setdefault(name, {})[quantity] = to_numpy(tensor)
        for entry in out.values():
            entry["step"] = step
        return out
