"""A case in optax's terms: the one translation of the optax wing, used by its adapter,
its bare loops and its reproducer templates. Pure Python on the Case (no jax or optax
import: the report renderer reads it in the harness process).

optax.adam(learning_rate, b1, b2, eps, eps_root, mu_dtype, *, nesterov) and
optax.adamw(..., weight_decay, mask, *, nesterov) (optax/_src/alias.py). A canonical
hyperparameter becomes:

    lr                      `learning_rate`: a number, or a per-step list as a schedule
                            callable, the form optax takes for a learning rate that changes
                            (scale_by_learning_rate -> scale_by_schedule calls it with the
                            step count, 0 at the first update): `lambda count: table[count]`
                            on a jnp array of the values (the adapter builds it; jax's gather
                            clamps an index past the end, so the last value is kept, as the
                            spec keeps it)
    betas                   split into `b1`, `b2`
    eps, eps_root           `eps`, `eps_root` (sqrt(v_hat + eps_root) + eps: the spec's eps_root)
    weight_decay            optax.adamw: `weight_decay` (decoupled: adamw adds wd * p to the
                            Adam direction before scaling by -lr; optax's own default is 1e-4,
                            torch.optim.AdamW's 1e-2: the case's value is always passed).
                            optax.adam has no weight decay: L2 (coupled) decay is chained in
                            front of it, optax.chain(optax.add_decayed_weights(wd), optax.adam(...)),
                            the idiom optax documents for it (add_decayed_weights: "Add
                            parameter scaled by weight_decay"; g + wd * p before Adam sees it)
    mu_dtype                the record's options (optax-adam-mu-bfloat16: jnp.bfloat16)
    amsgrad                 optax-amsgrad: optax.amsgrad(learning_rate, b1, b2, eps, eps_root),
                            another alias, for amsgrad=True (its maximum is over the
                            bias-corrected nu, registered); amsgrad=False has no counterpart there

No counterpart, passed under their own names when set so optax rejects them with its own
TypeError (the catalogue says "no counterpart"): amsgrad (optax.amsgrad is another
alias, with a different maximum), maximize, loss_scale, use_nesterov (optax's `nesterov`
is Dozat's NAdam, b1 m_t / (1 - b1^(t+1)) + (1 - b1) g_t / (1 - b1^t), not MindSpore's
b1 m_t + (1 - b1) g_t over 1 - b1^t: tests/test_optax_adapters.py measures both),
decoupled_weight_decay for optax.adam (that is optax.adamw), L2 decay for optax.adamw.
use_locking, use_offload and use_lazy with dense gradients change no single-process
math: not passed. Row-sparse gradients reach optax as the dense gradient of a gather
(zeros in the rows not listed: non-lazy Adam); lazy Adam has no counterpart.

A missing gradient: jax.grad gives a parameter the loss does not use a zero gradient,
which the case holds; optax's step count is one counter for the whole tree.

jax_enable_x64 (the -x64 records' options): a process-wide jax flag, set by the adapter
around every jax call of its own (jax.experimental.enable_x64) and restored after, so
the records without it run in jax's default precision in the same worker.
"""

from __future__ import annotations

from typing import Any

from harness.adapters.base import named_arguments
from harness.casefile import DEFAULT_HYPERPARAMETERS, Case
from harness.catalogue import lookup

ADAM, ADAMW, AMSGRAD = "optax.adam", "optax.adamw", "optax.amsgrad"

# Canonical hyperparameter -> optax's keyword (betas split into two).
_NAMES: dict[str, str | tuple[str, str]] = {"lr": "learning_rate", "betas": ("b1", "b2"), "eps": "eps",
                                            "eps_root": "eps_root", "weight_decay": "weight_decay"}

# Options optax.adam / optax.adamw have no counterpart for: passed under these names when
# set, so optax rejects them with its own TypeError.
NO_COUNTERPART = ("amsgrad", "maximize", "loss_scale", "use_nesterov")

