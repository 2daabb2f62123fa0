"""The pre-refactor spec, kept as the equality oracle (tests/test_spec_phases.py).

A verbatim copy of reference/adam.py as it was before issue 19 item 4 rewrote
`adam_step` as named phases (git 103ddc0). Test-only: nothing outside tests/ imports
it. tests/test_spec_phases.py asserts that reference.adam.adam_step gives the same
bits as this `adam_step` for generated switch combinations. Do not edit it to follow
the spec: it is what the restructured spec must equal. It imports only the public
functions of reference.dtypes (STORAGE, dtype_name, largest, round_to).
"""

from __future__ import annotations

import functools
import numbers
from dataclasses import dataclass, replace
from typing import Optional, Sequence

import numpy as np

from reference.dtypes import STORAGE, dtype_name, largest, round_to

EPS_AFTER_BIAS_CORRECTION = "after_bias_correction"
EPS_BEFORE_BIAS_CORRECTION = "before_bias_correction"

WEIGHT_DECAY_L2 = "l2"
WEIGHT_DECAY_DECOUPLED = "decoupled"

SQRT_DOWN = "sqrt_rounded_down"
SQRT_UP = "sqrt_rounded_up"

BETAS_EXACT = "exact"
BETAS_FLOAT32 = "float32"
BETAS_FLOAT32_SCALARS = "float32_scalars"
BETAS_FLOAT32_SCALARS_EAGER = "float32_scalars_eager"
BETAS_FLOAT32_DIRECT = "float32_direct"


@dataclass(frozen=True)
class AdamState:
    """State of one parameter tensor. `step` counts completed updates."""

    param: np.ndarray
    exp_avg: np.ndarray
    exp_avg_sq: np.ndarray
    max_exp_avg_sq: np.ndarray
    step: int = 0
    # beta^t as the implementation holds it; only used by the betas_precision="float32"
    # variant (MindSpore keeps beta1_power/beta2_power as float32
    # Parameters and multiplies them once per step).
    beta1_power: float = 1.0
    beta2_power: float = 1.0


def init_state(param: np.ndarray) -> AdamState:
    param = np.array(param, dtype=np.float64, copy=True)
    zeros = np.zeros_like(param)
    return AdamState(param=param, exp_avg=zeros, exp_avg_sq=zeros.copy(), max_exp_avg_sq=zeros.copy())


def lr_at(lr: float | Sequence[float], step: int) -> float:
    """Learning rate for 1-based `step` from a scalar or a per-step list.

    A list holds one value per step (MindSpore's dynamic learning_rate list,
    mindspore/nn/optim/optimizer.py _build_single_lr; torch writes group["lr"] per
    step, as an LR scheduler does). The spec defines a list shorter than the run to
    repeat its last value (a schedule that has ended); MindSpore instead fails past
    the end of its list, which its adapter declares as unsupported.
    """
    if step < 1:
        raise ValueError(f"steps are 1-based, got {step}")
    if isinstance(lr, numbers.Real):
        return float(lr)
    values = list(lr)
    return float(values[min(step, len(values)) - 1])


def weight_decay_applies(name: str, exempt_substrings: Sequence[str] = ()) -> bool:
    """Whether weight decay reaches the parameter called `name`.

    With exempt_substrings=("beta", "gamma") this is MindSpore's default filter for
    a flat parameter list: mindspore/nn/optim/optimizer.py, Optimizer.__init__,
    `decay_filter = lambda x: 'beta' not in x.name and 'gamma' not in x.name`.
    torch applies weight decay to every parameter of a group (exempt_substrings=()).
    """
    return not any(part in name for part in exempt_substrings)


def beyond_range(x: np.ndarray, dtype: str) -> np.ndarray:
    """float64 values, except those beyond the range of `dtype`: storing them there can
    only give +-inf, so they are +-inf."""
    if dtype_name(dtype) == "float64" or not (np.abs(x) > largest(dtype)).any():
        # Nothing beyond float64's range is finite in float64, and nothing up to the
        # dtype's largest value rounds to inf: x as it is (NaN compares false).
        return x
    stored = round_to(x, dtype)
    beyond = np.isinf(stored) & np.isfinite(x)
    return np.where(beyond, stored, x) if beyond.any() else x


