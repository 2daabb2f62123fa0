"""The Keras wing: keras.optimizers.Adam and AdamW (Keras 3) on the jax backend, CPU.

    setup()         (here) the backend and JAX's settings, before Keras's first import in a
                    process
    translate.py    the one translation of a case into Adam's / AdamW's constructor
                    arguments (learning_rate, beta_1, beta_2, epsilon, amsgrad,
                    weight_decay, loss_scale_factor; a per-step lr list as a
                    PiecewiseConstantDecay schedule), pure Python: used by the adapter, the
                    bare loops, the reproducer templates and harness/acceptance.py's probes
    adam.py         KerasAdapter: keras.Variables of the case dtype, stepped with
                    optimizer.apply_gradients(zip(grads, variables)) as a custom training
                    loop does (eager: the jax backend runs each op as it comes, no jit)
    bare.py         the bench's bare loops and the hyperparameter probe's plain calls
    reproducer.py   the reproducer scripts' template (text and the data it reads)

Which implementation is which class is the catalogue's record (harness/catalogue.py).
Only adam.py imports Keras at its top (workers load it, after setup()); setup() and
bare.py import it inside the functions that run it; this package, translate.py and
reproducer.py never do.
"""

from __future__ import annotations

import os
import sys
import warnings

BACKEND = "jax"

_done = False


def setup() -> None:
    """Keras's runtime settings, made once per process before Keras is first imported
    (by harness.adapters.setup: loading an adapter, the bench's bare loops, the
    hyperparameter probes), never as an import side effect:

    - KERAS_BACKEND=jax, set outright (not setdefault): Keras 3 reads its backend once,
      at its first import, from KERAS_BACKEND or else ~/.keras/keras.json, and it is
      global to the process. The catalogue's records are "keras.optimizers.Adam on the
      jax backend"; left to the environment, a KERAS_BACKEND=torch (or a keras.json
      naming tensorflow) would run another backend's ops under the same implementation
      names, and every verdict would be about the wrong code. A process that already
      imported Keras with another backend cannot be switched: setup() says so.
    - JAX_PLATFORMS=cpu (setdefault): the harness compares CPU implementations; it also
      keeps JAX from probing for accelerators (and warning about them) at start-up.
    - jax_enable_x64 left at JAX's default, off: that is what a Keras user on the jax
      backend has, and it decides what float64 means there (keras.Variable(dtype=
      "float64") holds float32 values, with JAX's UserWarning "Explicitly requested dtype
      float64 ... truncated to dtype float32": the catalogue's `unsupported`, measured).
      An environment's JAX_ENABLE_X64 would change that claim, so it is overridden: the
      value is set to False explicitly once JAX is imported.
    - Keras's "Gradients do not exist for variables [...]" UserWarning, which
      apply_gradients raises for every None gradient (a missing gradient, each step), is
      ignored: the harness reports what Keras does with one (its registry entry), and a
      warning per step is noise in the workers' output.
    """
    global _done
    if _done:
        return
    if "keras" in sys.modules:
        import keras  # deferred: already imported in this process

        if keras.backend.backend() != BACKEND:
            raise RuntimeError(f"Keras was imported with the {keras.backend.backend()!r} backend before the harness "
                               f"could select {BACKEND!r}; a process runs one Keras backend")
    os.environ["KERAS_BACKEND"] = BACKEND
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax  # deferred: only a process that runs Keras imports it

    jax.config.update("jax_enable_x64", False)
    warnings.filterwarnings("ignore", message=r"Gradients do not exist for variables", category=UserWarning)
    import keras  # noqa: F401  deferred: the backend is now fixed for this process

    _done = True
