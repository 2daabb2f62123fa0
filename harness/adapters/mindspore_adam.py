"""Adapters for mindspore.nn.Adam on the CPU backend: `mindspore` (PyNative, the
process's mode) and `mindspore-graph` (the same optimizer built and stepped under
GRAPH_MODE).

nn.Adam.construct is decorated with @jit, so the first step of every new optimizer
instance compiles a graph in either mode (measured on 5 parameters: ~30 ms PyNative,
~90 ms GRAPH_MODE; later steps ~0.35 ms in both).
"""

from __future__ import annotations

import contextlib
import os
from typing import ClassVar

# MindSpore logs deprecations (WARNING) and failed graph compiles (ERROR, with a
# traceback wall) through glog; the harness reports those errors itself.
os.environ.setdefault("GLOG_v", "4")
# PyNative ops dispatched by the calling thread, not handed to MindSpore's frontend_queue
# thread: that thread and the caller's wait on it both spin, so every PyNative step kept
# 1.75 cores busy for the 1.0 it needs (measured, 2.10 on CPU: 3000 steps of one 12-element
# parameter, 166 us a step with cpu/wall 1.75; single-threaded 148 us with cpu/wall 1.00).
# A sweep runs one worker per framework on every core, so the spinning halved what the
# other processes got. The same kernels run either way (tests/test_mindspore_adapters.py:
# bit-identical trajectories); read when the first op is dispatched, so setting it here,
# before any, is enough. MS_DEV_HOST_BLOCKING_RUN=0 in the environment keeps the default.
os.environ.setdefault("MS_DEV_HOST_BLOCKING_RUN", "1")

import mindspore as ms  # noqa: E402
import numpy as np  # noqa: E402
from mindspore import Parameter, Tensor, nn  # noqa: E402
from mindspore.common.sparse_tensor import RowTensorInner  # noqa: E402

from harness.adapters.base import Snapshot, as_float64  # noqa: E402
from harness.casefile import Case  # noqa: E402
from harness.row_sparse import row_sparse  # noqa: E402
from harness.rows import ROWS_BY_ID  # noqa: E402
from reference.dtypes import cast  # noqa: E402

ms.set_context(mode=ms.PYNATIVE_MODE)
try:
    ms.set_device("CPU")
except RuntimeError:
    # MindSpore already ran in this process (e.g. harness/validation.py's probes before
    # this module was first imported): its runtime started on the CPU, the only device
    # the harness targets, and set_device may only come before that.
    pass


_MINDSPORE_DTYPES = {"float16": ms.float16, "bfloat16": ms.bfloat16, "float32": ms.float32, "float64": ms.float64}


def to_tensor(values: np.ndarray, dtype: str) -> Tensor:
    """A Tensor of the case dtype (bfloat16 values arrive as the float32s that hold them).
    Values already of that dtype go in without a dtype argument, which costs 14 us
    instead of 8 us per tensor (a cast MindSpore makes even when there is none to make)."""
    if values.dtype.name == dtype:
        return Tensor(values)
    return Tensor(values, dtype=_MINDSPORE_DTYPES[dtype])


def to_numpy(tensor) -> np.ndarray:
    """float64 values of a Tensor (numpy has no bfloat16: through float32, exact)."""
    if tensor.dtype == ms.bfloat16:
        tensor = tensor.astype(ms.float32)
    return as_float64(tensor.asnumpy())


# The process's execution mode: get_context("mode") costs 10.7 us (it validates the key
# against the device's options), the context's own getter 0.35 us; a step is ~150 us.
_current_mode = getattr(ms.context, "_get_mode", None) or (lambda: ms.get_context("mode"))


class MindSporeHistory:
    """A trajectory read from MindSpore tensors (the adapters' history()): after every
    step each tensor's values are copied from a numpy view of its storage into that
    step's row of a float64 array, instead of asnumpy() per tensor per step (5 us each,
    most of it numpy parsing the buffer's PEP 3118 format; measured 2.10).

    asnumpy() returns an array sharing the tensor's storage (documented: "changes to self
    tensor will be reflected in the ndarray"; the optimizer writes its Parameters in
    place), so the view is made once and made again whenever the tensor's data_ptr()
    (0.4 us) says its storage moved. The step counter is read with asnumpy() every step,
    which also waits for MindSpore's pending work before any view is read. Bit for bit
    what snapshot() gives (tests/test_mindspore_adapters.py)."""

    def __init__(self, sources: list[tuple[str, str, Tensor]], step: Tensor, num_steps: int) -> None:
        self.sources = sources  # (parameter name, quantity, tensor), in the case's order
        self.step = step
        self.values = [np.zeros((num_steps + 1, int(np.prod(tensor.shape))), dtype=np.float64)
                       for _, _, tensor in sources]
        self.steps = np.zeros(num_steps + 1, dtype=np.int64)
        self.views: list[tuple[int, np.ndarray] | None] = [None] * len(sources)

    def take(self, t: int) -> None:
        self.steps[t] = int(self.step.asnumpy().reshape(-1)[0])
        for k, (_, _, tensor) in enumerate(self.sources):
            held, address = self.views[k], tensor.data_ptr()
            if held is None or held[0] != address:
                held = self.views[k] = (address, tensor.asnumpy().reshape(-1))
            self.values[k][t] = held[1]  # float64 row: exact for float16/32/64 (and ml_dtypes bfloat16)

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


