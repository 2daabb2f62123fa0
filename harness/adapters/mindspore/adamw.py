"""Adapters for MindSpore's AdamW classes on the CPU backend, each called as its users
call it, in PyNative (MindSpore's default mode; the wing's setup() sets nothing else):

    mindspore-adamweightdecay     mindspore.nn.AdamWeightDecay(params, learning_rate, beta1,
                                  beta2, eps, weight_decay); optimizer(grads). construct is
                                  @jit: the P.AdamWeightDecay kernel, m += (g - m) * (1 - beta1),
                                  v += (g * g - v) * (1 - beta2), w -= lr * (m / (sqrt(v) + eps)
                                  + weight_decay * w): no bias correction at all; beta1, beta2,
                                  eps, lr and weight_decay float32 (nn/optim/adam.py
                                  AdamWeightDecay, _run_fused_adam_weight_decay_opt; CPU kernel
                                  adam_weight_decay_cpu_kernel.cc, nnacl/fp32/adam_fp32.c
                                  AdamWeightDecayFp32). Its defaults are not torch's: eps 1e-6,
                                  weight_decay 0.0 (the translation passes the case's). With a
                                  flat parameter list, weight decay skips names containing
                                  'beta' or 'gamma' (nn.Optimizer's decay_filter).
    mindspore-experimental-adamw  mindspore.experimental.optim.AdamW(params, lr, betas, eps,
                                  weight_decay, amsgrad, maximize=); plain Python construct,
                                  its arithmetic an @jit `implementation` (torch's AdamW form:
                                  w * (1 - lr * weight_decay) - lr / (1 - beta1^t) * m /
                                  (sqrt(v) / sqrt(1 - beta2^t) + eps); state_step an int32
                                  Tensor, lr a float32 Parameter).
    mindspore-mint-adamw          mindspore.mint.optim.AdamW(...): the gen.AdamW primitive,
                                  which has no CPU kernel ("Supported Platforms: Ascend").

Their arguments are the wing's translation (translate.py); their state is read by the
wing's MindSporeState (runtime.py). Imports MindSpore: loaded after the wing's setup().
"""

from __future__ import annotations

from typing import ClassVar

import mindspore as ms
import numpy as np
from mindspore import Tensor, mint, nn
from mindspore.experimental import optim as experimental_optim

from harness.adapters.mindspore.runtime import MindSporeState, case_parameters, execution_mode, to_tensor
from harness.adapters.mindspore.translate import constructor_arguments, group_arguments
from harness.casefile import Case


class _AdamWAdapter(MindSporeState):
    """Builds the record's optimizer class on the case's parameters (groups by name) and
    steps it with the gradients in the optimizer's own parameter order (group order)."""

    name: ClassVar[str]
    mode: ClassVar[int] = ms.PYNATIVE_MODE

    def __init__(self, case: Case) -> None:
        self.case = case
        with execution_mode(self.mode):
            self.parameters, params = case_parameters(case, group_arguments(case, self.name))
            self.optimizer = self.build(params, constructor_arguments(case, self.name))
        self.order = [parameter.name for parameter in self.optimizer_parameters()]
        self.index = {name: i for i, name in enumerate(self.order)}

    def build(self, params, kwargs: dict):
        raise NotImplementedError

    def optimizer_parameters(self) -> list:
        return list(self.optimizer.parameters)

    # Where the class keeps its state: the moments' attributes (lists in the optimizer's
    # parameter order), the running maximum's (None: not read), the step counter's.
    first_moments: ClassVar[str] = "exp_avg"
    second_moments: ClassVar[str] = "exp_avg_sq"
    maxima: ClassVar[str | None] = None
    step_counter: ClassVar[str] = "state_step"

    def state_tensors(self) -> tuple[Tensor, list[tuple[str, str, Tensor]]]:
        optimizer, sources = self.optimizer, []
        for spec, parameter in zip(self.case.params, self.parameters):
            i = self.index[spec.name]
            sources += [(spec.name, "param", parameter),
                        (spec.name, "exp_avg", getattr(optimizer, self.first_moments)[i]),
                        (spec.name, "exp_avg_sq", getattr(optimizer, self.second_moments)[i])]
            if self.maxima is not None and self.case.hp("amsgrad"):
                sources.append((spec.name, "max_exp_avg_sq", getattr(optimizer, self.maxima)[i]))
        return getattr(optimizer, self.step_counter), sources

    def step(self, grads: list[np.ndarray]) -> None:
        by_name = {p.name: to_tensor(grad.astype(self.case.np_dtype).reshape(p.shape), self.case.dtype)
                   for grad, p in zip(grads, self.case.params)}
        with execution_mode(self.mode):
            self.optimizer(tuple(by_name[name] for name in self.order))


class MindSporeAdamWeightDecayAdapter(_AdamWAdapter):
    name: ClassVar[str] = "mindspore-adamweightdecay"
    description: ClassVar[str] = f"mindspore.nn.AdamWeightDecay (MindSpore {ms.__version__}, PyNative, CPU)"

    def build(self, params, kwargs: dict):
        return nn.AdamWeightDecay(params, **kwargs)

    first_moments, second_moments, step_counter = "moments1", "moments2", "global_step"

    def optimizer_parameters(self) -> list:
        return list(self.optimizer._parameters)


class MindSporeExperimentalAdamWAdapter(_AdamWAdapter):
    name: ClassVar[str] = "mindspore-experimental-adamw"
    description: ClassVar[str] = (f"mindspore.experimental.optim.AdamW (MindSpore {ms.__version__}, PyNative, "
                                  "CPU)")

    maxima = "max_exp_avg_sq"

    def build(self, params, kwargs: dict):
        return experimental_optim.AdamW(params, **kwargs)


class MindSporeMintAdamWAdapter(_AdamWAdapter):
    """mint.optim.AdamW: its running maximum lives in its group (group["max_exp_avg_sq"]);
    its state_step starts at -1 and is advanced with add_ before each step."""

    name: ClassVar[str] = "mindspore-mint-adamw"
    description: ClassVar[str] = f"mindspore.mint.optim.AdamW (MindSpore {ms.__version__}, PyNative, CPU)"

    def build(self, params, kwargs: dict):
        return mint.optim.AdamW(params, **kwargs)
