"""A case in Keras's terms: the one translation of the Keras wing, used by its adapter,
its bare loops, its reproducer template and the hyperparameter probes
(harness/acceptance.py). Pure Python on the Case (no Keras import: the report renderer
and the validation table read it in the harness process).

keras.optimizers.Adam / AdamW (keras/src/optimizers/adam.py, adamw.py), Keras 3:

    lr                      `learning_rate`: a float (Keras rejects an int: 0 is passed as
                            0.0); a per-step list as Keras users write a step-wise
                            schedule, keras.optimizers.schedules.PiecewiseConstantDecay
                            (boundaries 0 .. n-2 on the optimizer's 0-based iterations, so
                            step k gets lr[k-1] and every step past the end the last value,
                            as the spec's lr_at); a one-value list is that float
                            (PiecewiseConstantDecay needs two values: a constant schedule is
                            a float lr)
    betas                   `beta_1`, `beta_2`
    eps                     `epsilon` (Keras adds it to sqrt(v) before the bias correction:
                            the eps row; its default is 1e-7, torch's 1e-8)
    weight_decay            `weight_decay`, Keras's decoupled decay (base_optimizer.py
                            _apply_weight_decay: var -= var * wd * lr before the update, for
                            Adam as for AdamW): passed when decoupled_weight_decay is set;
                            without weight decay Adam gets none (its default, None) and AdamW
                            weight_decay=0.0 (its default is 0.004)
    decoupled_weight_decay  False with weight_decay > 0 (L2): no counterpart, passed under its
                            own name so Keras rejects it ("Argument(s) not recognized")
    amsgrad                 `amsgrad`
    loss_scale              `loss_scale_factor` (base_optimizer.py apply: the gradients are
                            divided by it before the update), and the gradients given are
                            those of the L-scaled loss (scaled_gradient), as for nn.Adam
    maximize, use_nesterov, eps_root, use_lazy (with row-sparse gradients): no counterpart,
                            passed under their own names, rejected by Keras with its error
    use_locking, use_offload: not passed (single-process math unchanged); use_lazy with
                            dense gradients is plain Adam
    param_groups            no counterpart: a Keras optimizer has one learning rate and one
                            weight decay (the adapter says so; Keras has no name to pass)

A missing gradient is None in apply_gradients' pairs: Keras drops the pair (a warning)
and updates the other variables (receives_gradient). Row-sparse gradients reach Keras as
the dense gradient of a gather (zeros in the rows not listed): non-lazy Adam.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.adapters.base import named_arguments
from harness.casefile import DEFAULT_HYPERPARAMETERS, Case, group_dicts
from harness.catalogue import lookup
from reference.dtypes import cast

ADAM, ADAMW = "keras.optimizers.Adam", "keras.optimizers.AdamW"

# Canonical hyperparameter -> Keras's keyword (None: no counterpart, passed under its
# own name when set, so Keras rejects it).
KEYWORDS: dict[str, str | tuple[str, str] | None] = {
    "lr": "learning_rate", "betas": ("beta_1", "beta_2"), "eps": "epsilon", "amsgrad": "amsgrad",
    "weight_decay": "weight_decay", "loss_scale": "loss_scale_factor",
    "decoupled_weight_decay": None, "maximize": None, "use_nesterov": None, "eps_root": None, "use_lazy": None,
    "use_locking": None, "use_offload": None,
}
# Options Keras has no counterpart for: passed under their own names when set (Keras's
# BaseOptimizer raises ValueError "Argument(s) not recognized: {...}").
NO_COUNTERPART = ("maximize", "use_nesterov", "eps_root")
GROUPS_MESSAGE = ("parameter groups: a Keras optimizer has one learning_rate and one weight_decay for all its "
                  "variables (no per-group options)")


@dataclass(frozen=True)
class PiecewiseConstant:
    """keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values), as data."""

    boundaries: tuple[int, ...]
    values: tuple[float, ...]


def schedule(lr: list) -> PiecewiseConstant | float:
    """A per-step lr list as Keras users write it: PiecewiseConstantDecay on the 0-based
    iterations (step k, 1-based, is iterations k - 1 when its update runs). One value: the float."""
    values = tuple(float(x) for x in lr)
    if len(values) == 1:
        return values[0]
    return PiecewiseConstant(tuple(range(len(values) - 1)), values)


def optimizer_class(implementation: str) -> str:
    """The keras.optimizers class the implementation builds ("Adam", "AdamW")."""
    return lookup(implementation).optimizer.rpartition(".")[2]


def keyword_arguments(key: str, value: Any) -> dict | None:
    """Adam's keyword arguments that set canonical hyperparameter `key` to `value` (None:
    Keras has no such argument). Any value, including those a case cannot hold (the
    hyperparameter probes): a malformed pair of betas goes to beta_1 as it is."""
    return named_arguments(KEYWORDS.get(key), value)



def constructor_arguments(case: Case, implementation: str) -> dict:
    """The keyword arguments keras.optimizers.Adam / AdamW (the record's `optimizer`) is
    built with for the case; learning_rate a float or a PiecewiseConstant (the adapter
    makes it a PiecewiseConstantDecay)."""
    lr = case.hp("lr")
    beta1, beta2 = case.hp("betas")
    kwargs: dict[str, Any] = {
        "learning_rate": schedule(lr) if isinstance(lr, list) else float(lr),
        "beta_1": float(beta1), "beta_2": float(beta2), "epsilon": float(case.hp("eps")),
        "amsgrad": bool(case.hp("amsgrad")),
    }
    weight_decay = float(case.hp("weight_decay"))
    if case.decays() and not case.hp("decoupled_weight_decay"):
        # L2: Keras's weight decay is decoupled only; the keyword goes to Keras, which rejects it.
        kwargs["decoupled_weight_decay"] = False
    if weight_decay != 0.0 or optimizer_class(implementation) == "AdamW":
        kwargs["weight_decay"] = weight_decay
    if case.hp("loss_scale") != 1.0:
        kwargs["loss_scale_factor"] = float(case.hp("loss_scale"))
    for key in NO_COUNTERPART:
        if case.hp(key) != DEFAULT_HYPERPARAMETERS[key]:
            kwargs[key] = case.hp(key)
    if case.hp("use_lazy") and case.sparse_rows:
        kwargs["use_lazy"] = True  # lazy Adam: Keras's dense update touches every row
    return {**kwargs, **lookup(implementation).options}


def group_arguments(case: Case, implementation: str) -> list[dict]:
    """The case's parameter groups, parameters by name ([] without groups). Keras has no
    counterpart (GROUPS_MESSAGE): the adapter refuses a case that has any."""
    return group_dicts(case)


def receives_gradient(case: Case, step: int, index: int) -> bool:
    """Whether parameter `index` has a gradient at 0-based `step`; without one Keras is
    given None for it (apply_gradients drops the pair)."""
    return case.has_gradient(step, index)


def scaled_gradient(case: Case, grad: np.ndarray) -> np.ndarray:
    """What Adam(loss_scale_factor=L) is given for a gradient: the gradient of the L-scaled
    loss (keras's optimizer.scale_loss), g * L rounded to the case dtype (+-inf beyond its
    range), which Keras divides by L before the update. Without loss scaling the
    gradients are already the case dtype's values."""
    loss_scale = case.hp("loss_scale")
    return grad if loss_scale == 1.0 else cast(grad.astype(np.float64) * loss_scale, case.dtype)
