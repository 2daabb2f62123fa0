"""The tolerance rule (derivation in README.md, "Tolerance rule").

For a parameter element after step t, with the reference trajectory w_0..w_t:

    tolerance_t = rtol_t * S_t + floor_t
    S_t      = sum_{i<=t} |w_i - w_{i-1}|       (reference path length; = |w_t - w_0|
                                                 while updates keep their sign)
    rtol_t   = SAFETY * u * (OPS_PER_STEP + min(t, 1/(1-beta1)) + min(t, 1/(1-beta2)))
    floor_t  = 1/2 * ulp(w_t) + 1/2 * sum_{i<=t} ulp(w_i)

u is the unit roundoff of the case dtype, ulp(x) the spacing of the dtype at |x|.
rtol_t covers arithmetic rounding inside one update (OPS_PER_STEP roundings) plus the
rounding error the moment EMAs carry forward (each EMA remembers about min(t, 1/(1-beta))
past roundings, including the rounding of beta itself to the dtype). floor_t covers
storing w in the dtype: each step rounds the stored weight by at most half an ulp, and
half an ulp more absorbs a binade change between the stored and the reference value.
The floor is kept this small on purpose: at step 1 it is one ulp, so a 1% error in the
first update is caught whenever that update exceeds 150 ulp of |w| (storing the wrong
value in the dtype can hide half an ulp of it).

Moments use the same rtol_t against their own scale: the EMA of |g_eff| for exp_avg
and the EMA of g_eff^2 for exp_avg_sq / max_exp_avg_sq, with a FLOOR_ULPS ulp floor.
Step counters must match exactly.
"""

from __future__ import annotations

import numpy as np

SAFETY = 4.0
OPS_PER_STEP = 8
FLOOR_ULPS = 4.0  # moments only (several roundings per value)


def unit_roundoff(dtype: type) -> float:
    return float(np.finfo(dtype).eps) / 2.0


def ulp(values: np.ndarray, dtype: type) -> np.ndarray:
    """Spacing of `dtype` at |values| (as float64); values beyond the dtype's range give inf."""
    with np.errstate(over="ignore"):
        return np.spacing(np.abs(values).astype(dtype)).astype(np.float64)


def _memory(steps: np.ndarray, beta: float) -> np.ndarray:
    return steps if beta >= 1.0 else np.minimum(steps, 1.0 / (1.0 - beta))


def rtol_per_step(num_steps: int, dtype: type, beta1: float, beta2: float) -> np.ndarray:
    """rtol_t for t = 1..num_steps, shape [num_steps, 1]."""
    t = np.arange(1, num_steps + 1, dtype=np.float64)
    rtol = SAFETY * unit_roundoff(dtype) * (OPS_PER_STEP + _memory(t, beta1) + _memory(t, beta2))
    return rtol[:, None]


def param_tolerance(trajectory: np.ndarray, dtype: type, rtol: np.ndarray) -> np.ndarray:
    """Tolerance for w_1..w_T given the reference trajectory [T+1, n]."""
    path_length = np.cumsum(np.abs(np.diff(trajectory, axis=0)), axis=0)
    stored_ulp = ulp(trajectory[1:], dtype)
    floor = 0.5 * stored_ulp + 0.5 * np.cumsum(stored_ulp, axis=0)
    return rtol * path_length + floor


def propagated_update_error(
    lrs: np.ndarray, beta1: float, beta2: float, eps: float, exp_avg: np.ndarray, second_moment: np.ndarray,
    exp_avg_tolerance: np.ndarray, second_moment_tolerance: np.ndarray,
) -> np.ndarray:
    """Cumulative parameter error that in-tolerance moment errors feed into the updates.

    update = lr * m_hat / (sqrt(v_hat) + eps), so a moment off by dm moves the update by
    lr / bc1 * dm / (sqrt(v_hat) + eps), and a second moment off by dv by
    |update| * dv / (2 v) at most. This matters where m is the result of cancellation
    (g + weight_decay * w close to 0): the moment tolerance follows the magnitude of the
    terms, not of their sum, and so must the update's. [T, n]
    """
    t = np.arange(1, len(lrs) + 1, dtype=np.float64)[:, None]
    bias_correction1 = 1.0 - beta1**t
    bias_correction2 = 1.0 - beta2**t
    denom = np.sqrt(second_moment / bias_correction2) + eps
    with np.errstate(divide="ignore", invalid="ignore"):
        update = lrs[:, None] * np.abs(exp_avg) / bias_correction1 / denom
        from_first = lrs[:, None] * exp_avg_tolerance / bias_correction1 / denom
        from_second = np.where(second_moment > 0, update * second_moment_tolerance / (2.0 * second_moment), 0.0)
    per_step = np.nan_to_num(from_first + from_second, nan=np.inf, posinf=np.inf)
    return np.cumsum(per_step, axis=0)


def moment_tolerance(scale: np.ndarray, dtype: type, rtol: np.ndarray) -> np.ndarray:
    """Tolerance for a moment whose magnitude scale per step is `scale` [T, n]."""
    return rtol * scale + FLOOR_ULPS * ulp(scale, dtype)


def _ema(values: np.ndarray, beta: float) -> np.ndarray:
    out = np.empty_like(values)
    state = np.zeros(values.shape[1:])
    for t in range(values.shape[0]):
        state = beta * state + (1.0 - beta) * values[t]
        out[t] = state
    return out


def moment_scales(
    grads: np.ndarray, params_before: np.ndarray, weight_decay: float, beta1: float, beta2: float
) -> tuple[np.ndarray, np.ndarray]:
    """EMA of |g_eff| and of g_eff^2 with |g_eff| <= |g| + weight_decay * |w| ([T, n] each)."""
    magnitude = np.abs(grads) + abs(weight_decay) * np.abs(params_before)
    return _ema(magnitude, beta1), _ema(magnitude**2, beta2)


def propagated_moment_error(
    grads: np.ndarray, params_before: np.ndarray, param_tolerance_before: np.ndarray, weight_decay: float,
    beta1: float, beta2: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Moment error that an in-tolerance parameter error feeds back through weight decay.

    With L2 weight decay g_eff = g + wd * w, so a parameter off by dw (within its own
    tolerance) moves g_eff by wd * dw, exp_avg by the EMA of that and exp_avg_sq by the
    EMA of 2 * |g_eff| * wd * dw.
    """
    shift = abs(weight_decay) * param_tolerance_before
    magnitude = np.abs(grads) + abs(weight_decay) * np.abs(params_before)
    return _ema(shift, beta1), _ema(2.0 * magnitude * shift + shift**2, beta2)