# What a record's options may hold besides optax's own keywords.
X64 = "jax_enable_x64"


def keyword_arguments(key: str, value: Any) -> dict | None:
    """optax.adam's keyword arguments that set canonical hyperparameter `key` to `value`
    (None: optax.adam has no such argument; weight_decay is optax.adamw's)."""
    return named_arguments(_NAMES.get(key), value)


def optimizer(implementation: str) -> str:
    """"optax.adam" or "optax.adamw" (the record's `optimizer`)."""
    return lookup(implementation).optimizer


def x64(implementation: str) -> bool:
    """Whether the implementation runs with jax_enable_x64 on."""
    return bool(lookup(implementation).options.get(X64, False))


def mu_dtype(implementation: str) -> str | None:
    """The record's mu_dtype, as a jnp dtype name ("bfloat16"), or None (optax's default:
    the dtype of the parameters)."""
    return lookup(implementation).options.get("mu_dtype")



def l2_weight_decay(case: Case, implementation: str) -> float:
    """The weight decay chained in front of optax.adam as optax.add_decayed_weights (L2),
    0.0 for none (and always for optax.adamw, which takes its own)."""
    if optimizer(implementation) == ADAMW or case.hp("decoupled_weight_decay"):
        return 0.0
    return float(case.hp("weight_decay"))


def constructor_arguments(case: Case, implementation: str) -> dict:
    """The keyword arguments of the implementation's alias (optax.adam / optax.adamw) for
    the case; learning_rate is a number or the per-step list (the adapter makes a list a
    schedule callable); mu_dtype a dtype name. Options optax has no counterpart for are
    passed under their own names, so optax rejects them (TypeError)."""
    lr = case.hp("lr")
    kwargs: dict = {"learning_rate": [float(x) for x in lr] if isinstance(lr, list) else float(lr)}
    kwargs.update(keyword_arguments("betas", [float(b) for b in case.hp("betas")]))
    kwargs["eps"] = float(case.hp("eps"))
    kwargs["eps_root"] = float(case.hp("eps_root"))
    if mu_dtype(implementation) is not None:
        kwargs["mu_dtype"] = mu_dtype(implementation)
    if optimizer(implementation) == ADAMW:
        kwargs["weight_decay"] = float(case.hp("weight_decay"))
        if not case.hp("decoupled_weight_decay") and case.decays():
            # L2 decay: adamw only decouples; the keyword goes on so optax rejects it.
            kwargs["decoupled_weight_decay"] = False
    elif case.hp("decoupled_weight_decay") and case.decays():
        # Decoupled decay is optax.adamw; optax.adam has no such keyword.
        kwargs["decoupled_weight_decay"] = True
    for key in NO_COUNTERPART:
        if key == "amsgrad" and optimizer(implementation) == AMSGRAD:
            if not case.hp("amsgrad"):
                kwargs["amsgrad"] = False  # optax.amsgrad always keeps its maximum
            continue
        if case.hp(key) != DEFAULT_HYPERPARAMETERS[key]:
            kwargs[key] = case.hp(key)
    return kwargs


def group_arguments(case: Case, implementation: str) -> list[dict]:
    """The case's parameter groups as optax takes them: none. optax.adam / adamw have one
    set of hyperparameters for the whole tree; a case with groups has no counterpart
    (the adapter refuses it, has_groups)."""
    return []


def has_groups(case: Case) -> bool:
    """Parameter groups have no counterpart: optax.adam takes one set of hyperparameters
    for the whole tree (per-subtree values are optax.partition / multi_transform of
    several optimizers, each with its own state and step count)."""
    return bool(case.param_groups)


def receives_gradient(case: Case, step: int, index: int) -> bool:
    """Every parameter gets a gradient (a missing one is jax.grad's zeros, which the case
    holds): None in the script would be a different tree, which optax does not take."""
    return True
