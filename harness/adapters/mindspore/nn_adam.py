"""Adapters for mindspore.nn.Adam on the CPU backend: `mindspore` (PyNative, the
process's mode) and `mindspore-graph` (the same optimizer built and stepped under
GRAPH_MODE), `mindspore-target-cpu`, `mindspore-lr-tensor`, `mindspore-lr-schedule`.
Their arguments are the wing's translation (translate.py); their state is read by the
wing's MindSporeState (runtime.py). Imports MindSpore: loaded after the wing's setup().

nn.Adam.construct is decorated with @jit, so the first step of every new optimizer
instance compiles a graph in either mode (measured on 5 parameters: ~30 ms PyNative,
~90 ms GRAPH_MODE; later steps ~0.35 ms in both).
"""

from __future__ import annotations

from typing import ClassVar

import mindspore as ms
import numpy as np
from mindspore import Tensor, nn
from mindspore.common.sparse_tensor import RowTensorInner

from harness.adapters.mindspore.runtime import MindSporeState, case_parameters, execution_mode, to_tensor
from harness.adapters.mindspore.translate import constructor_arguments, group_arguments, scaled_gradient
from harness.casefile import Case
from harness.row_sparse import row_sparse


class RowSparseStep(nn.Cell):
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


class TableSchedule(nn.learning_rate_schedule.LearningRateSchedule):
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
    "schedule": TableSchedule,
}


class MindSporeAdapter(MindSporeState):
    name: ClassVar[str] = "mindspore"
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
        self.parameters, params = case_parameters(case, group_arguments(case, self.name))
        self.optimizer = nn.Adam(params, **constructor_arguments(case, self.name, LR_FORMS[self.lr_form]))
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
            self.row_sparse_step = RowSparseStep(
                self.optimizer, tuple(tuple(parameter.shape) for parameter in self.optimizer._parameters))

    def step(self, grads: list[np.ndarray]) -> None:
        # With loss_scale=L nn.Adam is given the gradients of the L-scaled loss (the translation).
        scaled = [scaled_gradient(self.case, grad) for grad in grads]
        with execution_mode(self.mode):
            if self.case.sparse_rows:
                pieces = [row_sparse(self.case, self.steps, i, scaled[i]) for i in self.case_positions]
                self.row_sparse_step(*(tensor for indices, values in pieces
                                       for tensor in (Tensor(indices.astype(np.int32)), to_tensor(values, self.case.dtype))))
            else:
                self.optimizer(tuple(to_tensor(scaled[i].reshape(self.case.params[i].shape), self.case.dtype)
                                     for i in self.case_positions))
        self.steps += 1

    def state_tensors(self) -> tuple[Tensor, list[tuple[str, str, Tensor]]]:
        optimizer, sources = self.optimizer, []
        for spec, parameter in zip(self.case.params, self.parameters):
            i = self.index[spec.name]
            sources += [(spec.name, "param", parameter), (spec.name, "exp_avg", optimizer.moment1[i]),
                        (spec.name, "exp_avg_sq", optimizer.moment2[i])]
            if getattr(optimizer, "use_amsgrad", False):
                sources.append((spec.name, "max_exp_avg_sq", optimizer.vhat[i]))
        return optimizer.global_step, sources


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
