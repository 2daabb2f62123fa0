"""The tolerance rule (derivation in README.md, "Tolerance rule").

For a parameter element after step t, with the reference trajectory w_0..w_t:

    tolerance_t = rtol_t * S_t + floor_t
    S_t      = sum_{i<=t} |w_i - w_{i-1}|       (reference path length; = |w_t - w_0|
                                                 while updates keep their sign)
    rtol_t   = SAFETY * u * (OPS_PER_STEP + min(t, 1/(1-beta1)) + min(t, 1/(1-beta2)))
    floor_t  = 1/2 * ulp(w_t) + 1/2 * sum_{i<=t} ulp(w_i)

u is the unit roundoff of the case dtype, ulp(x) the spacing of the dtype at |x|
(reference/dtypes.py; bfloat16 has u = 2^-8, float16 2^-11, float32 2^-24).
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

from reference import dtypes

SAFETY = 4.0
OPS_PER_STEP = 8
FLOOR_ULPS = 4.0  # moments only (several roundings per value)


def unit_roundoff(dtype: type | str) -> float:
    """2^-8 bfloat16, 2^-11 float16, 2^-24 float32, 2^-53 float64 (a name or a numpy type)."""
    return dtypes.unit_roundoff(dtype)


def ulp(values: np.ndarray, dtype: type | str) -> np.ndarray:
    """Spacing of `dtype` at |values| (as float64); NaN at a NaN."""
    with np.errstate(invalid="ignore"):  # a reference gone NaN: its tolerance is NaN, which compare() handles
        return dtypes.spacing(values, dtype)


def running_sum(values: np.ndarray) -> np.ndarray:
    """np.cumsum(values, axis=0), bit for bit (the same additions in the same order).

    numpy accumulates along axis 0 column by column, with a stride, and is about 8x
    slower than adding whole rows once a row is wider than a few dozen elements
    (measured: [300, 1024] 5.1 ms vs 0.66 ms)."""
    if values.ndim != 2 or values.shape[1] < 64 or values.shape[0] < 2:
        return np.cumsum(values, axis=0)
    out = np.empty_like(values)
    total = out[0] = values[0]
    for i in range(1, values.shape[0]):
        total = out[i] = total + values[i]
    return out


def _memory(steps: np.ndarray, beta: float) -> np.ndarray:
    return steps if beta >= 1.0 else np.minimum(steps, 1.0 / (1.0 - beta))


def rtol_per_step(num_steps: int, dtype: type, beta1: float, beta2: float) -> np.ndarray:
    """rtol_t for t = 1..num_steps, shape [num_steps, 1]."""
    t = np.arange(1, num_steps + 1, dtype=np.float64)
    rtol = SAFETY * unit_roundoff(dtype) * (OPS_PER_STEP + _memory(t, beta1) + _memory(t, beta2))
    return rtol[:, None]


def param_tolerance(trajectory: np.ndarray, dtype: type | str, rtol: np.ndarray,
                    roundings_per_step: int = 1, path_length: np.ndarray | None = None) -> np.ndarray:
    """Tolerance for w_1..w_T given the reference trajectory [T+1, n].

    roundings_per_step: half-ulp roundings of w per step. 1: the stored update. 3 with
    decoupled weight decay: w *= 1 - lr * wd is a separate in-place multiply (its result
    rounds) by a multiplier that is itself rounded to the dtype (off by at most 2^-p-1,
    i.e. at most half an ulp of w), before the update rounds again.
    path_length: the trajectory's path_length, where the caller has it already.
    """
    if path_length is None:
        path_length = reference_path_length(trajectory)
    stored_ulp = ulp(trajectory[1:], dtype)
    floor = 0.5 * stored_ulp + 0.5 * roundings_per_step * running_sum(stored_ulp)
    return rtol * path_length + floor


def reference_path_length(trajectory: np.ndarray) -> np.ndarray:
    """S_t = sum_{i<=t} |w_i - w_{i-1}| for t = 1..T of a trajectory [T+1, n]."""
    with np.errstate(invalid="ignore"):  # inf - inf where the reference went infinite: NaN, handled by compare()
        return running_sum(np.abs(np.diff(trajectory, axis=0)))


def finite_or(values: np.ndarray, nan: float) -> np.ndarray:
    """np.nan_to_num(values, nan=nan), without its four passes where every value is finite."""
    return values if np.isfinite(values).all() else np.nan_to_num(values, nan=nan)


def coupled_tolerances(
    own_param: np.ndarray, own_first: np.ndarray, own_second: np.ndarray, *,
    grads: np.ndarray, params_before: np.ndarray, weight_decay: float, lrs: np.ndarray,
    beta1: float, beta2: float, eps: float, exp_avg: np.ndarray, second_moment: np.ndarray,
    eps_root: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parameter, exp_avg and second-moment tolerances with their mutual propagation.

    The own tolerances cover the rounding each quantity makes itself. On top, step by
    step (first-order error recursion, all [T, n]):
      - a parameter error E_w(t-1) moves g_eff = g + wd * w by wd * E_w(t-1), so
        exp_avg by the EMA of that and the second moment by the EMA of
        2 |g_eff| wd E_w(t-1) + (wd E_w(t-1))^2;
      - moment errors E_m, E_v move the update lr * m_hat / (sqrt(v_hat) + eps) by
        lr / bc1 * E_m / (sqrt(v_hat) + eps) + |update| * E_v / (2 v), which adds up
        in the parameter.
    This is what keeps rounding inside tolerance where g + wd * w cancels (m far smaller
    than the terms it is made of) and where weight decay makes the trajectory amplify
    its own errors (the bound then grows as the dynamics do). Without weight decay and
    cancellation it adds about rtol_t * |update| per step.
    With optax's eps_root the denominator is sqrt(v_hat + eps_root) + eps: the gains are
    taken at v + eps_root * bc2 (with eps_root = 0 the same numbers, bit for bit).
    """
    steps = own_param.shape[0]
    t = np.arange(1, steps + 1, dtype=np.float64)
    bias_correction1 = 1.0 - beta1**t
    bias_correction2 = 1.0 - beta2**t
    magnitude = _gradient_magnitude(grads, params_before, weight_decay)
    if eps_root:
        second_moment = second_moment + eps_root * bias_correction2[:, None]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        denom = np.sqrt(second_moment / bias_correction2[:, None]) + eps
        update = lrs[:, None] * np.abs(exp_avg) / bias_correction1[:, None] / denom
        first_gain = lrs[:, None] / bias_correction1[:, None] / denom
        second_gain = np.where(second_moment > 0, update / (2.0 * second_moment), 0.0)
    first_gain = finite_or(first_gain, nan=np.inf)
    second_gain = finite_or(second_gain, nan=np.inf)

    if weight_decay == 0.0:
        fast = _uncoupled_tolerances(own_param, own_first, own_second, magnitude, first_gain, second_gain)
        if fast is not None:
            return fast
    return _coupled_recursion(own_param, own_first, own_second, magnitude, first_gain, second_gain,
                              weight_decay, beta1, beta2)


