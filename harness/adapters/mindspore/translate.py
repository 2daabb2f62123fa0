"""A case in MindSpore's terms: the one translation of the MindSpore wing, used by its
adapters, its bare loops, its reproducer templates and the hyperparameter probes
(harness/acceptance.py). Pure Python on the Case (no MindSpore import: the report
renderer and the validation table read it in the harness process).

mindspore.nn.Adam. A canonical hyperparameter's nn.Adam name is its row's
`mindspore_args` (harness/rows.py); how its value is passed is here:

    lr                      `learning_rate`: a number, or a per-step list as a list (or, for
                            mindspore-lr-tensor / -lr-schedule, as a 1-d Tensor / a
                            LearningRateSchedule cell: nn_adam.LR_FORMS, `per_step_lr`)
    betas                   split into `beta1`, `beta2`
    eps                     `eps`, as it is (nn.Adam adds it to sqrt(v) before the bias
                            correction: the eps row's finding, registered)
    weight_decay            `weight_decay` (L2, added to the loss-scaled gradient)
    amsgrad                 `use_amsgrad`
    use_locking, use_nesterov, use_lazy, use_offload: under their own names
    loss_scale              `loss_scale`, and the gradients nn.Adam is given are those of the
                            L-scaled loss (scaled_gradient)
    maximize, decoupled_weight_decay: no counterpart; passed under their own names when
                            set, so MindSpore rejects them with its own error

mindspore.mint.optim.Adam (the torch-style API): lr (a float; a list is passed as it is
and mint says what it takes), betas (a tuple), eps, weight_decay, amsgrad, maximize,
each converted to its Python type; nn.Adam's MindSpore-only options and torch's
decoupled_weight_decay have no counterpart and are passed under their own names when set.

The AdamW classes (adamw.py). mindspore.nn.AdamWeightDecay takes nn.Adam's names
(learning_rate as a number or a per-step list, beta1, beta2, eps, weight_decay), always
passed: its defaults (eps 1e-6, weight_decay 0.0) are not the case's; what it has no
counterpart for (amsgrad as use_amsgrad, maximize, nn.Adam's MindSpore-only options,
eps_root) is passed under that name when set. mindspore.experimental.optim.AdamW and
mindspore.mint.optim.AdamW take mint.optim.Adam's translation. All three always decouple:
L2 decay (decoupled_weight_decay=False with a nonzero decay) is passed as
decoupled_weight_decay=False, which none of them takes (their own TypeError).

A missing gradient: MindSpore's optimizers take one gradient per parameter and its
autodiff gives an unused parameter zeros, which the case holds (the adapters pass them).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from harness.adapters.base import named_arguments
from harness.casefile import DEFAULT_HYPERPARAMETERS, Case, group_dicts
from harness.catalogue import lookup
from harness.rows import ROWS
from reference.dtypes import cast

NN_ADAM, MINT = "mindspore.nn.Adam", "mindspore.mint.optim.Adam"
# The AdamW classes (harness/adapters/mindspore/adamw.py): nn.AdamWeightDecay takes
# nn.Adam's names (learning_rate, beta1/beta2, eps, weight_decay); the other two take
# torch's (lr, betas, eps, weight_decay, amsgrad, maximize), as mint.optim.Adam does.
NN_ADAM_WEIGHT_DECAY = "mindspore.nn.AdamWeightDecay"
EXPERIMENTAL_ADAMW, MINT_ADAMW = "mindspore.experimental.optim.AdamW", "mindspore.mint.optim.AdamW"
TORCH_STYLE = (MINT, EXPERIMENTAL_ADAMW, MINT_ADAMW)
# Options nn.AdamWeightDecay has no counterpart for, passed under MindSpore's name for
# them (nn.Adam's use_amsgrad, use_locking, ...; torch's maximize) when set, so its
# __init__ rejects them with its own TypeError (the catalogue says "no counterpart").
ADAM_WEIGHT_DECAY_NO_COUNTERPART = {"amsgrad": "use_amsgrad", "maximize": "maximize", "use_locking": "use_locking",
                                    "use_nesterov": "use_nesterov", "loss_scale": "loss_scale",
                                    "use_lazy": "use_lazy", "use_offload": "use_offload", "eps_root": "eps_root"}

# Options with no mint counterpart (nn.Adam's MindSpore-only ones, torch's
# decoupled_weight_decay): passed under those names when set, so mint.optim.Adam rejects
# them with its own TypeError (the catalogue says "no counterpart").
MINT_NO_COUNTERPART = ("use_locking", "use_nesterov", "loss_scale", "use_lazy", "use_offload",
                       "decoupled_weight_decay", "eps_root")


def keyword_arguments(key: str, value: Any) -> dict | None:
    """nn.Adam's keyword arguments that set canonical hyperparameter `key` to `value`
    (None: nn.Adam has no such argument). Any value, including those a case cannot hold
    (the hyperparameter probes): a malformed pair of betas goes to beta1 as it is."""
    row = next(r for r in ROWS if key in r.canonical_keys)
    return named_arguments(row.mindspore_args.get(key), value)


def constructor_arguments(case: Case, implementation: str, per_step_lr: Callable[[list], Any] = list) -> dict:
    """The keyword arguments the implementation's optimizer (nn.Adam or mint.optim.Adam,
    its record's `optimizer`) is built with for the case. per_step_lr: how nn.Adam is
    given a per-step lr list (a list; the adapters' other forms, nn_adam.LR_FORMS)."""
    optimizer = lookup(implementation).optimizer
    if optimizer == MINT:
        return _mint_arguments(case)
    if optimizer in (EXPERIMENTAL_ADAMW, MINT_ADAMW):
        return _torch_style_adamw_arguments(case)
    if optimizer == NN_ADAM_WEIGHT_DECAY:
        return _adam_weight_decay_arguments(case, per_step_lr)
    kwargs: dict = {}
    for key in ("eps", "weight_decay", "amsgrad", "betas", "use_locking", "use_nesterov", "loss_scale", "use_lazy",
                "use_offload"):
        kwargs.update(keyword_arguments(key, case.hp(key)))
    lr = case.hp("lr")
    kwargs.update(keyword_arguments("lr", per_step_lr(lr) if isinstance(lr, list) else lr))
    # No counterpart in nn.Adam: passed under its own name so MindSpore rejects it with
    # its own error (the catalogue says "no counterpart").
    if case.hp("maximize"):
        kwargs["maximize"] = True
    if case.hp("decoupled_weight_decay"):
        kwargs["decoupled_weight_decay"] = True
    if case.hp("eps_root"):
        kwargs["eps_root"] = case.hp("eps_root")
    return kwargs


def _mint_arguments(case: Case) -> dict:
    lr = case.hp("lr")
    kwargs: dict = {
        # A list (a schedule) is passed as is: mint takes a float or a Tensor and says so.
        "lr": list(lr) if isinstance(lr, list) else float(lr),
        "betas": tuple(float(b) for b in case.hp("betas")),
        "eps": float(case.hp("eps")),
        "weight_decay": float(case.hp("weight_decay")),
        "amsgrad": bool(case.hp("amsgrad")),
        "maximize": bool(case.hp("maximize")),
    }
    for key in MINT_NO_COUNTERPART:
        if case.hp(key) != DEFAULT_HYPERPARAMETERS[key]:
            kwargs[key] = case.hp(key)
    return kwargs


def l2_decay_asked(case: Case) -> bool:
    """Whether the case asks for L2 weight decay (decoupled_weight_decay=False with some
    parameter's weight decay nonzero), which the AdamW classes cannot express."""
    return not case.hp("decoupled_weight_decay") and any(case.weight_decay_for(p.name) != 0.0 for p in case.params)


def _torch_style_adamw_arguments(case: Case) -> dict:
    """experimental.optim.AdamW's and mint.optim.AdamW's keyword arguments: mint.optim.Adam's
    translation, with decoupled_weight_decay passed (under that name, which they do not
    take: their own TypeError) only where the case asks for L2 decay; they always decouple."""
    kwargs = _mint_arguments(case)
    kwargs.pop("decoupled_weight_decay", None)
    if l2_decay_asked(case):
        kwargs["decoupled_weight_decay"] = False
    return kwargs


def _adam_weight_decay_arguments(case: Case, per_step_lr: Callable[[list], Any] = list) -> dict:
    """nn.AdamWeightDecay's keyword arguments: learning_rate (a number or a per-step list),
    beta1, beta2, eps and weight_decay, always passed (its defaults, eps 1e-6 and
    weight_decay 0.0, are not the case's); what it has no counterpart for under
    ADAM_WEIGHT_DECAY_NO_COUNTERPART's names, L2 decay as decoupled_weight_decay=False."""
    kwargs: dict = {}
    for key in ("eps", "weight_decay", "betas"):
        kwargs.update(keyword_arguments(key, case.hp(key)))
    lr = case.hp("lr")
    kwargs.update(keyword_arguments("lr", per_step_lr(lr) if isinstance(lr, list) else lr))
    for key, name in ADAM_WEIGHT_DECAY_NO_COUNTERPART.items():
        if case.hp(key) != DEFAULT_HYPERPARAMETERS[key]:
            kwargs[name] = case.hp(key)
    if l2_decay_asked(case):
        kwargs["decoupled_weight_decay"] = False
    return kwargs


def group_arguments(case: Case, implementation: str) -> list[dict]:
    """The case's parameter groups as the optimizer takes them, parameters by name ([]
    without groups: a flat parameter list): lr and weight_decay where a group sets them
    (mint: as floats)."""
    groups = group_dicts(case)
    if lookup(implementation).optimizer in TORCH_STYLE:
        return [{k: v if k == "params" else float(v) for k, v in group.items()} for group in groups]
    return groups


def scaled_gradient(case: Case, grad: np.ndarray) -> np.ndarray:
    """What nn.Adam(loss_scale=L) is given for a gradient: with loss_scale=L MindSpore
    expects the gradients of the L-scaled loss, g * L rounded to the case dtype (+-inf
    beyond its range), as backprop of a scaled loss gives. L itself is never a float16
    number: fl16(65536) is inf, which made every gradient +-inf (thorough-profile finding
    in the adapter, not MindSpore). Without loss scaling the gradients are already the
    case dtype's values."""
    loss_scale = case.hp("loss_scale")
    return grad if loss_scale == 1.0 else cast(grad.astype(np.float64) * loss_scale, case.dtype)