def _flushed(x: np.ndarray, dtype: str) -> np.ndarray:
    """Subnormal values of `dtype` become (signed) zero: a kernel run with
    flush-to-zero / denormals-are-zero. (bfloat16 shares float32's exponent range.)"""
    tiny = np.finfo(STORAGE[dtype_name(dtype)]).tiny
    return np.where(np.abs(x) < tiny, x * 0.0, x)


def _float32_sqrt(x: np.float32, rounding: bool | str) -> np.float32:
    """float32 sqrt of a float32: nearest (True), or the neighbour below/above the exact root."""
    nearest = np.float32(np.sqrt(np.float64(x)))
    square = np.float64(nearest) * np.float64(nearest)  # exact: 24-bit times 24-bit
    if rounding == SQRT_DOWN and square > x:
        return np.nextafter(nearest, np.float32(0))
    if rounding == SQRT_UP and square < x:
        return np.nextafter(nearest, np.float32(np.inf))
    return nearest


def _moments_in_dtype(state: AdamState, g: np.ndarray, beta1: float, beta2: float, dtype: str,
                      square_dtype: Optional[str] = None):
    """torch's in-place moment updates on a float16/bfloat16 tensor, each op computed in
    float32 (ATen's opmath) and rounded to the dtype: exp_avg.lerp_(g, 1 - beta1) (Lerp.h:
    weight < 0.5 ? m + w (g - m) : g - (g - m)(1 - w)), exp_avg_sq.mul_(beta2) then
    .addcmul_(g, g, value=1 - beta2). (Measured against torch 2.13: the float32 lerp
    formula matches all but 0.03% of random float16 inputs, float64 arithmetic 0.5%.)"""
    f32 = np.float32
    weight = f32(1.0 - beta1)
    m32, g32 = state.exp_avg.astype(f32), g.astype(f32)
    lerped = m32 + weight * (g32 - m32) if weight < 0.5 else g32 - (g32 - m32) * (f32(1.0) - weight)
    decayed = round_to(state.exp_avg_sq.astype(f32) * f32(beta2), dtype).astype(f32)
    # (1 - beta2) * g * g, left to right, as ATen's addcmul does; only a narrower
    # square_dtype forms g * g first (and rounds it).
    if square_dtype is None:
        v = decayed + f32(1.0 - beta2) * g32 * g32
    else:
        v = decayed + f32(1.0 - beta2) * round_to(g32 * g32, square_dtype).astype(f32)
    return lerped.astype(np.float64), v.astype(np.float64)


def _float32(x: float) -> float:
    return float(np.float32(x))


def _float_in(x: float, dtype: str) -> float:
    """A Python number as a tensor op of `dtype` uses it: rounded to the dtype's opmath
    (float32 for float16 and bfloat16 tensors, the dtype itself otherwise)."""
    return x if dtype_name(dtype) == "float64" else _float32(x)


def _without_floating_point_warnings(function):
    """Runs `function` under np.errstate(all="ignore"): the spec computes with inf and NaN
    on purpose (extreme gradients; results.json reports where they appear), and one
    errstate per step costs a tenth of what one per operation did."""
    @functools.wraps(function)
    def quiet(*args, **kwargs):
        with np.errstate(all="ignore"):
            return function(*args, **kwargs)

    return quiet


