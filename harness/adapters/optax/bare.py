"""optax's plain calls, as a user writes them: the bench's bare loop (harness/bench.py;
each optax record names it: `bare_loop`). The optimizer is the wing's translation
(translate.py) built as the adapter builds it (adam.py `build`), under the record's
precision (jax_enable_x64 for the -x64 records).

A bare loop takes (case, implementation) and returns each step's seconds: one step = the
gradients as jax arrays + the jitted `tx.update` / `optax.apply_updates` step, timed until
its result is ready (jax dispatches asynchronously); the parameters are read back once at
the end. The first step includes the jit compile, as a user's first step does. Cases with
param_groups are not drawn by the bench's case sets.

jax and optax are imported inside the function that runs them, never at this module's
top: the bench's harness process reads the records (and imports this module to check
them) without importing a framework; the loops run in a fresh interpreter per
implementation.
"""

from __future__ import annotations

import time

from harness.casefile import Case


def adam(case: Case, implementation: str) -> list[float]:
    """optax.adam / optax.adamw / optax.amsgrad (the record's optimizer, options and precision)."""
    import jax  # deferred: see the module docstring
    import optax  # deferred: see the module docstring

    from harness.adapters.optax.adam import as_jax, build, precision  # imports jax: deferred

    with precision(implementation):
        tx = build(case, implementation)
        params = {p.name: as_jax(p.value, p.shape, case.dtype) for p in case.params}
        state = tx.init(params)

        @jax.jit
        def train_step(params, opt_state, grads):
            updates, opt_state = tx.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state

        step_seconds = []
        for grads in case.grads:
            start = time.perf_counter()
            tree = {p.name: as_jax(grad, p.shape, case.dtype) for p, grad in zip(case.params, grads)}
            params, state = train_step(params, state, tree)
            jax.block_until_ready(params)
            step_seconds.append(time.perf_counter() - start)
        jax.device_get(params)
    return step_seconds
