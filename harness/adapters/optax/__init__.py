"""The optax wing: everything the harness knows about optax.adam, optax.adamw and
optax.amsgrad on jax's CPU backend.

    setup()         (here) jax's runtime settings, before its first use in a process
    translate.py    the one translation of a case into optax.adam's / optax.adamw's
                    arguments (learning_rate, b1/b2, eps, eps_root, weight decay,
                    mu_dtype; what optax has no counterpart for), pure Python: used by
                    the adapter, the bare loops and the reproducer templates
    adam.py         OptaxAdapter: params and opt_state as jax arrays, stepped by a jitted
                    `tx.update` + `optax.apply_updates`, as optax's users write it;
                    jax_enable_x64 on around every jax call of the -x64 records only
    bare.py         the bench's bare loops
    reproducer.py   the reproducer scripts' templates (text and the data they read)

Which implementation is which form is the catalogue's record (harness/catalogue.py:
optimizer optax.adam / optax.adamw / optax.amsgrad; options mu_dtype, jax_enable_x64). Only adam.py
imports jax and optax at its top (workers load it, after setup()); bare.py imports them
inside the functions that run them; this package, translate.py and reproducer.py never do.
"""

from __future__ import annotations

import os
import sys

_done = False


def setup() -> None:
    """jax's runtime settings, made once per process before its first use (by
    harness.adapters.setup: loading an adapter, the bench's bare loops), never as an
    import side effect:

    - JAX_PLATFORMS=cpu: the harness targets the CPU backend (as the other wings do).
      Without it jax probes for CUDA and TPU plugins at its first operation and, where a
      GPU is visible, would run there (another backend, other kernels); where none is,
      the probe only costs time and a warning. Read when jax initialises its backends,
      so set before; an explicit JAX_PLATFORMS in the environment is kept.
    - XLA_PYTHON_CLIENT_PREALLOCATE=false: should a GPU backend be reached anyway (a
      JAX_PLATFORMS set in the environment), jax would otherwise reserve 75% of the GPU's
      memory at its first operation, which the other frameworks' workers sharing the
      machine would then lack. No effect on the CPU backend.
    - jax_enable_x64 is left at jax's default (off): it is what the optax records
      without "-x64" measure; the -x64 records turn it on around their own calls only
      (adam.py, jax.experimental.enable_x64), never for the process.

    No thread setting: XLA's CPU client runs these small elementwise programs on the
    calling thread; the values do not depend on it (elementwise, each element alike).
    """
    global _done
    if _done:
        return
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    if "jax" in sys.modules:
        # jax was imported before this setup (the environment variable is read at
        # import): the platform is still settable until its backends start.
        import jax  # deferred: already imported (no cost); this module imports no framework

        try:
            jax.config.update("jax_platforms", os.environ["JAX_PLATFORMS"])
        except RuntimeError:
            pass  # backends already started in this process; they are what runs
    _done = True
