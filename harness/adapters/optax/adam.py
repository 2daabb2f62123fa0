"""Adapter for optax.adam / optax.adamw on jax's CPU backend, as optax's users write it:
the parameters a dict of jax arrays (name -> array), the optimizer a
GradientTransformation built by the alias (harness/adapters/optax/translate.py), and one
training step

    @jax.jit
    def train_step(params, opt_state, grads):
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        return params, opt_state

jitted, as optax's examples and users' training loops do (the step is the unit a user
compiles). Op-by-op dispatch without jit is another program: in float32 an update or a
moment may differ by an ulp, and with mu_dtype=bfloat16 the moment's bfloat16 product
is rounded where the jitted step keeps it in float32 (tests/test_optax_adapters.py).
The optimizer state is the alias's ScaleByAdamState: mu,
nu, count -> exp_avg, exp_avg_sq, step (one count for the whole tree).

jax_enable_x64: the -x64 records turn it on with jax.experimental.enable_x64 around every
jax call of their adapter (building, stepping, reading) and restore it after; the other
records check that it is off (a leak would silently run them in float64).

Without x64 jax has no float64 arrays: asked for float64 (as a user holding float64 data
writes jnp.asarray(x, dtype=jnp.float64)), jax warns and gives float32. The adapter
reports jax's warning as the failure (the catalogue: unsupported for the records without
x64) instead of comparing a float32 run with the float64 spec; what that float32 run
would be off by is measured in tests/test_optax_adapters.py.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.experimental import enable_x64

from harness.adapters.base import Snapshot, as_stored
from harness.adapters.optax import translate
from harness.casefile import Case

JAX_DTYPES = {"float16": jnp.float16, "bfloat16": jnp.bfloat16, "float32": jnp.float32, "float64": jnp.float64}


def precision(implementation: str) -> contextlib.AbstractContextManager:
    """The jax precision an implementation's calls run under: jax_enable_x64 on for the
    -x64 records (restored when the block ends), jax's default otherwise."""
    return enable_x64(True) if translate.x64(implementation) else contextlib.nullcontext()


def build(case: Case, implementation: str) -> optax.GradientTransformation:
    """The implementation's optimizer for the case: optax.adam / optax.adamw with the
    translation's arguments; a per-step lr as a schedule callable on a jnp table (its
    dtype jax's default float: float32, float64 under x64); L2 decay chained in front of
    optax.adam as optax.add_decayed_weights. Call under precision(implementation)."""
    kwargs = translate.constructor_arguments(case, implementation)
    lr = kwargs.pop("learning_rate")
    if isinstance(lr, list):
        table = jnp.asarray(lr)

        def lr(count, table=table):  # scale_by_schedule's count: 0 at the first update
            return table[count]  # past the end jax's gather clamps: the last value
    if "mu_dtype" in kwargs:
        kwargs["mu_dtype"] = JAX_DTYPES[kwargs["mu_dtype"]]
    alias = {translate.ADAM: optax.adam, translate.ADAMW: optax.adamw,
             translate.AMSGRAD: optax.amsgrad}[translate.optimizer(implementation)]
    tx = alias(lr, **kwargs)  # options without a counterpart: optax's TypeError
    decay = translate.l2_weight_decay(case, implementation)
    if decay:
        tx = optax.chain(optax.add_decayed_weights(decay), tx)
    return tx


