"""The optax wing's reproducer scripts (harness/reproducer_script.py): the template of
optax.adam / optax.adamw as their users run them (a jitted tx.update +
optax.apply_updates step), and the data a script reads (the alias's keyword arguments,
from the wing's translation, translate.py, so a script calls the optimizer exactly as the
harness does). Each optax record names its template here (harness/catalogue.py
`reproducer`). Pure text and data: no jax or optax import.
"""

from __future__ import annotations

from harness.adapters.optax import translate
from harness.casefile import Case
from harness.reproducer_script import Template

# optax.adam / optax.adamw (the alias and mu_dtype are data: CASE["optimizer"], KWARGS),
# jax_enable_x64 as the record runs it (CASE["x64"]: set before any jax array exists).
_OPTAX = '''
import jax

jax.config.update("jax_platforms", "cpu")
jax.config.update("jax_enable_x64", bool(CASE["x64"]))  # the record's precision (jax's default: off)
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402

JAX_DTYPE = {"float16": jnp.float16, "bfloat16": jnp.bfloat16, "float32": jnp.float32,
             "float64": jnp.float64}[DTYPE]
KWARGS = CASE["kwargs"]  # optax.adam's / optax.adamw's keyword arguments, as the harness passes them
if "mu_dtype" in KWARGS:
    KWARGS["mu_dtype"] = getattr(jnp, KWARGS["mu_dtype"])
LR = KWARGS.pop("learning_rate")
if isinstance(LR, list):  # a per-step lr: a schedule, called with the update count (0 first)
    TABLE = jnp.asarray(LR)
    LR = lambda count: TABLE[count]  # noqa: E731  (past the end: the last value)
L2 = CASE["l2_weight_decay"]  # optax.adam with L2 decay: add_decayed_weights chained in front


def tensor(numbers, shape):
    return jnp.asarray(values(numbers).reshape(shape), dtype=JAX_DTYPE)


def element(source, index):
    return float(jnp.asarray(source, dtype=jnp.float32 if source.dtype == jnp.bfloat16 else source.dtype)
                 .reshape(-1)[index])


def run():
    tx = getattr(optax, CASE["optimizer"])(LR, **KWARGS)
    if L2:
        tx = optax.chain(optax.add_decayed_weights(L2), tx)
    params = {n: tensor(v, s) for n, (s, v) in PARAMS.items()}
    state = tx.init(params)

    @jax.jit
    def train_step(params, opt_state, grads):
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    quantity, name, index, _ = WATCH
    seen = []
    for t in range(STEPS):
        # every parameter gets a gradient (a missing one: the zeros jax.grad gives)
        grads = {n: tensor(g, PARAMS[n][0]) for n, g in zip(PARAMS, GRADS[t])}
        params, state = train_step(params, state, grads)
        kinds = (optax.ScaleByAdamState, optax.ScaleByAmsgradState)  # optax.amsgrad's state: nu_max too
        adam = next(s for s in jax.tree.leaves(state, is_leaf=lambda s: isinstance(s, kinds)) if isinstance(s, kinds))
        source = {"param": params, "exp_avg": adam.mu, "exp_avg_sq": adam.nu,
                  "max_exp_avg_sq": getattr(adam, "nu_max", None)}[quantity][name]
        seen.append(element(source, index))
    return seen
'''


def arguments(case: Case, implementation: str) -> dict:
    """The JSON-ready data of an optax script: the alias's name and keyword arguments as
    the translation gives them (learning_rate a number or the per-step list), the L2
    decay chained in front of optax.adam, and the record's x64 flag."""
    kwargs = translate.constructor_arguments(case, implementation)
    return {"optimizer": translate.optimizer(implementation).rpartition(".")[2], "kwargs": kwargs,
            "l2_weight_decay": translate.l2_weight_decay(case, implementation),
            "x64": translate.x64(implementation)}


# The template, named by every optax record (alias, mu_dtype and x64 are its data).
ADAM = Template(_OPTAX, {}, arguments, has_gradient=translate.receives_gradient)
