"""Adapters for mindspore.mint.optim.Adam (the torch-style API: lr, betas, eps,
weight_decay, amsgrad, maximize) on the CPU backend: `mindspore-mint` calls it as its
users do, in PyNative (MindSpore's default mode; nothing is set), `mindspore-mint-graph`
builds and steps it under GRAPH_MODE.

mint's construct is plain Python (no @jit) and writes the parameter with
`parameters.add_(delta)` and the step with `state_step.add_(1)`. Measured on MindSpore
2.10 CPU in PyNative: Tensor.add_ returns the sum but leaves the tensor unchanged, so the
parameters and state_step never move (exp_avg/exp_avg_sq, written with copy_, do):
registry entry mindspore-mint-pynative-in-place-add-lost (mindspore >= 2.10). Compiled
(GRAPH_MODE or ms.jit) the in-place adds take effect.

Formula (mindspore/mint/optim/adam.py, _run_optim_adamw_opt): torch's, with
state_step a float32 Tensor, so the bias corrections 1 - beta**step are float32 pow
of fl32(beta) whatever the parameter dtype; lr is a float32 Parameter
(experimental/optim/optimizer.py _build_single_lr) and weight_decay a float32 Tensor
(_decay_weight).

Their arguments are the wing's translation (translate.py); their state is read by the
wing's MindSporeState (runtime.py), as nn.Adam's is. Imports MindSpore: loaded after the
wing's setup().
"""

from __future__ import annotations

from typing import ClassVar

import mindspore as ms
import numpy as np
from mindspore import Tensor, mint

from harness.adapters.mindspore.runtime import MindSporeState, case_parameters, execution_mode, to_tensor
from harness.adapters.mindspore.translate import constructor_arguments, group_arguments
from harness.casefile import Case


class MindSporeMintAdapter(MindSporeState):
    name: ClassVar[str] = "mindspore-mint"
    description: ClassVar[str] = f"mindspore.mint.optim.Adam (MindSpore {ms.__version__}, PyNative, CPU)"
    mode: ClassVar[int] = ms.PYNATIVE_MODE

    def __init__(self, case: Case) -> None:
        self.case = case
        with execution_mode(self.mode):
            self.parameters, params = case_parameters(case, group_arguments(case, self.name))
            self.optimizer = mint.optim.Adam(params, **constructor_arguments(case, self.name))
        # Parameter order in the optimizer is group order; snapshots map back by name.
        self.index = {parameter.name: i for i, parameter in enumerate(self.optimizer.parameters)}

    def step(self, grads: list[np.ndarray]) -> None:
        dtype = self.case.np_dtype
        tensors = tuple(to_tensor(grad.astype(dtype).reshape(p.shape), self.case.dtype)
                        for grad, p in zip(grads, self.case.params))
        # The optimizer takes gradients in its own parameter order (group order).
        by_name = dict(zip((p.name for p in self.case.params), tensors))
        ordered = tuple(by_name[parameter.name] for parameter in self.optimizer.parameters)
        with execution_mode(self.mode):
            self.optimizer(ordered)

    def state_tensors(self) -> tuple[Tensor, list[tuple[str, str, Tensor]]]:
        # No max_exp_avg_sq: with amsgrad=True mint computes max(max_exp_avg_sq, v) into a
        # local name and never writes it back (_run_optim_adamw_amsgrad_opt has no copy_
        # for it), so the Parameter stays 0 and holds no state; measured: mint's amsgrad
        # steps equal plain Adam's. Its effect shows in the parameters.
        optimizer, sources = self.optimizer, []
        for spec, parameter in zip(self.case.params, self.parameters):
            i = self.index[parameter.name]
            sources += [(spec.name, "param", parameter), (spec.name, "exp_avg", optimizer.exp_avg[i]),
                        (spec.name, "exp_avg_sq", optimizer.exp_avg_sq[i])]
        return optimizer.state_step, sources


class MindSporeMintGraphAdapter(MindSporeMintAdapter):
    """The same mint.optim.Adam, built and stepped under GRAPH_MODE (the mode is switched
    per call and restored, so it shares a process with the PyNative adapters)."""

    name: ClassVar[str] = "mindspore-mint-graph"
    description: ClassVar[str] = f"mindspore.mint.optim.Adam (MindSpore {ms.__version__}, GRAPH_MODE, CPU)"
    mode: ClassVar[int] = ms.GRAPH_MODE