@_without_floating_point_warnings
def adam_step(
    state: AdamState,
    grad: np.ndarray,
    *,
    lr: float,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    amsgrad: bool = False,
    maximize: bool = False,
    nesterov: bool = False,
    loss_scale: float = 1.0,
    weight_decay_mode: str = WEIGHT_DECAY_L2,
    weight_decay_before_unscale: bool = False,
    eps_placement: str = EPS_AFTER_BIAS_CORRECTION,
    betas_precision: str = BETAS_EXACT,
    kernel_dtype: str = "float32",
    hyperparameters_float32: bool = False,
    beta1_as_lerp_weight: bool = False,
    flush_subnormals: bool = False,
    amsgrad_max_keeps_on_nan: bool = False,
    storage_dtype: Optional[str] = None,
    lazy_rows: Optional[np.ndarray] = None,
    moments_dtype: Optional[str] = None,
    denominator_dtype: Optional[str] = None,
    gradient_square_dtype: Optional[str] = None,
    bias_correction_float32: bool | str = False,
    gradient_square: Optional[np.ndarray] = None,
    moments_increment_form: bool = False,
) -> AdamState:
    """One Adam update of one parameter tensor; returns the new state.

    Switches (all default to Algorithm 1):

    loss_scale: the incoming gradient is the loss-scaled one and is divided by
        loss_scale first. Source: mindspore/nn/optim/optimizer.py,
        Optimizer.scale_grad (multiplies by reciprocal_scale = 1/loss_scale).
    weight_decay, weight_decay_mode="l2": g += weight_decay * w before the moments.
        Source: torch/optim/adam.py, _single_tensor_adam (`grad = grad.add(param,
        alpha=weight_decay)`); mindspore/nn/optim/optimizer.py, _tensor_apply_decay.
    weight_decay_mode="decoupled": w *= 1 - lr * weight_decay before the Adam step,
        moments see the raw gradient. Source: Loshchilov & Hutter, "Decoupled Weight
        Decay Regularization" (ICLR 2019), Algorithm 2; torch/optim/adam.py with
        decoupled_weight_decay=True (AdamW).
    weight_decay_before_unscale: the L2 term is added to the still loss-scaled
        gradient and then divided by loss_scale together with it, i.e. the effective
        decay is weight_decay / loss_scale. Source: mindspore/nn/optim/adam.py,
        Adam.construct calls decay_weight() before scale_grad().
    maximize: g = -g, before weight decay is added. Source: torch/optim/adam.py,
        _single_tensor_adam (`grad = grad if not maximize else -grad`, then
        `grad = grad.add(param, alpha=weight_decay)`).
    amsgrad: vmax = max(vmax, v_t) and vmax replaces v_t in the denominator.
        Source: Reddi, Kale & Kumar, "On the Convergence of Adam and Beyond"
        (ICLR 2018), Algorithm 2; torch/optim/adam.py keeps the max of the
        un-corrected v and divides it by (1 - beta2^t), which is what this does.
    nesterov: the numerator m_t is replaced by beta1 * m_t + (1 - beta1) * g_t.
        Source: MindSpore's Adam kernel with use_nesterov=True
        (mindspore/ops/kernel/cpu/nnacl/fp32/adam_fp32.c, AdamFp32:
        `var -= lr_t * (m * beta1 + (1 - beta1) * grad) / (sqrt(v) + epsilon)`);
        Dozat, "Incorporating Nesterov Momentum into Adam" (2016) for the idea.
    eps_placement="before_bias_correction": eps is added to sqrt(v_t) before the
        bias correction is folded into the learning rate:
        lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t);  w -= lr_t * m / (sqrt(v) + eps).
        This is Kingma & Ba section 2, last paragraph ("the efficiency of
        algorithm 1 can be improved ... eps-hat"), and MindSpore's Adam kernel
        (adam_fp32.c, AdamFp32). Equivalent to Algorithm 1 with eps replaced by
        eps / sqrt(1 - beta2^t).
    betas_precision="float32": beta1 and beta2 are float32 numbers and the moments
        are updated in float32 as m += (g - m) * c with c = fl32(1 - fl32(beta)), so
        the effective beta is 1 - c (0.99900001287 for beta2 = 0.999, 0.00099998713
        for beta2 = 0.001); beta^t is the float32 running product
        fl32(beta^(t-1) * fl32(beta)) from which the bias corrections are taken.
        kernel_dtype: the dtype of that moment arithmetic (the parameter's dtype:
        MindSpore's amsgrad kernel also runs float64 parameters, with float32 betas).
        Source: mindspore/nn/optim/adam.py, Adam.__init__ (self.beta1 =
        Tensor(beta1, float32); beta1_power, beta2_power are float32 Parameters) and
        Adam.construct (beta1_power = beta1_power * beta1); the kernel computes
        1 - beta1 in float32 (nnacl/fp32/adam_fp32.c).
    flush_subnormals (with betas_precision="float32"): the kernel flushes subnormal
        inputs and results (g, m, v, w) to zero, as measured for MindSpore's CPU Adam
        kernel (g = 1e-40: m, v stay 0; g = 1e-37: m = 1e-38 subnormal becomes 0, while a
        plain MindSpore multiply keeps subnormals; cases/reproducers/mindspore-kernel-flush-to-zero.json).
    storage_dtype: the dtype the implementation stores w, m and v in. The spec computes
        in float64 but a moment or parameter beyond that dtype's range is +-inf as soon
        as it is formed (before the update uses it), as storing it must make it:
        (1 - beta2) g^2 = 6e71 for |g| = 2.5e37 is inf in float32, and every float32
        implementation then divides by sqrt(inf). Values inside the range stay float64.
    amsgrad_max_keeps_on_nan: vmax = v if v > vmax else vmax, so a NaN v leaves vmax as it
        was (and a NaN vmax stays NaN), where the spec's max propagates NaN. Measured for
        MindSpore's ApplyAdamWithAmsgradV2 CPU kernel: max(0, NaN) gives 0.
    betas_precision="float32_scalars": beta1 and beta2 are float32 scalars in the
        direct form m = fl32(beta1) * m + fl32(1 - fl32(beta1)) * g (the complement
        taken in float32; the moment arithmetic itself in the tensor dtype), the bias
        corrections are float32, 1 - fl32(fl32(beta)^t), and the step size
        lr / (1 - beta1^t) and sqrt(1 - beta2^t) are float32 too:
        w -= fl32(lr / bc1) * m / (sqrt(v) / fl32(sqrt(bc2)) + eps).
        eps_placement does not apply (this is mint's formula, eps after the correction).
        Source: mindspore/mint/optim/adam.py, Adam.construct and _run_optim_adamw_opt
        (state_step is a float32 Tensor; the compiled graph holds the Python-float
        betas as float32 scalars, measured: step 1's exp_avg_sq is
        (1 - fl32(0.999)) * g^2 in float32 and float64 runs alike).
    betas_precision="float32_direct": float32 betas (Tensors) in the direct form
        m = fl32(beta1) * m + fl32(1 - fl32(beta1)) * g, the arithmetic in the tensor
        dtype (a float64 tensor times a float32 Tensor is float64), beta^t the float32
        running product as for "float32", and with eps_placement="before_bias_correction"
        lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t) in float32 ops. Source:
        mindspore/nn/optim/adam.py _run_lazy_opt_with_sparse and _run_opt_with_sparse,
        the default target's in-graph sparse paths (next_m = m_slice * beta1 + values *
        (1 - beta1); lr_t = lr * op_sqrt(1 - beta2_power) / (1 - beta1_power)).
    betas_precision="float32_scalars_eager": the same as "float32_scalars", with the complements taken in
        double and then made float32 scalars, fl32(1 - beta), as mint runs op by op in
        PyNative (the Python expression 1 - beta1 is evaluated before the op sees it;
        measured on 2.10, float64: step 1's exp_avg is fl32(0.09999999999999998) * g).
    hyperparameters_float32: lr, eps and weight_decay are float32 numbers (MindSpore
        passes them to its kernels as float32 Tensors, nn/optim/optimizer.py
        _build_single_lr and `Tensor(weight_decay, mstype.float32)`, adam.py
        `self.eps = Tensor(eps, mstype.float32)`, whatever the parameter dtype); with a
        loss scale, L2 decay adds fl32(weight_decay * loss_scale) * w to the scaled gradient
        and the sum is unscaled by a float32 reciprocal (Optimizer._preprocess_weight_decay
        multiplies the decay by the loss scale, decay_weight runs before scale_grad, which
        multiplies by reciprocal_scale = Tensor(1.0 / loss_scale, mstype.float32)).
    beta1_as_lerp_weight: the first moment is torch's exp_avg.lerp_(grad, 1 - beta1) with
        the weight held in kernel_dtype (the tensor dtype): the effective beta1 is
        1 - fl(1 - beta1) (float32: 0.00099998713 for beta1 = 0.001; float64: off by up
        to u64 / beta1 relative; irrelevant for beta1 >= 0.5 up to u).
        Source: torch/optim/adam.py _single_tensor_adam; aten/src/ATen/native/Lerp.h.
    moments_dtype: m and v are rounded to this dtype as soon as they are computed, so the
        update of the same step already uses the rounded values. In float16,
        (1 - beta2) * g^2 underflows to 0 for |g| < 5.5e-3 (beta2 = 0.999: below half
        the smallest subnormal, 2^-25) and overflows to inf for |g| > 8.1e3. Source:
        torch/optim/adam.py keeps exp_avg/exp_avg_sq in the parameter's dtype
        (torch.zeros_like(p)) and updates them in place (exp_avg.lerp_,
        exp_avg_sq.mul_().addcmul_()) before computing the denominator from them; the
        gradient g + weight_decay * w it forms is a tensor of that dtype too.
    gradient_square_dtype (with moments_dtype): g * g is formed in this dtype before
        (1 - beta2) scales it, so it overflows to inf above |g| = 255.9 in float16 where
        (1 - beta2) g^2 would not (mindspore/mint/optim/adam.py _run_optim_adamw_opt:
        mint.mul(mint.mul(grads, grads), 1 - beta2) on float16 tensors).
    denominator_dtype: the denominator sqrt(v_hat) + eps is rounded to this dtype, so an
        eps below half its smallest subnormal (float16: 2^-25 = 3e-8, e.g. the default
        1e-8) vanishes where v is 0: 0/0 = NaN, m/0 = inf. Source: torch/optim/adam.py
        _single_tensor_adam (denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps),
        a tensor of the parameter's dtype) and _multi_tensor_adam (torch._foreach_add_).
    bias_correction_float32: 1 - beta^t, lr / (1 - beta1^t) and eps / that step size are
        float32 numbers, the parameter update is w += m / (sqrt(v) / X + Y) with
        X = fl32(fl32(sqrt(bc2)) * -step_size), Y = fl32(eps / -step_size) (a python
        number divided by a tensor is the tensor's reciprocal times the number). Source:
        torch/optim/adam.py _single_tensor_adam, `if capturable or differentiable:`
        branch (bias_correction1 = 1 - beta1 ** step with step a float32 tensor,
        _get_scalar_dtype()).
        True takes the float32 sqrt of 1 - beta2^t correctly rounded; torch's CPU float32
        sqrt is only faithful (measured on torch 2.13 AVX512: 20% of uniform inputs get
        the other neighbour), so SQRT_DOWN / SQRT_UP take the float32 neighbour below /
        above the exact root (one of the two is torch's).
    gradient_square: what the second moment takes for g * g (the gradient after maximize,
        loss scaling and weight decay): a row-sparse gradient whose copies of a repeated
        row are squared one by one, sum(copy^2) instead of (sum copies)^2. Source:
        mindspore/nn/optim/adam.py _run_opt_with_sparse, the default target's non-lazy
        path (scatter_add(v, indices, (1 - beta2) * square(values))).
    moments_increment_form: the moments are updated in the increment form, each operation
        rounded to kernel_dtype (the tensor dtype): m += (g - m) * (1 - beta1),
        v += (g * g - v) * (1 - beta2). Where beta1 is tiny and |g| drops sharply, g - m
        cancels and leaves an error of about u * |m_prev| that beta1 * m + (1 - beta1) * g
        does not have. Source: torch/optim/_functional.py sparse_adam (SparseAdam:
        exp_avg_update_values = grad_values.sub(old_exp_avg_values).mul_(1 - beta1), the
        same for exp_avg_sq with grad_values.pow(2)).
    lazy_rows: row-sparse gradient (lazy Adam): only the listed rows along axis 0
        have their m, v and w updated; the others are left untouched. `grad` must
        then be zero outside those rows. Source: mindspore/nn/optim/lazyadam.py and
        the FusedSparseLazyAdam kernel; TensorFlow's LazyAdamOptimizer.
    """
    step = state.step + 1
    scaled_weight_decay = weight_decay * loss_scale
    if hyperparameters_float32:
        lr, eps, weight_decay = _float32(lr), _float32(eps), _float32(weight_decay)
    if weight_decay_mode not in (WEIGHT_DECAY_L2, WEIGHT_DECAY_DECOUPLED):
        raise ValueError(f"unknown weight_decay_mode {weight_decay_mode!r}")
    g = np.array(grad, dtype=np.float64, copy=True)
    w = state.param.copy()

    # torch negates the gradient before adding the L2 term (maximize must not turn
    # weight decay into weight growth).
    if maximize:
        g = -g
    if loss_scale != 1.0 and weight_decay_before_unscale and weight_decay_mode == WEIGHT_DECAY_L2:
        g = (g + weight_decay * w) / loss_scale
    elif loss_scale != 1.0 and hyperparameters_float32 and weight_decay_mode == WEIGHT_DECAY_L2:
        # MindSpore: weight_decay * loss_scale as a float32 Tensor is added to the scaled
        # gradient, and the sum unscaled by multiplying with reciprocal_scale, a float32
        # Tensor (nn/optim/optimizer.py _preprocess_weight_decay, decay_weight, scale_grad).
        if weight_decay != 0.0:
            g = g + _float32(scaled_weight_decay) * w
        g = g * _float32(1.0 / loss_scale)
    else:
        if loss_scale != 1.0:
            g = g / loss_scale
        if weight_decay_mode == WEIGHT_DECAY_L2 and weight_decay != 0.0:
            g = g + weight_decay * w
    if weight_decay_mode == WEIGHT_DECAY_DECOUPLED and weight_decay != 0.0:
        w = w * (1.0 - lr * weight_decay)
    if moments_dtype is not None:
        # torch forms g + weight_decay * w as a tensor of the parameter's dtype.
        g = round_to(g, moments_dtype)

    if betas_precision == BETAS_FLOAT32:
        one_minus_beta1 = _float32(1.0 - _float32(beta1))
        one_minus_beta2 = _float32(1.0 - _float32(beta2))
        beta1_power = _float32(state.beta1_power * _float32(beta1))
        beta2_power = _float32(state.beta2_power * _float32(beta2))
        nesterov_beta1 = _float32(beta1)
    elif betas_precision == BETAS_FLOAT32_DIRECT:
        one_minus_beta1 = _float32(1.0 - _float32(beta1))
        one_minus_beta2 = _float32(1.0 - _float32(beta2))
        beta1, beta2 = _float32(beta1), _float32(beta2)
        beta1_power = _float32(state.beta1_power * beta1)
        beta2_power = _float32(state.beta2_power * beta2)
        nesterov_beta1 = beta1
    elif betas_precision in (BETAS_FLOAT32_SCALARS, BETAS_FLOAT32_SCALARS_EAGER):
        if betas_precision == BETAS_FLOAT32_SCALARS:
            one_minus_beta1 = _float32(1.0 - _float32(beta1))
            one_minus_beta2 = _float32(1.0 - _float32(beta2))
        else:  # the complement taken in double (Python), then made a float32 scalar
            one_minus_beta1, one_minus_beta2 = _float32(1.0 - beta1), _float32(1.0 - beta2)
        beta1, beta2 = _float32(beta1), _float32(beta2)
        # beta^t as MindSpore's float32 Pow of the float32 step counter: the float32 base
        # raised in double, rounded once (measured on 2.10 CPU, GRAPH_MODE and PyNative,
        # 616 of 616 (beta, t) pairs; numpy's float32 power differs in 54 of them).
        beta1_power = _float32(beta1**step)
        beta2_power = _float32(beta2**step)
        nesterov_beta1 = beta1
    elif betas_precision == BETAS_EXACT:
        one_minus_beta1, one_minus_beta2 = 1.0 - beta1, 1.0 - beta2
        beta1_power = beta1**step
        beta2_power = beta2**step
        nesterov_beta1 = beta1
    else:
        raise ValueError(f"unknown betas_precision {betas_precision!r}")

    if betas_precision == BETAS_FLOAT32:
        # MindSpore's kernel form in float32 with fused multiply-adds (nnacl AdamFp32):
        # m = fma(fl32(g - m), c1, m), v = fma(fma(g, g, -v), c2, v). When beta1 is tiny and |g| falls sharply,
        # (g - m) cancels and leaves an error of about u32 * |m_prev| that the
        # direct form beta * m + (1 - beta) * g does not have. (Products of two
        # float32 numbers are exact in float64, so float64 emulates the fma up to a
        # double rounding: in rare midpoint cases the result is 1 float32 ulp off,
        # tests/test_reference_adam.py test_known_gap_float32_kernel_...)
        def kd(values: np.ndarray) -> np.ndarray:
            return round_to(values, kernel_dtype)

        gk, mk, vk = kd(g), kd(state.exp_avg), kd(state.exp_avg_sq)
        if flush_subnormals:
            gk, mk, vk = _flushed(gk, kernel_dtype), _flushed(mk, kernel_dtype), _flushed(vk, kernel_dtype)
        m_step = kd(gk - mk)
        # g * g - v is one fused operation in the kernel: fma(g, g, -v).
        v_step = kd((gk * gk if gradient_square is None else kd(gradient_square)) - vk)
        m = kd(mk + m_step * one_minus_beta1)
        v = kd(vk + v_step * one_minus_beta2)
        if flush_subnormals:
            m, v = _flushed(m, kernel_dtype), _flushed(v, kernel_dtype)
    else:
        if beta1_as_lerp_weight:
            # torch: exp_avg.lerp_(grad, weight) with weight = 1 - beta1 held in the
            # tensor dtype (kernel_dtype); ATen's lerp uses 1 - weight for weight >= 0.5,
            # exact (Sterbenz), so beta1 becomes 1 - fl(1 - beta1). Its arithmetic form
            # (aten/src/ATen/native/Lerp.h lerp): weight < 0.5: self + weight * (end - self),
            # else end - (end - self) * (1 - weight) — an infinite moment turns NaN at the
            # next finite gradient (inf - inf), where beta1 * m + (1 - beta1) * g stays inf.
            weight = float(round_to(1.0 - beta1, kernel_dtype))
            beta1 = 1.0 - weight
            one_minus_beta1 = weight
        if moments_dtype is not None and betas_precision == BETAS_EXACT:
            m, v = _moments_in_dtype(state, g, beta1, beta2, moments_dtype, gradient_square_dtype)
        elif moments_increment_form:
            def kd(values: np.ndarray) -> np.ndarray:
                return round_to(values, kernel_dtype)

            gk, m_old, v_old = kd(g), state.exp_avg, state.exp_avg_sq
            m = kd(m_old + kd(kd(gk - m_old) * _float_in(one_minus_beta1, kernel_dtype)))
            v = kd(v_old + kd(kd(kd(gk * gk) - v_old) * _float_in(one_minus_beta2, kernel_dtype)))
        else:
            m_old, v_old = state.exp_avg, state.exp_avg_sq
            if beta1_as_lerp_weight and one_minus_beta1 < 0.5:
                m = state.exp_avg + one_minus_beta1 * (g - state.exp_avg)
            elif beta1_as_lerp_weight:
                m = g - (g - state.exp_avg) * (1.0 - one_minus_beta1)
            else:
                m = beta1 * m_old + one_minus_beta1 * g
            # Left to right, (1 - beta2) * g * g, unless the square is formed in a
            # narrower dtype first: a different order moves float64 results by an ulp.
            if gradient_square is not None:
                v = beta2 * state.exp_avg_sq + one_minus_beta2 * gradient_square
            elif betas_precision in (BETAS_FLOAT32_SCALARS, BETAS_FLOAT32_SCALARS_EAGER):
                # mint: mint.mul(mint.mul(grads, grads), 1 - beta2), the square first.
                v = beta2 * v_old + one_minus_beta2 * (g * g)
            elif gradient_square_dtype is None:
                v = beta2 * state.exp_avg_sq + one_minus_beta2 * g * g
            else:
                v = beta2 * state.exp_avg_sq + one_minus_beta2 * round_to(g * g, gradient_square_dtype)
    if moments_dtype is not None:
        m, v = round_to(m, moments_dtype), round_to(v, moments_dtype)
    if storage_dtype is not None:
        m, v = beyond_range(m, storage_dtype), beyond_range(v, storage_dtype)
    if not amsgrad:
        vmax = state.max_exp_avg_sq
    elif amsgrad_max_keeps_on_nan:
        vmax = np.where(v > state.max_exp_avg_sq, v, state.max_exp_avg_sq)
    else:
        vmax = np.maximum(state.max_exp_avg_sq, v)  # NaN wins, as in torch.maximum
    bias_correction1 = 1.0 - beta1_power
    bias_correction2 = 1.0 - beta2_power
    if betas_precision in (BETAS_FLOAT32_SCALARS, BETAS_FLOAT32_SCALARS_EAGER, BETAS_FLOAT32_DIRECT):
        # The float32 subtraction: 1 - p is exact in float64 for a float32 p, so one
        # rounding to float32 gives the float32 result.
        bias_correction1, bias_correction2 = _float32(bias_correction1), _float32(bias_correction2)

    numerator = nesterov_beta1 * m + one_minus_beta1 * g if nesterov else m
    second_moment = vmax if amsgrad else v
    if bias_correction_float32:
        f32 = np.float32
        # ATen's float pow: the float32 base raised in double, rounded once (measured
        # bit for bit against torch 2.13 on CPU; numpy's float32 power differs by an ulp).
        power1, power2 = f32(float(f32(beta1)) ** step), f32(float(f32(beta2)) ** step)
        # Python's `lr / tensor` is tensor.reciprocal() * lr (torch/_tensor.py __rdiv__).
        step_size_neg = -(f32(1.0) / (f32(1.0) - power1) * f32(lr))
        scale = float(_float32_sqrt(f32(1.0) - power2, bias_correction_float32) * step_size_neg)
        shift = float(f32(1.0) / step_size_neg * f32(eps))
        denom = np.sqrt(second_moment) / scale
        if denominator_dtype is not None:  # each op of the denominator rounds
            denom = round_to(round_to(denom, denominator_dtype) + shift, denominator_dtype)
        else:
            denom = denom + shift
        update = -(numerator / denom)
    elif betas_precision in (BETAS_FLOAT32_SCALARS, BETAS_FLOAT32_SCALARS_EAGER):
        # mint's update formula as a whole: eps after the bias correction, whatever
        # eps_placement says (combined with MindSpore's kernel placement it would model
        # no implementation, and attribution would find coincidences in it).
        step_size = _float32(lr / bias_correction1)
        denom = np.sqrt(second_moment) / _float32(np.sqrt(bias_correction2)) + eps
        update = step_size * (numerator / denom)
    elif eps_placement == EPS_AFTER_BIAS_CORRECTION:
        denom = np.sqrt(second_moment / bias_correction2) + eps
        if denominator_dtype is not None:
            denom = round_to(denom, denominator_dtype)
        update = lr * (numerator / bias_correction1) / denom
    elif eps_placement == EPS_BEFORE_BIAS_CORRECTION and betas_precision == BETAS_FLOAT32_DIRECT:
        # lr * sqrt(1 - beta2^t) / (1 - beta1^t), each op on float32 tensors.
        lr_t = _float32(_float32(lr * _float32(np.sqrt(bias_correction2))) / bias_correction1)
        update = lr_t * (numerator / (np.sqrt(second_moment) + eps))
    elif eps_placement == EPS_BEFORE_BIAS_CORRECTION:
        lr_t = lr * np.sqrt(bias_correction2) / bias_correction1
        update = lr_t * numerator / (np.sqrt(second_moment) + eps)
    else:
        raise ValueError(f"unknown eps_placement {eps_placement!r}")
    new_w = w - update
    if storage_dtype is not None:
        new_w = beyond_range(new_w, storage_dtype)
    if flush_subnormals and betas_precision == BETAS_FLOAT32:
        new_w = _flushed(round_to(new_w, kernel_dtype), kernel_dtype)

    if lazy_rows is not None:
        untouched = np.ones(new_w.shape[0] if new_w.ndim else 1, dtype=bool)
        untouched[np.asarray(lazy_rows, dtype=np.int64)] = False
        if new_w.ndim:
            new_w[untouched] = state.param[untouched]
            m[untouched] = state.exp_avg[untouched]
            v[untouched] = state.exp_avg_sq[untouched]
            vmax = vmax.copy()
            vmax[untouched] = state.max_exp_avg_sq[untouched]

    return replace(
        state,
        param=new_w,
        exp_avg=m,
        exp_avg_sq=v,
        max_exp_avg_sq=vmax,
        step=step,
        beta1_power=beta1_power,
        beta2_power=beta2_power,
    )
