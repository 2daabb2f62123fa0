"""Adapter for keras.optimizers.Adam / AdamW (Keras 3, jax backend, CPU), driven as a
custom training loop drives it: the parameters are keras.Variables of the case dtype and
every step is `optimizer.apply_gradients(zip(grads, variables))`, eager (the jax backend
runs each op as it is called; nothing is jitted: model.fit's train step would be).

The state is read from the optimizer's own variables: its `momentums` and `velocities`
(and `velocity_hats` with amsgrad) per variable, and `iterations`, the optimizer's one
step counter (int32 on jax), shared by all variables: Keras has no per-variable step, so
every parameter reports `iterations` as its step (with a missing gradient the spec's own
count of that parameter lags behind it: registry keras-missing-gradient-global-step).

float64: on the jax backend with jax_enable_x64 off (JAX's default, the wing's setup())
a keras.Variable(dtype="float64") holds float32 values; JAX says so with a UserWarning
("Explicitly requested dtype float64 requested in asarray is not available, and will be
truncated to dtype float32") and Keras goes on in float32. The adapter makes that
warning the error of building the optimizer, so the run is reported unsupported with
JAX's own words (harness/catalogue.py) rather than float32 numbers recorded as float64.

Its arguments are the wing's translation (translate.py); imports Keras (and JAX): loaded
after the wing's setup() (harness/adapters/keras/__init__.py).
"""

from __future__ import annotations

import warnings
from typing import ClassVar

import jax
import keras
import numpy as np

from harness.adapters.base import Snapshot, as_stored
from harness.adapters.keras.translate import (GROUPS_MESSAGE, PiecewiseConstant, constructor_arguments,
                                              optimizer_class, receives_gradient, scaled_gradient)
from harness.casefile import Case

_VERSION = f"Keras {keras.__version__}, {keras.backend.backend()} backend (jax {jax.__version__}), CPU, eager"


def learning_rate(value: float | PiecewiseConstant):
    """The learning_rate argument: a float, or the schedule the translation describes."""
    if isinstance(value, PiecewiseConstant):
        return keras.optimizers.schedules.PiecewiseConstantDecay(list(value.boundaries), list(value.values))
    return value


def as_numpy(variable) -> np.ndarray:
    """A variable's values, flat, in their storage_dtype (harness/adapters/base.py:
    bfloat16, which numpy holds through ml_dtypes, as float32, exactly)."""
    return as_stored(np.asarray(variable.value))


class KerasAdapter:
    name: ClassVar[str] = "keras-adam"
    description: ClassVar[str] = f"keras.optimizers.Adam ({_VERSION})"

    def __init__(self, case: Case) -> None:
        if case.param_groups:
            raise ValueError(GROUPS_MESSAGE)
        if jax.config.jax_enable_x64:
            raise RuntimeError("jax_enable_x64 is on in this process: the Keras records are JAX's default (off)")
        self.case = case
        kwargs = constructor_arguments(case, self.name)
        kwargs["learning_rate"] = learning_rate(kwargs["learning_rate"])
        # The optimizer first: an option Keras does not take fails with Keras's own error
        # whatever else the case holds (a float64 case without a counterpart for its
        # weight decay reports the decay, the reason its kind is declared for).
        self.optimizer = getattr(keras.optimizers, optimizer_class(self.name))(**kwargs)
        with warnings.catch_warnings():
            # JAX's "Explicitly requested dtype float64 ... truncated to dtype float32"
            # (x64 off): a float64 variable that is not one; see the module docstring.
            warnings.filterwarnings("error", message=r"Explicitly requested dtype", category=UserWarning)
            # bfloat16 values arrive as the float32s that hold them (exact).
            self.variables = [keras.Variable(p.value.reshape(p.shape), dtype=case.dtype)
                              for p in case.params]
        # Built on the variables now (apply_gradients would build it on the first call), so
        # that the state before the first step exists and is read like any other.
        self.optimizer.build(self.variables)
        self.steps = 0

    def step(self, grads: list[np.ndarray]) -> None:
        case, t = self.case, self.steps
        self.steps += 1
        pairs = []
        for j, (variable, grad, spec) in enumerate(zip(self.variables, grads, case.params)):
            if not receives_gradient(case, t, j):
                pairs.append((None, variable))  # Keras drops the pair (a missing gradient)
                continue
            value = scaled_gradient(case, np.asarray(grad)).reshape(spec.shape)
            pairs.append((keras.ops.convert_to_tensor(value, dtype=case.dtype), variable))
        self.optimizer.apply_gradients(pairs)

    def snapshot(self) -> Snapshot:
        optimizer = self.optimizer
        step = int(np.asarray(optimizer.iterations.value))
        out: Snapshot = {}
        for spec, variable in zip(self.case.params, self.variables):
            # Keras's per-variable state lists (adam.py build: add_optimizer_variables),
            # indexed as its update_step indexes them.
            i = optimizer._get_variable_index(variable)
            entry = {"param": as_numpy(variable), "exp_avg": as_numpy(optimizer._momentums[i]),
                     "exp_avg_sq": as_numpy(optimizer._velocities[i]), "step": step}
            if self.case.hp("amsgrad"):
                entry["max_exp_avg_sq"] = as_numpy(optimizer._velocity_hats[i])
            out[spec.name] = entry
        return out


class KerasAdamWAdapter(KerasAdapter):
    """keras.optimizers.AdamW: Adam with weight_decay=0.004 by default (the translation
    passes the case's, 0.0 without decay)."""

    name: ClassVar[str] = "keras-adamw"
    description: ClassVar[str] = f"keras.optimizers.AdamW ({_VERSION})"
