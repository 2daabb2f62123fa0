"""A case in torch.optim's terms: the one translation of the torch wing, used by its
adapters, its bare loops, its reproducer templates and the hyperparameter probes
(harness/acceptance.py). Pure Python on the Case (no torch import: the report renderer
and the validation table read it in the harness process).

A canonical hyperparameter's torch name is its row's `torch_args` (harness/rows.py);
how its value is passed is here:

    lr                      torch's `lr`, the lr of step 1: a per-step list is written into
                            each group's "lr" before every step, as a scheduler does (the
                            adapters); a 0-d Tensor lr is torch-tensor-lr's form of the number
    betas                   `betas`, a tuple
    eps                     `eps`, as it is (torch adds it to sqrt(v_hat), after the bias
                            correction: the eps row's spec)
    weight_decay            `weight_decay`; `decoupled_weight_decay` as it is (AdamW: see
                            constructor_arguments)
    amsgrad, maximize       as they are
    use_nesterov, eps_root  no counterpart: passed under its own name when set, so torch
                            rejects it with its own error (the catalogue: no counterpart)
    loss_scale              not passed: torch receives the unscaled gradients, which is what
                            loss scaling recovers
    use_locking, use_lazy,  not passed: no change to single-process math (lazy with
    use_offload             row-sparse gradients: the catalogue says no counterpart)

Missing gradients are `.grad = None` (torch skips the parameter): `receives_gradient`.
The implementation's form (its class and the keywords that select it, e.g. foreach=True)
is its catalogue record's `optimizer` and `options` (harness/catalogue.py).
"""

from __future__ import annotations

from typing import Any

from harness.casefile import DEFAULT_HYPERPARAMETERS, Case, group_dicts
from harness.catalogue import lookup
from harness.rows import ROWS
from reference.adam import lr_at

# Options SparseAdam has no counterpart for (it takes lr, betas, eps, maximize): passed
# under their own names when set, so torch rejects them with its own TypeError (the
# catalogue says "no counterpart"). loss_scale, use_locking, use_offload: as for
# torch.optim.Adam (unscaled gradients; no change to single-process math).
SPARSE_NO_COUNTERPART = ("weight_decay", "amsgrad", "decoupled_weight_decay", "use_nesterov", "eps_root")


def keyword_arguments(key: str, value: Any) -> dict | None:
    """torch.optim.Adam's keyword arguments that set canonical hyperparameter `key` to
    `value` (None: torch has no such argument). Any value, including those a case cannot
    hold (the hyperparameter probes pass strings, None, NaN)."""
    row = next(r for r in ROWS if key in r.canonical_keys)
    name = row.torch_args.get(key)
    if name is None:
        return None
    return {name: tuple(value) if key == "betas" and isinstance(value, (list, tuple)) else value}


def optimizer_class(implementation: str) -> str:
    """The torch.optim class the implementation builds ("Adam", "AdamW", "SparseAdam")."""
    return lookup(implementation).optimizer.rpartition(".")[2]


def constructor_arguments(case: Case, implementation: str) -> dict:
    """The keyword arguments the implementation's optimizer class is built with for the
    case (lr as a number: the adapter of torch-tensor-lr makes it a Tensor)."""
    cls = optimizer_class(implementation)
    if cls == "SparseAdam":
        kwargs = {}
        for key, value in (("lr", lr_at(case.hp("lr"), 1)), ("betas", case.hp("betas")), ("eps", case.hp("eps"))):
            kwargs.update(keyword_arguments(key, value))
        kwargs["maximize"] = case.hp("maximize")
        kwargs.update({key: case.hp(key) for key in SPARSE_NO_COUNTERPART
                       if case.hp(key) != DEFAULT_HYPERPARAMETERS[key]})
        return kwargs
    kwargs = keyword_arguments("lr", lr_at(case.hp("lr"), 1))
    for key in ("eps", "weight_decay", "decoupled_weight_decay", "amsgrad", "betas"):
        kwargs.update(keyword_arguments(key, case.hp(key)))
    kwargs["maximize"] = case.hp("maximize")
    # Options torch has no counterpart for are passed under their own name, so torch
    # rejects them with its own error (the catalogue says "no counterpart").
    if case.hp("use_nesterov"):
        kwargs["use_nesterov"] = True
    if case.hp("eps_root"):
        kwargs["eps_root"] = case.hp("eps_root")
    kwargs = {**kwargs, **lookup(implementation).options}
    if cls == "AdamW":
        # AdamW has no decoupled_weight_decay keyword: it always decouples. Asked for L2
        # decay, the keyword is passed on so AdamW rejects it (TypeError); without any
        # weight decay the two are the same algorithm.
        if kwargs["decoupled_weight_decay"] or not case.decays():
            del kwargs["decoupled_weight_decay"]
    return kwargs


def group_arguments(case: Case, implementation: str) -> list[dict]:
    """The case's parameter groups as torch takes them, parameters by name ([] without
    groups): lr and weight_decay where a group sets them (SparseAdam: lr only)."""
    groups = group_dicts(case)
    if optimizer_class(implementation) == "SparseAdam":
        return [{k: v for k, v in group.items() if k != "weight_decay"} for group in groups]
    return groups


def receives_gradient(case: Case, step: int, index: int) -> bool:
    """Whether parameter `index` has a gradient at 0-based `step`; without one torch is
    given `.grad = None` and skips the parameter (the spec's reading of a missing gradient)."""
    return case.has_gradient(step, index)