def _uncoupled_tolerances(own_param, own_first, own_second, magnitude, first_gain, second_gain):
    """The recursion of `_coupled_recursion` without weight decay, over all steps at once.

    With weight_decay = 0 nothing feeds back into the moments (the shift is 0 * finite =
    0, so fed_first = fed_second = 0 and x + 0 = x), so the moment tolerances are their
    own and the parameter adds the running sum of first_gain * first_tol, then
    second_gain * second_tol, in the loop's order: a running sum over the two terms
    interleaved adds exactly the same numbers in the same order, so the result is bit for
    bit the loop's. Where anything is not finite (0 * inf is NaN in the loop, and the
    loop's nan_to_num maps inf and NaN) it returns None and the loop decides.
    """
    if not (np.isfinite(magnitude).all() and np.isfinite(own_param).all()):
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        terms = np.empty((2 * own_param.shape[0],) + own_param.shape[1:])
        terms[0::2] = first_gain * own_first
        terms[1::2] = second_gain * own_second
        propagated = running_sum(terms)[1::2]
        param_tol = own_param + propagated
    if not np.isfinite(param_tol).all():
        return None
    return param_tol, own_first, own_second  # the caller's where() makes new arrays of them


def _coupled_recursion(own_param, own_first, own_second, magnitude, first_gain, second_gain,
                       weight_decay, beta1, beta2):
    steps = own_param.shape[0]
    param_tol = np.empty_like(own_param)
    first_tol = np.empty_like(own_first)
    second_tol = np.empty_like(own_second)
    fed_first = np.zeros(own_param.shape[1:])
    fed_second = np.zeros(own_param.shape[1:])
    propagated = np.zeros(own_param.shape[1:])
    previous_param_tol = np.zeros(own_param.shape[1:])
    wd = abs(weight_decay)
    with np.errstate(over="ignore", invalid="ignore"):
        for i in range(steps):
            shift = wd * previous_param_tol
            fed_first = beta1 * fed_first + (1.0 - beta1) * shift
            fed_second = beta2 * fed_second + (1.0 - beta2) * (2.0 * magnitude[i] * shift + shift * shift)
            first_tol[i] = own_first[i] + fed_first
            second_tol[i] = own_second[i] + fed_second
            propagated = propagated + first_gain[i] * first_tol[i] + second_gain[i] * second_tol[i]
            finite = np.isfinite(propagated).all()  # nan_to_num is a no-op then, and costs 8 passes
            param_tol[i] = own_param[i] + (propagated if finite else np.nan_to_num(propagated, nan=np.inf))
            previous_param_tol = param_tol[i]
    return param_tol, first_tol, second_tol