def as_jax(values: np.ndarray, shape: tuple[int, ...], dtype: str) -> jax.Array:
    """A jax array of the case dtype (bfloat16 values arrive as the float32s that hold
    them). Without x64, float64 is refused with jax's own warning (module docstring)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        array = jnp.asarray(values.reshape(shape), dtype=JAX_DTYPES[dtype])
    for warning in caught:
        if "truncated" in str(warning.message):
            raise TypeError(f"{warning.category.__name__}: {warning.message}")
    return array


_ADAM_STATES = (optax.ScaleByAdamState, optax.ScaleByAmsgradState)


def adam_state(state: Any) -> optax.ScaleByAdamState | optax.ScaleByAmsgradState:
    """The ScaleByAdamState (optax.amsgrad: ScaleByAmsgradState) inside an optax state (a
    chain's tuple of states)."""
    for leaf in jax.tree.leaves(state, is_leaf=lambda x: isinstance(x, _ADAM_STATES)):
        if isinstance(leaf, _ADAM_STATES):
            return leaf
    raise LookupError("no ScaleByAdamState in the optimizer state")


def as_numpy(array: jax.Array) -> np.ndarray:
    """A jax array's values, flat, in their storage_dtype (bfloat16: float32, exact)."""
    return as_stored(np.asarray(array))


class OptaxAdapter:
    name: ClassVar[str] = "optax-adam"
    description: ClassVar[str] = f"optax.adam (optax {optax.__version__}, jax {jax.__version__}, jit, CPU)"

    def __init__(self, case: Case) -> None:
        self.case = case
        if translate.has_groups(case):
            raise ValueError("parameter groups: optax.adam takes one set of hyperparameters for the whole "
                             "parameter tree (per-subtree values are optax.partition of several optimizers)")
        with self._precision():
            tx = build(case, self.name)
            self.params = {p.name: as_jax(p.value, p.shape, case.dtype) for p in case.params}
            self.state = tx.init(self.params)

            def train_step(params, opt_state, grads):
                updates, opt_state = tx.update(grads, opt_state, params)
                params = optax.apply_updates(params, updates)
                return params, opt_state

            self.train_step = jax.jit(train_step)

    def _precision(self) -> contextlib.AbstractContextManager:
        if not translate.x64(self.name) and jax.config.jax_enable_x64:
            raise RuntimeError(f"{self.name}: jax_enable_x64 is on in this process (leaked from another run)")
        return precision(self.name)

    def step(self, grads: list[np.ndarray]) -> None:
        with self._precision():
            # A missing gradient is the zeros the case holds (jax.grad's for an unused parameter).
            tree = {p.name: as_jax(grad, p.shape, self.case.dtype) for p, grad in zip(self.case.params, grads)}
            self.params, self.state = self.train_step(self.params, self.state, tree)

    def snapshot(self) -> Snapshot:
        with self._precision():
            state = adam_state(self.state)
            step = int(state.count)
            # optax.amsgrad's nu_max is not read: it is the running maximum of the bias-corrected
            # nu (a thousand times torch's max_exp_avg_sq at step 1, beta2 = 0.999), another
            # quantity whose float32 roundings the moments' tolerance, scaled to v, cannot take;
            # its effect is compared in the parameters (registry optax-amsgrad-max-of-bias-corrected).
            return {p.name: {"param": as_numpy(self.params[p.name]), "exp_avg": as_numpy(state.mu[p.name]),
                             "exp_avg_sq": as_numpy(state.nu[p.name]), "step": step}
                    for p in self.case.params}


class OptaxAdamWAdapter(OptaxAdapter):
    name: ClassVar[str] = "optax-adamw"
    description: ClassVar[str] = f"optax.adamw (optax {optax.__version__}, jax {jax.__version__}, jit, CPU)"


class OptaxAdamX64Adapter(OptaxAdapter):
    name: ClassVar[str] = "optax-adam-x64"
    description: ClassVar[str] = (f"optax.adam (optax {optax.__version__}, jax {jax.__version__}, jit, CPU, "
                                  "jax_enable_x64)")


class OptaxAdamWX64Adapter(OptaxAdapter):
    name: ClassVar[str] = "optax-adamw-x64"
    description: ClassVar[str] = (f"optax.adamw (optax {optax.__version__}, jax {jax.__version__}, jit, CPU, "
                                  "jax_enable_x64)")


class OptaxAdamMuBfloat16Adapter(OptaxAdapter):
    name: ClassVar[str] = "optax-adam-mu-bfloat16"
    description: ClassVar[str] = (f"optax.adam(..., mu_dtype=jnp.bfloat16) (optax {optax.__version__}, "
                                  f"jax {jax.__version__}, jit, CPU)")


class OptaxAmsgradAdapter(OptaxAdapter):
    name: ClassVar[str] = "optax-amsgrad"
    description: ClassVar[str] = f"optax.amsgrad (optax {optax.__version__}, jax {jax.__version__}, jit, CPU)"