class _RowSparseStep(nn.Cell):
    """Calls the optimizer with RowTensor gradients built inside the cell: a RowTensor
    cannot be passed in from Python (PyNative: "cannot be converted to MindSpore
    type"), it exists only inside a graph, where a sparse gather's backward makes one.
    Measured: runs under GRAPH_MODE; each new number of indices recompiles."""

    def __init__(self, optimizer, shapes: tuple) -> None:
        super().__init__(auto_prefix=False)  # the parameters keep the case's names
        self.optimizer = optimizer
        self.shapes = shapes

    def construct(self, *indices_and_values):
        # Flat (indices, values, indices, values ...): measured, a loop over two tuple
        # arguments (indices[i], values[i]) compiled every i to i = 0, handing the
        # first parameter's gradient to all of them.
        grads = ()
        for i in range(len(self.shapes)):
            grads = grads + (RowTensorInner(indices_and_values[2 * i], indices_and_values[2 * i + 1],
                                            self.shapes[i]),)
        return self.optimizer(grads)


class _TableSchedule(nn.learning_rate_schedule.LearningRateSchedule):
    """A LearningRateSchedule that reads the case's per-step lr from a table; past the
    table's end it keeps the last value (the spec's reading of a schedule that ended),
    which MindSpore's list / Tensor forms cannot say (they fail past the end)."""

    def __init__(self, values: list[float]) -> None:
        super().__init__()
        self.table = Tensor(np.asarray(values, dtype=np.float32))
        self.last = len(values) - 1

    def construct(self, global_step):
        return ms.ops.gather(self.table, ms.ops.minimum(global_step, self.last), 0)


# How a per-step lr (a list in the case) reaches nn.Adam: a Python list, a 1-d float32
# Tensor, or a LearningRateSchedule cell (mindspore/nn/optim/optimizer.py _preprocess_dynamic_learning_rate).
LR_FORMS = {
    "list": list,
    "tensor": lambda values: Tensor(np.asarray(values, dtype=np.float32)),
    "schedule": _TableSchedule,
}


def _mindspore_kwargs(case: Case, lr_form: str = "list") -> dict:
    kwargs: dict = {}
    for row_id in ("eps", "weight_decay", "amsgrad", "betas", "use_locking", "use_nesterov", "loss_scale",
                   "use_lazy", "use_offload"):
        for key, ms_key in ROWS_BY_ID[row_id].mindspore_args.items():
            if isinstance(ms_key, tuple):
                kwargs.update(zip(ms_key, case.hp(key)))
            else:
                kwargs[ms_key] = case.hp(key)
    lr = case.hp("lr")
    kwargs[ROWS_BY_ID["lr"].mindspore_args["lr"]] = LR_FORMS[lr_form](lr) if isinstance(lr, list) else lr
    # No counterpart in nn.Adam: passed under its own name so MindSpore rejects it with
    # its own error (the catalogue says "no counterpart").
    if case.hp("maximize"):
        kwargs["maximize"] = True
    if case.hp("decoupled_weight_decay"):
        kwargs["decoupled_weight_decay"] = True
    return kwargs