def moment_tolerance(scale: np.ndarray, dtype: type, rtol: np.ndarray) -> np.ndarray:
    """Tolerance for a moment whose magnitude scale per step is `scale` [T, n]."""
    return rtol * scale + FLOOR_ULPS * ulp(scale, dtype)


def _ema(values: np.ndarray, beta: float, updated: np.ndarray | None = None) -> np.ndarray:
    """EMA over steps; where `updated` [T, n] is False the element keeps its value (a
    lazy step leaves the rows its gradient does not list untouched, and the spec a
    parameter without a gradient, moments included).

    out[t] = beta * out[t - 1] + (1 - beta) * values[t], evaluated in that order (a
    closed form or a parallel scan would round differently), in place row by row: two
    or three ufunc calls a step (it runs twice per comparison, for every step, and
    attribution compares against ~20 variant runs of a case)."""
    out = np.empty_like(values)
    scaled = (1.0 - beta) * values
    kept = None if updated is None else ~np.asarray(updated, dtype=bool)
    previous = np.zeros(values.shape[1:])
    for t, row in enumerate(out):
        np.multiply(previous, beta, out=row)
        np.add(row, scaled[t], out=row)
        if kept is not None:
            np.copyto(row, previous, where=kept[t])
        previous = row
    return out


def _gradient_magnitude(grads: np.ndarray, params_before: np.ndarray, weight_decay: float) -> np.ndarray:
    """|g| + weight_decay * |w|, the bound on |g_eff|; without weight decay |g| alone (a
    non-finite reference parameter then does not make 0 * inf = NaN of every scale)."""
    return np.abs(grads) + abs(weight_decay) * np.abs(params_before) if weight_decay else np.abs(grads)


def moment_scales(
    grads: np.ndarray, params_before: np.ndarray, weight_decay: float, beta1: float, beta2: float,
    updated: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """EMA of |g_eff| and of g_eff^2 with |g_eff| <= |g| + weight_decay * |w| ([T, n] each);
    `updated` [T, n]: False where a step leaves the element as it was, a row a lazy step
    does not list or a parameter without a gradient (its scale too: thorough finding, an
    untouched row's exp_avg of 0.999 with beta1 = 0.001 got a scale of 0.001 and a
    tolerance below float32's half ulp)."""
    magnitude = _gradient_magnitude(grads, params_before, weight_decay)
    return _ema(magnitude, beta1, updated), _ema(magnitude**2, beta2, updated)
