"""Adam, the specification: pure numpy, float64, no framework imports.

The base algorithm is Kingma & Ba, "Adam: A Method for Stochastic Optimization"
(ICLR 2015), Algorithm 1:

    g_t  = grad f(w_{t-1})
    m_t  = beta1 * m_{t-1} + (1 - beta1) * g_t
    v_t  = beta2 * v_{t-1} + (1 - beta2) * g_t^2
    m^_t = m_t / (1 - beta1^t)
    v^_t = v_t / (1 - beta2^t)
    w_t  = w_{t-1} - lr * m^_t / (sqrt(v^_t) + eps)

Every semantic variant that torch.optim.Adam or mindspore.nn.Adam documents is a
named keyword switch of `adam_step`; each cites where it comes from. The defaults
reproduce Algorithm 1 exactly (which is also torch.optim.Adam's documented
algorithm with weight_decay=0, amsgrad=False, maximize=False).

Everything is computed in float64 from float64 copies of the inputs; the caller
decides what those inputs are (the harness passes gradients already rounded to the
case's dtype, so the spec sees exactly the numbers the frameworks see).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, replace
from typing import Optional, Sequence

import numpy as np

EPS_AFTER_BIAS_CORRECTION = "after_bias_correction"
EPS_BEFORE_BIAS_CORRECTION = "before_bias_correction"

WEIGHT_DECAY_L2 = "l2"
WEIGHT_DECAY_DECOUPLED = "decoupled"

BETAS_EXACT = "exact"
BETAS_FLOAT32 = "float32"
BETAS_FLOAT32_SCALARS = "float32_scalars"


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


def _float32(x: float) -> float:
    return float(np.float32(x))


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
    lazy_rows: Optional[np.ndarray] = None,
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
    betas_precision="float32_scalars": beta1 and beta2 are float32 scalars in the
        direct form m = fl32(beta1) * m + fl32(1 - fl32(beta1)) * g (the complement
        taken in float32; the moment arithmetic itself in the tensor dtype), the bias
        corrections are float32, 1 - powf(fl32(beta), t), and the step size
        lr / (1 - beta1^t) and sqrt(1 - beta2^t) are float32 too:
        w -= fl32(lr / bc1) * m / (sqrt(v) / fl32(sqrt(bc2)) + eps).
        eps_placement does not apply (this is mint's formula, eps after the correction).
        Source: mindspore/mint/optim/adam.py, Adam.construct and _run_optim_adamw_opt
        (state_step is a float32 Tensor; the compiled graph holds the Python-float
        betas as float32 scalars, measured: step 1's exp_avg_sq is
        (1 - fl32(0.999)) * g^2 in float32 and float64 runs alike).
    hyperparameters_float32: lr, eps and weight_decay are float32 numbers (MindSpore
        passes them to its kernels as float32 Tensors, nn/optim/optimizer.py
        _build_single_lr and `Tensor(weight_decay, mstype.float32)`, adam.py
        `self.eps = Tensor(eps, mstype.float32)`, whatever the parameter dtype).
    beta1_as_lerp_weight: the first moment is torch's exp_avg.lerp_(grad, 1 - beta1) with
        the weight held in kernel_dtype (the tensor dtype): the effective beta1 is
        1 - fl(1 - beta1) (float32: 0.00099998713 for beta1 = 0.001; float64: off by up
        to u64 / beta1 relative; irrelevant for beta1 >= 0.5 up to u).
        Source: torch/optim/adam.py _single_tensor_adam; aten/src/ATen/native/Lerp.h.
    lazy_rows: row-sparse gradient (lazy Adam): only the listed rows along axis 0
        have their m, v and w updated; the others are left untouched. `grad` must
        then be zero outside those rows. Source: mindspore/nn/optim/lazyadam.py and
        the FusedSparseLazyAdam kernel; TensorFlow's LazyAdamOptimizer.
    """
    step = state.step + 1
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
    else:
        if loss_scale != 1.0:
            g = g / loss_scale
        if weight_decay_mode == WEIGHT_DECAY_L2 and weight_decay != 0.0:
            g = g + weight_decay * w
    if weight_decay_mode == WEIGHT_DECAY_DECOUPLED and weight_decay != 0.0:
        w = w * (1.0 - lr * weight_decay)

    if betas_precision == BETAS_FLOAT32:
        one_minus_beta1 = _float32(1.0 - _float32(beta1))
        one_minus_beta2 = _float32(1.0 - _float32(beta2))
        beta1_power = _float32(state.beta1_power * _float32(beta1))
        beta2_power = _float32(state.beta2_power * _float32(beta2))
        nesterov_beta1 = _float32(beta1)
    elif betas_precision == BETAS_FLOAT32_SCALARS:
        one_minus_beta1 = _float32(1.0 - _float32(beta1))
        one_minus_beta2 = _float32(1.0 - _float32(beta2))
        beta1, beta2 = _float32(beta1), _float32(beta2)
        # beta^t as a float32 pow of the float32 step counter (numpy's float32 power).
        beta1_power = float(np.power(np.float32(beta1), np.float32(step)))
        beta2_power = float(np.power(np.float32(beta2), np.float32(step)))
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
        kd = np.dtype(kernel_dtype).type
        gk, mk, vk = g.astype(kd), state.exp_avg.astype(kd), state.exp_avg_sq.astype(kd)
        with np.errstate(over="ignore", under="ignore"):
            m_step = (gk - mk).astype(np.float64)
            # g * g - v is one fused operation in the kernel: fma(g, g, -v).
            v_step = (gk.astype(np.float64) * gk.astype(np.float64) - vk).astype(kd).astype(np.float64)
            m = (mk + m_step * one_minus_beta1).astype(kd).astype(np.float64)
            v = (vk + v_step * one_minus_beta2).astype(kd).astype(np.float64)
    else:
        if beta1_as_lerp_weight:
            # torch: exp_avg.lerp_(grad, weight) with weight = 1 - beta1 held in the
            # tensor dtype (kernel_dtype); ATen's lerp uses 1 - weight for weight >= 0.5,
            # exact (Sterbenz), so beta1 becomes 1 - fl(1 - beta1).
            weight = float(np.dtype(kernel_dtype).type(1.0 - beta1))
            beta1 = 1.0 - weight
            one_minus_beta1 = weight
        m = beta1 * state.exp_avg + one_minus_beta1 * g
        v = beta2 * state.exp_avg_sq + one_minus_beta2 * g * g
    vmax = np.maximum(state.max_exp_avg_sq, v) if amsgrad else state.max_exp_avg_sq
    bias_correction1 = 1.0 - beta1_power
    bias_correction2 = 1.0 - beta2_power
    if betas_precision == BETAS_FLOAT32_SCALARS:
        # The float32 subtraction: 1 - p is exact in float64 for a float32 p, so one
        # rounding to float32 gives the float32 result.
        bias_correction1, bias_correction2 = _float32(bias_correction1), _float32(bias_correction2)

    numerator = nesterov_beta1 * m + one_minus_beta1 * g if nesterov else m
    second_moment = vmax if amsgrad else v
    if betas_precision == BETAS_FLOAT32_SCALARS:
        # mint's update formula as a whole: eps after the bias correction, whatever
        # eps_placement says (combined with MindSpore's kernel placement it would model
        # no implementation, and attribution would find coincidences in it).
        step_size = _float32(lr / bias_correction1)
        denom = np.sqrt(second_moment) / _float32(np.sqrt(bias_correction2)) + eps
        update = step_size * (numerator / denom)
    elif eps_placement == EPS_AFTER_BIAS_CORRECTION:
        denom = np.sqrt(second_moment / bias_correction2) + eps
        update = lr * (numerator / bias_correction1) / denom
    elif eps_placement == EPS_BEFORE_BIAS_CORRECTION:
        lr_t = lr * np.sqrt(bias_correction2) / bias_correction1
        update = lr_t * numerator / (np.sqrt(second_moment) + eps)
    else:
        raise ValueError(f"unknown eps_placement {eps_placement!r}")
    new_w = w - update

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
