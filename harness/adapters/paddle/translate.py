"""A case in PaddlePaddle's terms: the one translation of the paddle wing, used by its
adapter, its bare loops, its reproducer templates and the hyperparameter probes. Pure
Python on the Case (no paddle import: the report renderer reads it in the harness process).

paddle.optimizer.Adam / AdamW (python/paddle/optimizer/adam.py, adamw.py, paddle 3.3):

    lr                      `learning_rate`, a Python float (paddle refuses an int: "learning
                            rate should be float or LRScheduler"); a per-step list is an
                            LRScheduler as users write one: paddle.optimizer.lr.LambdaDecay(
                            learning_rate=1.0, lr_lambda=lambda k: lrs[min(k, len - 1)]),
                            scheduler.step() after every optimizer step (`lr_schedule`)
    betas                   split into `beta1`, `beta2`
    eps                     `epsilon` (the kernel adds epsilon * sqrt(1 - beta2^t) to the
                            uncorrected sqrt(v): torch's placement, algebraically)
    weight_decay            Adam: a float is L2Decay(coeff), coupled (added to the gradient
                            before the kernel: Optimizer._create_regularization_of_grad);
                            not passed at all when the case has none (a float 0.0 would still
                            be a regularizer, which Adam refuses with row-sparse gradients);
                            AdamW: the decoupled coefficient (`weight_decay`, default 0.01,
                            so always passed), param -= lr * coeff * param before the update
    decoupled_weight_decay  Adam has no decoupled form, AdamW no coupled one: passed under
                            its own name when it asks for the other one (TypeError: no
                            counterpart); without any decay the two are the same algorithm
    amsgrad                 `amsgrad` (paddle 3.x; moment2_max)
    use_lazy                `lazy_mode`: with row-sparse (SelectedRows) gradients only the
                            listed rows are updated; with dense gradients it changes nothing
    maximize                no counterpart: passed under its own name (TypeError)
    use_nesterov, loss_scale  no counterpart: passed under their own names (TypeError)
    use_locking, use_offload  not passed: single-process math is unchanged
    eps_root                no counterpart: passed under its own name (TypeError)

Parameter groups: a list of dicts with 'params', 'learning_rate' and 'weight_decay'.
A group's 'learning_rate' is a *ratio*: the group's lr is the optimizer's learning_rate
times it (Optimizer._create_param_lr: `self._global_learning_rate() * param_lr`), so a
case's absolute group lr is passed as group_lr / lr; with lr = 0 the optimizer's
learning_rate is 1.0 and every group's ratio is its absolute lr. A group's 'weight_decay'
(Adam) is a float coefficient of L2Decay, (AdamW) the decoupled coefficient.

A missing gradient: users run loss.backward(); optimizer.step(); optimizer.clear_grad(),
and clear_grad() (set_to_zero=True, the default) leaves a zero gradient that the next
step() uses: a parameter without a gradient at a step is skipped only until its first
gradient, afterwards it is updated with zeros (`receives_gradient` says which).
"""

from __future__ import annotations

from typing import Any

from harness.adapters.base import named_arguments
from harness.casefile import DEFAULT_HYPERPARAMETERS, Case
from harness.catalogue import lookup

ADAM, ADAMW = "paddle.optimizer.Adam", "paddle.optimizer.AdamW"

# Canonical options paddle's Adam/AdamW have no counterpart for: passed under these
# names when set, so paddle rejects them with its own TypeError.
NO_COUNTERPART = ("maximize", "use_nesterov", "loss_scale")

# canonical key -> paddle keyword(s)
_NAMES: dict[str, Any] = {"lr": "learning_rate", "betas": ("beta1", "beta2"), "eps": "epsilon",
                          "weight_decay": "weight_decay", "amsgrad": "amsgrad", "use_lazy": "lazy_mode"}


def keyword_arguments(key: str, value: Any) -> dict | None:
    """paddle.optimizer.Adam's keyword arguments that set canonical hyperparameter `key`
    to `value` (None: paddle has no such argument). Any value (the probes pass odd ones)."""
    return named_arguments(_NAMES.get(key), value)


