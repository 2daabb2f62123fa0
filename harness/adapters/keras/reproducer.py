"""The Keras wing's reproducer scripts (harness/reproducer_script.py): the template of
keras.optimizers.Adam / AdamW on the jax backend, and the data a script reads (the
constructor arguments, from the wing's translation, translate.py, so a script calls the
optimizer exactly as the harness does; a per-step lr as PiecewiseConstantDecay's
boundaries and values; gradients loss-scaled where loss_scale_factor is set). Each
implementation's record names its template here (harness/catalogue.py `reproducer`).
Pure text and data: no Keras import.
"""

from __future__ import annotations

from harness.adapters.keras import BACKEND, translate
from harness.casefile import Case
from harness.reproducer_script import Template

# Pieces: $optimizer (the class).
_KERAS = '''
import os

os.environ["KERAS_BACKEND"] = "''' + BACKEND + '''"  # before keras is imported: the backend the harness runs
os.environ.setdefault("JAX_PLATFORMS", "cpu")
import keras  # noqa: E402

KWARGS = CASE["kwargs"]  # keras.optimizers.$optimizer's keyword arguments, as the harness passes them
SCHEDULE = CASE["schedule"]  # None, or a per-step lr: PiecewiseConstantDecay(boundaries, values)
if SCHEDULE is not None:
    KWARGS["learning_rate"] = keras.optimizers.schedules.PiecewiseConstantDecay(SCHEDULE["boundaries"],
                                                                               SCHEDULE["values"])


def tensor(numbers, shape):
    return keras.ops.convert_to_tensor(values(numbers).reshape(shape), dtype=DTYPE)


def element(variable, index):
    import numpy as np
    return float(np.asarray(variable.value).astype(np.float64).reshape(-1)[index])


def run():
    variables = {n: keras.Variable(values(v).reshape(s), dtype=DTYPE) for n, (s, v) in PARAMS.items()}
    optimizer = keras.optimizers.$optimizer(**KWARGS)
    optimizer.build(list(variables.values()))
    moments = {"exp_avg": optimizer._momentums, "exp_avg_sq": optimizer._velocities,
               "max_exp_avg_sq": getattr(optimizer, "_velocity_hats", None)}  # Keras's per-variable state lists
    quantity, name, index, _ = WATCH
    seen = []
    for t in range(STEPS):
        pairs = [(None if grad is None else tensor(grad, variables[n].shape), variables[n])  # None: Keras drops it
                 for n, grad in zip(PARAMS, GRADS[t])]
        optimizer.apply_gradients(pairs)
        variable = variables[name]
        source = variable if quantity == "param" else moments[quantity][optimizer._get_variable_index(variable)]
        seen.append(element(source, index))
    return seen
'''


def arguments(case: Case, implementation: str) -> dict:
    """The JSON-ready data of a Keras script: the constructor's keyword arguments as the
    translation gives them, with a per-step lr as PiecewiseConstantDecay's data."""
    kwargs = translate.constructor_arguments(case, implementation)
    lr = kwargs.pop("learning_rate")
    schedule = None
    if isinstance(lr, translate.PiecewiseConstant):
        schedule = {"boundaries": list(lr.boundaries), "values": list(lr.values)}
    else:
        kwargs["learning_rate"] = lr
    return {"kwargs": kwargs, "schedule": schedule}


def _keras(optimizer: str) -> Template:
    return Template(_KERAS, {"optimizer": optimizer}, arguments, gradient=translate.scaled_gradient,
                    has_gradient=translate.receives_gradient)


ADAM = _keras("Adam")
ADAMW = _keras("AdamW")
