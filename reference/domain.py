"""The spec's legal hyperparameter domain (pure Python, no framework imports).

Algorithm 1 of Kingma & Ba is defined for a step size lr >= 0, decay rates
beta1, beta2 in [0, 1) (so that 1 - beta^t > 0), eps >= 0 and, as the frameworks add
them, L2 weight decay >= 0, a loss scale > 0 and optax's eps_root >= 0. All of them are finite real numbers
(a bool is not a number here, though Python lets it pass as one); the switches
(amsgrad, maximize, use_*) are booleans.

lr, eps, eps_root, weight decay and the loss scale are also at most float32's largest value
(3.4e38). Beyond it the value exists in neither framework's arithmetic (MindSpore holds
them as float32; torch's float32 kernels take lr / (1 - beta1^t) as a float32 scalar),
and the spec's own float64 run overflows in an order of its choosing: with lr = 1e308
it gives -inf where an implementation gives NaN, and neither is more right. The spec
does not define such a run, so the harness refuses the case instead of judging it.

`domain_error(key, value)` is None for a value inside the domain, else why not. The
harness compares each framework's acceptance of a value with this domain
(harness/acceptance.py).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

SWITCHES = ("amsgrad", "maximize", "use_locking", "use_nesterov", "use_lazy", "use_offload")
_LOWER_BOUNDS = {"lr": (0.0, True), "eps": (0.0, True), "eps_root": (0.0, True), "weight_decay": (0.0, True),
                 "loss_scale": (0.0, False)}
LARGEST = 3.4028234663852886e38  # float32's largest finite value


def _real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def domain_error(key: str, value: Any) -> str | None:
    if key in SWITCHES:
        return None if isinstance(value, bool) else f"{key} must be true or false"
    if key == "betas":
        if not (isinstance(value, (tuple, list)) and len(value) == 2):
            return "betas must be a pair (beta1, beta2)"
        for index, beta in enumerate(value):
            if not (_real(beta) and 0.0 <= beta < 1.0):
                return f"beta{index + 1} must be a real number in [0, 1)"
        return None
    if key in _LOWER_BOUNDS:
        low, inclusive = _LOWER_BOUNDS[key]
        if not _real(value) or not math.isfinite(value):
            return f"{key} must be a finite real number"
        if value < low or (value == low and not inclusive):
            return f"{key} must be {'>=' if inclusive else '>'} {low:g}"
        if value > LARGEST:
            return f"{key} must be at most float32's largest value {LARGEST:.8g}"
        return None
    raise KeyError(key)