def optimizer_class(implementation: str) -> str:
    """"Adam" or "AdamW": the record's class."""
    return lookup(implementation).optimizer.rpartition(".")[2]



def base_lr(case: Case) -> float:
    """The optimizer's learning_rate for a single-number lr (see the module docstring)."""
    lr = case.hp("lr")
    if isinstance(lr, list):
        return 1.0  # a LambdaDecay's base: the lambda gives the lr itself
    if lr == 0.0 and any(g.lr is not None for g in case.param_groups):
        return 1.0
    return float(lr)


def lr_schedule(case: Case) -> list[float] | None:
    """The per-step lr list a LambdaDecay(learning_rate=1.0) returns (None: a number)."""
    lr = case.hp("lr")
    return [float(x) for x in lr] if isinstance(lr, list) else None


def constructor_arguments(case: Case, implementation: str) -> dict:
    """The keyword arguments of the record's class, except `parameters` (group_arguments)
    and, for a per-step lr, `learning_rate` (then 1.0 here: the scheduler replaces it)."""
    cls = optimizer_class(implementation)
    beta1, beta2 = case.hp("betas")
    kwargs: dict = {"learning_rate": base_lr(case), "beta1": float(beta1), "beta2": float(beta2),
                    "epsilon": float(case.hp("eps"))}
    decoupled = bool(case.hp("decoupled_weight_decay"))
    weight_decay = float(case.hp("weight_decay"))
    if cls == "AdamW":
        kwargs["weight_decay"] = weight_decay  # AdamW's default is 0.01: always passed
        if case.decays() and not decoupled:
            kwargs["decoupled_weight_decay"] = False  # AdamW only decouples: TypeError
    else:
        if weight_decay != 0.0:
            kwargs["weight_decay"] = weight_decay  # L2Decay(weight_decay)
        if case.decays() and decoupled:
            kwargs["decoupled_weight_decay"] = True  # Adam only couples: TypeError
    if case.hp("amsgrad"):
        kwargs["amsgrad"] = True
    if case.hp("use_lazy"):
        kwargs["lazy_mode"] = True
    kwargs.update(lookup(implementation).options)
    for key in NO_COUNTERPART:
        if case.hp(key) != DEFAULT_HYPERPARAMETERS[key]:
            kwargs[key] = case.hp(key)
    if case.hp("eps_root"):
        kwargs["eps_root"] = case.hp("eps_root")
    return kwargs


def group_arguments(case: Case, implementation: str) -> list[dict]:
    """The case's groups as paddle takes them, parameters by name ([] without groups):
    'learning_rate' as a ratio of the optimizer's learning_rate, 'weight_decay' a float."""
    if not case.param_groups:
        return []
    base = base_lr(case)
    explicit_ratios = base == 1.0 and not isinstance(case.hp("lr"), list) and case.hp("lr") == 0.0
    groups = []
    for group in case.param_groups:
        entry: dict[str, Any] = {"params": list(group.params)}
        if group.lr is not None:
            entry["learning_rate"] = float(group.lr) / base
        elif explicit_ratios:
            entry["learning_rate"] = 0.0  # lr = 0 with a base of 1.0
        if group.weight_decay is not None:
            entry["weight_decay"] = float(group.weight_decay)
        groups.append(entry)
    return groups


def receives_gradient(case: Case, step: int, index: int) -> bool:
    """Whether parameter `index` has a gradient at 0-based `step` (in the loss whose
    backward() the step runs)."""
    return case.has_gradient(step, index)


def gradient_seen(case: Case, step: int, index: int) -> str:
    """What paddle's step() sees for parameter `index` at 0-based `step`: "gradient",
    "zeros" (no gradient this step, but clear_grad() left zeros from an earlier one) or
    "none" (never had one yet: skipped)."""
    if case.has_gradient(step, index):
        return "gradient"
    return "zeros" if any(case.has_gradient(t, index) for t in range(step)) else "none"