class MindSporeAdapter:
    name: ClassVar[str] = "mindspore"
    framework: ClassVar[str] = "mindspore"
    description: ClassVar[str] = f"mindspore.nn.Adam (MindSpore {ms.__version__}, PyNative, CPU)"
    mode: ClassVar[int] = ms.PYNATIVE_MODE
    # optimizer.target: None keeps the default (the device, i.e. the in-graph
    # gather/scatter path for RowTensor gradients); "CPU" selects the host Fused
    # sparse kernels (FusedSparseLazyAdam / FusedSparseAdam).
    target: ClassVar[str | None] = None
    # How a per-step lr is passed (LR_FORMS); a single lr is passed as a number by all.
    lr_form: ClassVar[str] = "list"

    def __init__(self, case: Case) -> None:
        with execution_mode(self.mode):
            self._build(case)

    def _build(self, case: Case) -> None:
        self.case = case
        self.parameters = [Parameter(to_tensor(p.value.reshape(p.shape).copy(), case.dtype), name=p.name)
                           for p in case.params]
        by_name = dict(zip((p.name for p in case.params), self.parameters))
        if case.param_groups:
            params: list = []
            for group in case.param_groups:
                entry: dict = {"params": [by_name[n] for n in group.params]}
                if group.lr is not None:
                    entry["lr"] = group.lr
                if group.weight_decay is not None:
                    entry["weight_decay"] = group.weight_decay
                params.append(entry)
        else:
            params = self.parameters
        self.optimizer = nn.Adam(params, **_mindspore_kwargs(case, self.lr_form))
        self.loss_scale = case.hp("loss_scale")
        # nn.Optimizer orders its parameters (and moment1/moment2/vhat, and the
        # gradients it expects) group by group, which need not be the case's order.
        self.order = [parameter.name for parameter in self.optimizer._parameters]
        self.index = {name: i for i, name in enumerate(self.order)}
        position = {p.name: i for i, p in enumerate(case.params)}
        self.case_positions = [position[name] for name in self.order]  # the optimizer's order, as case indices
        if self.target is not None:
            self.optimizer.target = self.target
        self.steps = 0
        if case.sparse_rows:
            self.row_sparse_step = _RowSparseStep(
                self.optimizer, tuple(tuple(parameter.shape) for parameter in self.optimizer._parameters))

    def step(self, grads: list[np.ndarray]) -> None:
        # With loss_scale=L MindSpore expects the gradients of the L-scaled loss: g * L
        # rounded to the case dtype (+-inf beyond its range), as backprop of a scaled
        # loss gives. L itself is never a float16 number: fl16(65536) is inf, which made
        # every gradient +-inf (thorough-profile finding in this adapter, not MindSpore).
        # (Without loss scaling the gradients are already the case dtype's values.)
        scaled = [grad if self.loss_scale == 1.0 else cast(grad.astype(np.float64) * self.loss_scale, self.case.dtype)
                  for grad in grads]
        with execution_mode(self.mode):
            if self.case.sparse_rows:
                pieces = [row_sparse(self.case, self.steps, i, scaled[i]) for i in self.case_positions]
                self.row_sparse_step(*(tensor for indices, values in pieces
                                       for tensor in (Tensor(indices.astype(np.int32)), to_tensor(values, self.case.dtype))))
            else:
                self.optimizer(tuple(to_tensor(scaled[i].reshape(self.case.params[i].shape), self.case.dtype)
                                     for i in self.case_positions))
        self.steps += 1

    def history(self, num_steps: int) -> MindSporeHistory:
        optimizer, sources = self.optimizer, []
        for spec, parameter in zip(self.case.params, self.parameters):
            i = self.index[spec.name]
            sources += [(spec.name, "param", parameter), (spec.name, "exp_avg", optimizer.moment1[i]),
                        (spec.name, "exp_avg_sq", optimizer.moment2[i])]
            if getattr(optimizer, "use_amsgrad", False):
                sources.append((spec.name, "max_exp_avg_sq", optimizer.vhat[i]))
        return MindSporeHistory(sources, optimizer.global_step, num_steps)

    def snapshot(self) -> Snapshot:
        optimizer = self.optimizer
        step = int(optimizer.global_step.asnumpy().reshape(-1)[0])
        out: Snapshot = {}
        for spec, parameter in zip(self.case.params, self.parameters):
            i = self.index[spec.name]
            entry = {
                "param": to_numpy(parameter),
                "exp_avg": to_numpy(optimizer.moment1[i]),
                "exp_avg_sq": to_numpy(optimizer.moment2[i]),
                "step": step,
            }
            if getattr(optimizer, "use_amsgrad", False):
                entry["max_exp_avg_sq"] = to_numpy(optimizer.vhat[i])
            out[spec.name] = entry
        return out


class MindSporeGraphAdapter(MindSporeAdapter):
    """The same nn.Adam, built and stepped under GRAPH_MODE (the whole construct is
    compiled by the graph executor rather than as a @jit function inside PyNative)."""

    name: ClassVar[str] = "mindspore-graph"
    description: ClassVar[str] = f"mindspore.nn.Adam (MindSpore {ms.__version__}, GRAPH_MODE, CPU)"
    mode: ClassVar[int] = ms.GRAPH_MODE


class MindSporeTargetCpuAdapter(MindSporeGraphAdapter):
    """nn.Adam under GRAPH_MODE with optimizer.target = 'CPU': RowTensor gradients go to
    the host Fused sparse kernels instead of the in-graph gather/scatter path (dense
    gradients take the same kernels as mindspore-graph)."""

    name: ClassVar[str] = "mindspore-target-cpu"
    description: ClassVar[str] = f"mindspore.nn.Adam (MindSpore {ms.__version__}, GRAPH_MODE, target='CPU')"
    target: ClassVar[str | None] = "CPU"


class MindSporeLrTensorAdapter(MindSporeAdapter):
    """nn.Adam (PyNative) with a per-step learning rate as a 1-d float32 Tensor."""

    name: ClassVar[str] = "mindspore-lr-tensor"
    description: ClassVar[str] = f"mindspore.nn.Adam(learning_rate=Tensor 1-d) (MindSpore {ms.__version__}, PyNative, CPU)"
    lr_form: ClassVar[str] = "tensor"


class MindSporeLrScheduleAdapter(MindSporeAdapter):
    """nn.Adam (PyNative) with a per-step learning rate as a LearningRateSchedule cell."""

    name: ClassVar[str] = "mindspore-lr-schedule"
    description: ClassVar[str] = (f"mindspore.nn.Adam(learning_rate=LearningRateSchedule) (MindSpore {ms.__version__}, "
                                  "PyNative, CPU)")
    lr_form: ClassVar[str] = "schedule"
