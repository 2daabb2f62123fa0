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

How it is built: `adam_step` is Algorithm 1 in named phases, and each switch chooses
one small function of a phase, the way optax composes Adam from gradient
transformations (optax/_src/alias.py adam = chain(scale_by_adam(...),
scale_by_learning_rate(lr)); optax/_src/transform.py scale_by_adam: update_moment,
bias_correction, mu_hat / (sqrt(nu_hat + eps_root) + eps)):

    scalars      beta, 1 - beta, beta^t, lr, eps    betas_precision, beta1_as_lerp_weight,
                                                    hyperparameters_float32
    gradient     g_t, chained transforms            maximize, loss_scale, weight decay (L2,
                                                    before unscale, decoupled), moments_dtype
    moments      m_t, v_t                           EMA forms: direct, lerp, increment, in the
                                                    tensor dtype, MindSpore's fused kernel
    denominator  sqrt(v^_t) + eps                   eps_placement, float32 bias correction and
                                                    its sqrt rounding, amsgrad max, dtype
                                                    eps_root (optax: sqrt(v^_t + eps_root))
                                                    bias_correction (none: MindSpore's AdamWeightDecay)
    update       lr * m^_t / denominator            bias-correction forms, nesterov
    storage      what the implementation keeps      storage_dtype range, moments_dtype,
                                                    flush-to-zero, lazy_rows

`_recipe` picks the phase functions for one combination of switches (cached). An
unknown switch value is an error (CHOICES); no combination of known values is
(attribution combines variants of different rows freely), and the combinations in
which a switch does nothing are one table, INERT.
"""

from __future__ import annotations

import functools
import numbers
from dataclasses import dataclass, replace
from typing import Callable, NamedTuple, Optional, Sequence

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
BETAS_KERNEL_DTYPE = "kernel_dtype"
BETAS_KERNEL_DTYPE_STEP_AHEAD = "kernel_dtype_step_ahead"
BETAS_DTYPE_POWERS = "dtype_powers"


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


# ----------------------------------------------------------------------------------
# Algorithm 1, phase by phase
# ----------------------------------------------------------------------------------


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
    eps_root: float = 0.0,
    bias_correction: bool = True,
    adam_weight_decay_kernel: Optional[str] = None,
    update_reads_float32: bool = False,
    first_moment_dtype: Optional[str] = None,
    float32_beta_powers: bool = False,
    eps_in_dtype: Optional[str] = None,
    moments_direct_form: bool = False,
    amsgrad_max_of_corrected: bool = False,
    weight_decay_float32: bool = False,
) -> AdamState:
    """One Adam update of one parameter tensor; returns the new state.

    Every switch defaults to Algorithm 1. Each is documented, with its source, at the
    phase function it selects:

    scalars      betas_precision (_BETAS: _betas_float32_kernel, _betas_float32_direct,
                 _betas_float32_scalars), beta1_as_lerp_weight (_lerp_weight, with
                 kernel_dtype), hyperparameters_float32 (_float32_hyperparameters)
    gradient     maximize (_negated), loss_scale (_unscaled), weight_decay with
                 weight_decay_mode (_l2_decay, _decoupled_decay),
                 weight_decay_before_unscale (_l2_decay_then_unscaled), the float32
                 loss-scale form (_l2_decay_then_unscaled_float32), moments_dtype
                 (_gradient_in_dtype)
    moments      _moments_kernel_fma (betas_precision="float32", kernel_dtype,
                 flush_subnormals), _moments_in_dtype (moments_dtype,
                 gradient_square_dtype), _moments_increment (moments_increment_form),
                 _moments_direct (_m_ema / _m_lerp; _v_ema, _v_ema_square_first,
                 _v_ema_square_in_dtype, _v_ema_given_square: gradient_square)
    denominator  eps_placement (_UPDATES), bias_correction_float32 (_torch_float32_corrections),
                 denominator_dtype, amsgrad (_AMSGRAD_MAX: amsgrad_max_keeps_on_nan)
    update       nesterov (_nesterov_numerator), the bias-correction forms of _UPDATES
    storage      storage_dtype (_beyond_range_of), moments_dtype (_in_dtype),
                 flush_subnormals (_flushed_in_kernel), lazy_rows (_lazy),
                 first_moment_dtype (_first_moment_decayed_in_dtype: optax's mu_dtype);
    scalars      float32_beta_powers (_float32_beta_powers: optax without x64), eps_in_dtype
                 (_eps_in_dtype: optax's weakly typed eps, eps_root)
    moments      moments_direct_form (_moments_direct_in_dtype: optax's form in the dtype)
    denominator  amsgrad_max_of_corrected (_amsgrad_max_of_corrected: optax.amsgrad)
    """
    phases = _recipe(  # the Switches, in their order
        weight_decay_mode, betas_precision, eps_placement, bias_correction_float32, maximize, nesterov, amsgrad,
        amsgrad_max_keeps_on_nan, weight_decay_before_unscale, hyperparameters_float32, beta1_as_lerp_weight,
        flush_subnormals, moments_increment_form, kernel_dtype, storage_dtype, moments_dtype, denominator_dtype,
        gradient_square_dtype, loss_scale != 1.0, gradient_square is not None)
    if weight_decay_float32:
        # The weight decay coefficient is a float32 number whatever the parameters' dtype:
        # paddle's AdamW kernels take `float coeff` (phi/kernels/adamw_kernel.h
        # AdamwDenseKernel; python/paddle/optimizer/adamw.py passes self._weight_decay).
        weight_decay = _float32(weight_decay)
    if eps_in_dtype is not None:
        eps, eps_root = _eps_in_dtype(eps, eps_root, eps_in_dtype)
    s = _scalars(phases, state, lr, beta1, beta2, eps, weight_decay, loss_scale)
    if not bias_correction:
        s = _without_bias_correction(s)
    if adam_weight_decay_kernel is not None:
        return _adam_weight_decay_kernel(state, grad, s, adam_weight_decay_kernel)
    if float32_beta_powers:
        s = _float32_beta_powers(s, beta1, beta2)

    g, w = np.array(grad, dtype=np.float64, copy=True), state.param.copy()
    for transform in phases.gradient:  # g_t = grad f(w_{t-1}), as the optimizer receives it
        g, w = transform(g, w, s)
    read = _moments_read_in_float32(state) if update_reads_float32 else state
    m, v = phases.moments(g, read, s, gradient_square)  # m_t, v_t
    if moments_direct_form:
        m, v = _moments_direct_in_dtype(g, state, s, gradient_square_dtype)
    if first_moment_dtype is not None:
        m = _first_moment_decayed_in_dtype(g, state, s, first_moment_dtype)
    for stored in phases.stored_moments:
        m, v = stored(m), stored(v)
    vmax = phases.amsgrad_max(state.max_exp_avg_sq, v)
    second_moment = vmax if amsgrad else v
    if amsgrad and amsgrad_max_of_corrected:
        vmax, second_moment = _amsgrad_max_of_corrected(state.max_exp_avg_sq, v, s)
    m_read = m
    if update_reads_float32:
        w, m_read, v_read = _update_reads_float32(state, w, m, v, s, weight_decay_mode)
        vmax = phases.amsgrad_max(read.max_exp_avg_sq, v_read)
        second_moment = vmax if amsgrad else v_read
    if eps_root:
        second_moment = _with_eps_root(second_moment, eps_root, s)
    denominator = phases.denominator(second_moment, s)  # sqrt(v^_t) + eps
    update = phases.update(phases.numerator(m_read, g, s), denominator, s)  # lr * m^_t / denominator
    new_w = w - update  # w_t
    for stored in phases.stored_param:
        new_w = stored(new_w)
    if first_moment_dtype is not None:
        m = round_to(m, first_moment_dtype)  # stored in its dtype after this step used it

    if lazy_rows is not None:
        new_w, m, v, vmax = _lazy(state, lazy_rows, new_w, m, v, vmax)
    return replace(state, param=new_w, exp_avg=m, exp_avg_sq=v, max_exp_avg_sq=vmax, step=s.step,
                   beta1_power=s.beta1_power, beta2_power=s.beta2_power)


class Switches(NamedTuple):
    """The switches of `adam_step` that choose phase functions (its numbers and arrays do
    not; loss_scaled and gradient_square_given are `loss_scale != 1.0` and
    `gradient_square is not None`)."""

    weight_decay_mode: str
    betas_precision: str
    eps_placement: str
    bias_correction_float32: bool | str
    maximize: bool
    nesterov: bool
    amsgrad: bool
    amsgrad_max_keeps_on_nan: bool
    weight_decay_before_unscale: bool
    hyperparameters_float32: bool
    beta1_as_lerp_weight: bool
    flush_subnormals: bool
    moments_increment_form: bool
    kernel_dtype: str
    storage_dtype: Optional[str]
    moments_dtype: Optional[str]
    denominator_dtype: Optional[str]
    gradient_square_dtype: Optional[str]
    loss_scaled: bool
    gradient_square_given: bool


class _Betas(NamedTuple):
    """The betas as the implementation holds them (a _BETAS phase's result)."""

    beta1: float
    beta2: float
    one_minus_beta1: float
    one_minus_beta2: float
    nesterov_beta1: float
    beta1_power: float
    beta2_power: float
    bias_correction1: float  # 1 - beta1^t
    bias_correction2: float  # 1 - beta2^t


# The step's numbers, as the implementation holds them: t, the hyperparameters, and
# scaled_weight_decay = weight_decay * loss_scale from the weight_decay given (before any
# float32 rounding), then the betas (_Betas' fields, in order).
_Scalars = NamedTuple("_Scalars", [("step", int), ("lr", float), ("eps", float), ("weight_decay", float),
                                   ("loss_scale", float), ("scaled_weight_decay", float),
                                   *_Betas.__annotations__.items()])


def _scalars(phases: _Phases, state: AdamState, lr: float, beta1: float, beta2: float, eps: float,
             weight_decay: float, loss_scale: float) -> _Scalars:
    """The scalars phase: step t, the hyperparameters and the betas as the phases take them."""
    step = state.step + 1
    scaled_weight_decay = weight_decay * loss_scale
    lr, eps, weight_decay = phases.hyperparameters(lr, eps, weight_decay)
    return _Scalars._make((step, lr, eps, weight_decay, loss_scale, scaled_weight_decay)
                          + phases.betas(beta1, beta2, state, step))


def _lazy(state: AdamState, lazy_rows: np.ndarray, new_w: np.ndarray, m: np.ndarray, v: np.ndarray,
          vmax: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """lazy_rows: row-sparse gradient (lazy Adam): only the listed rows along axis 0
    have their m, v and w updated; the others are left untouched. `grad` must
    then be zero outside those rows. Source: mindspore/nn/optim/lazyadam.py and
    the FusedSparseLazyAdam kernel; TensorFlow's LazyAdamOptimizer."""
    untouched = np.ones(new_w.shape[0] if new_w.ndim else 1, dtype=bool)
    untouched[np.asarray(lazy_rows, dtype=np.int64)] = False
    if new_w.ndim:
        new_w[untouched] = state.param[untouched]
        m[untouched] = state.exp_avg[untouched]
        v[untouched] = state.exp_avg_sq[untouched]
        vmax = vmax.copy()
        vmax[untouched] = state.max_exp_avg_sq[untouched]
    return new_w, m, v, vmax


# ----------------------------------------------------------------------------------
# scalars: the hyperparameters and betas as the implementation holds them
# ----------------------------------------------------------------------------------


def _float32(x: float) -> float:
    return float(np.float32(x))


def _float_in(x: float, dtype: str) -> float:
    """A Python number as a tensor op of `dtype` uses it: rounded to the dtype's opmath
    (float32 for float16 and bfloat16 tensors, the dtype itself otherwise)."""
    return x if dtype_name(dtype) == "float64" else _float32(x)


def _exact_hyperparameters(lr: float, eps: float, weight_decay: float) -> tuple[float, float, float]:
    return lr, eps, weight_decay


def _float32_hyperparameters(lr: float, eps: float, weight_decay: float) -> tuple[float, float, float]:
    """hyperparameters_float32: lr, eps and weight_decay are float32 numbers (MindSpore
    passes them to its kernels as float32 Tensors, nn/optim/optimizer.py
    _build_single_lr and `Tensor(weight_decay, mstype.float32)`, adam.py
    `self.eps = Tensor(eps, mstype.float32)`, whatever the parameter dtype). With a loss
    scale, L2 decay takes MindSpore's float32 form (_l2_decay_then_unscaled_float32)."""
    return _float32(lr), _float32(eps), _float32(weight_decay)


def _betas_exact(beta1: float, beta2: float, state: AdamState, step: int) -> _Betas:
    """Algorithm 1: the betas as given, beta^t in float64."""
    beta1_power, beta2_power = beta1**step, beta2**step
    return _Betas(beta1, beta2, 1.0 - beta1, 1.0 - beta2, beta1, beta1_power, beta2_power,
                  1.0 - beta1_power, 1.0 - beta2_power)


def _betas_float32_kernel(beta1: float, beta2: float, state: AdamState, step: int) -> _Betas:
    """betas_precision="float32": beta1 and beta2 are float32 numbers; the moments take
    c = fl32(1 - fl32(beta)) (_moments_kernel_fma), so the effective beta is 1 - c
    (0.99900001287 for beta2 = 0.999, 0.00099998713 for beta2 = 0.001); beta^t is the
    float32 running product fl32(beta^(t-1) * fl32(beta)) from which the bias
    corrections are taken. Source: mindspore/nn/optim/adam.py, Adam.__init__
    (self.beta1 = Tensor(beta1, float32); beta1_power, beta2_power are float32
    Parameters) and Adam.construct (beta1_power = beta1_power * beta1); the kernel
    computes 1 - beta1 in float32 (nnacl/fp32/adam_fp32.c). beta1 and beta2 stay as
    given: the kernel form reads only c (and Nesterov's fl32(beta1))."""
    beta1_power = _float32(state.beta1_power * _float32(beta1))
    beta2_power = _float32(state.beta2_power * _float32(beta2))
    return _Betas(beta1, beta2, _float32(1.0 - _float32(beta1)), _float32(1.0 - _float32(beta2)), _float32(beta1),
                  beta1_power, beta2_power, 1.0 - beta1_power, 1.0 - beta2_power)


def _betas_float32_direct(beta1: float, beta2: float, state: AdamState, step: int) -> _Betas:
    """betas_precision="float32_direct": float32 betas (Tensors) in the direct form
    m = fl32(beta1) * m + fl32(1 - fl32(beta1)) * g, the arithmetic in the tensor dtype
    (a float64 tensor times a float32 Tensor is float64), beta^t the float32 running
    product as for "float32", the bias corrections float32 (with eps_placement=
    "before_bias_correction" see _update_eps_hat_float32). Source:
    mindspore/nn/optim/adam.py _run_lazy_opt_with_sparse and _run_opt_with_sparse, the
    default target's in-graph sparse paths (next_m = m_slice * beta1 + values *
    (1 - beta1); lr_t = lr * op_sqrt(1 - beta2_power) / (1 - beta1_power))."""
    one_minus_beta1 = _float32(1.0 - _float32(beta1))
    one_minus_beta2 = _float32(1.0 - _float32(beta2))
    beta1, beta2 = _float32(beta1), _float32(beta2)
    beta1_power = _float32(state.beta1_power * beta1)
    beta2_power = _float32(state.beta2_power * beta2)
    # The float32 subtraction: 1 - p is exact in float64 for a float32 p, so one
    # rounding to float32 gives the float32 result.
    return _Betas(beta1, beta2, one_minus_beta1, one_minus_beta2, beta1, beta1_power, beta2_power,
                  _float32(1.0 - beta1_power), _float32(1.0 - beta2_power))


def _betas_float32_scalars(beta1: float, beta2: float, state: AdamState, step: int, *,
                           complement_in_double: bool = False) -> _Betas:
    """betas_precision="float32_scalars": beta1 and beta2 are float32 scalars in the
    direct form m = fl32(beta1) * m + fl32(1 - fl32(beta1)) * g (the complement taken in
    float32; the moment arithmetic itself in the tensor dtype), the bias corrections
    float32, 1 - fl32(fl32(beta)^t) (mint's update: _update_mint). Source:
    mindspore/mint/optim/adam.py, Adam.construct and _run_optim_adamw_opt (state_step is
    a float32 Tensor; the compiled graph holds the Python-float betas as float32 scalars,
    measured: step 1's exp_avg_sq is (1 - fl32(0.999)) * g^2 in float32 and float64
    runs alike).
    "float32_scalars_eager" (complement_in_double): the complements taken in double and
    then made float32 scalars, fl32(1 - beta), as mint runs op by op in PyNative (the
    Python expression 1 - beta1 is evaluated before the op sees it; measured on 2.10,
    float64: step 1's exp_avg is fl32(0.09999999999999998) * g)."""
    if complement_in_double:
        one_minus_beta1, one_minus_beta2 = _float32(1.0 - beta1), _float32(1.0 - beta2)
    else:
        one_minus_beta1 = _float32(1.0 - _float32(beta1))
        one_minus_beta2 = _float32(1.0 - _float32(beta2))
    beta1, beta2 = _float32(beta1), _float32(beta2)
    # beta^t as MindSpore's float32 Pow of the float32 step counter: the float32 base
    # raised in double, rounded once (measured on 2.10 CPU, GRAPH_MODE and PyNative,
    # 616 of 616 (beta, t) pairs; numpy's float32 power differs in 54 of them).
    beta1_power = _float32(beta1**step)
    beta2_power = _float32(beta2**step)
    return _Betas(beta1, beta2, one_minus_beta1, one_minus_beta2, beta1, beta1_power, beta2_power,
                  _float32(1.0 - beta1_power), _float32(1.0 - beta2_power))


def _betas_in_kernel_dtype(beta1: float, beta2: float, state: AdamState, step: int, *,
                           kernel_dtype: str = "float64", step_ahead: bool = False) -> _Betas:
    """betas_precision="kernel_dtype": beta1, beta2, 1 - beta and the beta powers are
    numbers of the kernel's dtype (the parameter's: float32 for a float32 parameter, exact
    float64 for a float64 one), beta^t a running product in it, fl(beta * beta^(t-1)),
    the bias corrections 1 - beta^t taken in it; the moments take the direct form
    beta * m + (1 - beta) * g. Source: paddle/phi/kernels/funcs/adam_functors.h
    (AdamFunctor<T, CPUAdam>: T beta1_, beta2_; moment1_out = beta1_ * mom1 + (1 - beta1_) * g;
    lr *= sqrt(1 - beta2_pow) / (1 - beta1_pow)) and python/paddle/optimizer/adam.py
    _add_moments_pows (beta1_pow_acc / beta2_pow_acc: accumulators of the parameter's
    dtype, float32 for float16/bfloat16, filled with beta and multiplied by it every step).
    For float32 this is "float32_direct"; for float64 it is Algorithm 1 up to float64
    rounding of the running product.
    "kernel_dtype_step_ahead" (step_ahead): the bias corrections are taken from the beta
    powers one step ahead, 1 - beta^(t+1): paddle's CPU SelectedRows kernel
    (phi/kernels/selected_rows/cpu/adam_kernel.cc, AdamDenseParamSparseGradKernel) writes
    beta1_pow_out = beta1 * beta1_pow before running SparseAdamFunctor<T, CPUAdam>, and
    beta1_pow_out is beta1_pow (Adam's in-place adam_), so the functor reads the advanced
    power (the .cc file is not in the wheel, only adam_functors.h; the order is what the
    measurement shows: the first update with betas (0.9, 0.99993) is 0.744 of the spec's,
    sqrt(1 - b2^2) / (1 - b1^2) over sqrt(1 - b2) / (1 - b1)); the stored powers advance
    once per step as in the dense kernel."""
    def kd(x: float) -> float:
        return float(round_to(np.float64(x), kernel_dtype))

    b1, b2 = kd(beta1), kd(beta2)
    beta1_power, beta2_power = kd(state.beta1_power * b1), kd(state.beta2_power * b2)
    corrected1, corrected2 = (kd(beta1_power * b1), kd(beta2_power * b2)) if step_ahead else (beta1_power, beta2_power)
    return _Betas(b1, b2, kd(1.0 - b1), kd(1.0 - b2), b1, beta1_power, beta2_power,
                  kd(1.0 - corrected1), kd(1.0 - corrected2))


def _betas_dtype_powers(beta1: float, beta2: float, state: AdamState, step: int, *,
                        kernel_dtype: str = "float64") -> _Betas:
    """betas_precision="dtype_powers": the betas cast to the kernel's dtype (the
    variable's) and raised to the power t in it, beta^t = fl(fl(beta)^t) (the rounded base
    raised in double, rounded once; XLA's float32 pow is within an ulp of that), the bias
    corrections 1 - beta^t taken in it; the moments' complements 1 - beta are taken in
    double and rounded to the dtype (a Python float times a tensor). Combined with
    eps_placement="before_bias_correction" the step size is formed in the dtype too
    (_update_eps_hat_in_dtype). Source: keras/src/optimizers/adam.py Adam.update_step
    (beta_1_power = ops.power(ops.cast(self.beta_1, variable.dtype), local_step);
    alpha = lr * ops.sqrt(1 - beta_2_power) / (1 - beta_1_power);
    m += (g - m) * (1 - self.beta_1))."""
    def kd(x: float) -> float:
        return float(round_to(np.float64(x), kernel_dtype))

    b1, b2 = kd(beta1), kd(beta2)
    beta1_power, beta2_power = kd(b1**step), kd(b2**step)
    return _Betas(b1, b2, kd(1.0 - beta1), kd(1.0 - beta2), b1, beta1_power, beta2_power,
                  kd(1.0 - beta1_power), kd(1.0 - beta2_power))


_BETAS: dict[str, Callable[..., _Betas]] = {
    BETAS_EXACT: _betas_exact,
    BETAS_FLOAT32: _betas_float32_kernel,
    BETAS_FLOAT32_DIRECT: _betas_float32_direct,
    BETAS_KERNEL_DTYPE: _betas_in_kernel_dtype,
    BETAS_KERNEL_DTYPE_STEP_AHEAD: functools.partial(_betas_in_kernel_dtype, step_ahead=True),
    BETAS_DTYPE_POWERS: _betas_dtype_powers,
    BETAS_FLOAT32_SCALARS: _betas_float32_scalars,
    BETAS_FLOAT32_SCALARS_EAGER: functools.partial(_betas_float32_scalars, complement_in_double=True),
}
_FLOAT32_SCALARS = (BETAS_FLOAT32_SCALARS, BETAS_FLOAT32_SCALARS_EAGER)


def _lerp_weight(beta1: float, beta2: float, state: AdamState, step: int, *, betas: Callable[..., _Betas],
                 kernel_dtype: str) -> _Betas:
    """beta1_as_lerp_weight: torch's exp_avg.lerp_(grad, weight) with weight = 1 - beta1
    held in the tensor dtype (kernel_dtype: opmath, float32 for float16/bfloat16
    tensors); ATen's lerp uses 1 - weight for weight >= 0.5, exact (Sterbenz), so the
    effective beta1 is 1 - fl(1 - beta1) (float32: 0.00099998713 for beta1 = 0.001;
    float64: off by up to u64 / beta1 relative; irrelevant for beta1 >= 0.5 up to u).
    beta^t and Nesterov's beta1 stay as `betas` gives them. The lerp's arithmetic form
    is _m_lerp. Source: torch/optim/adam.py _single_tensor_adam; aten/src/ATen/native/Lerp.h."""
    given = betas(beta1, beta2, state, step)
    weight = float(round_to(1.0 - given.beta1, kernel_dtype))
    return given._replace(beta1=1.0 - weight, one_minus_beta1=weight)


# ----------------------------------------------------------------------------------
# gradient: g_t as the optimizer receives it, a chain of (g, w, scalars) -> (g, w)
# ----------------------------------------------------------------------------------


def _negated(g: np.ndarray, w: np.ndarray, s: _Scalars) -> tuple[np.ndarray, np.ndarray]:
    """maximize: g = -g, before weight decay is added (maximize must not turn weight decay
    into weight growth). Source: torch/optim/adam.py, _single_tensor_adam
    (`grad = grad if not maximize else -grad`, then `grad = grad.add(param, alpha=weight_decay)`)."""
    return -g, w


def _unscaled(g: np.ndarray, w: np.ndarray, s: _Scalars) -> tuple[np.ndarray, np.ndarray]:
    """loss_scale: the incoming gradient is the loss-scaled one and is divided by
    loss_scale first. Source: mindspore/nn/optim/optimizer.py, Optimizer.scale_grad
    (multiplies by reciprocal_scale = 1/loss_scale)."""
    return g / s.loss_scale, w


def _l2_decay(g: np.ndarray, w: np.ndarray, s: _Scalars) -> tuple[np.ndarray, np.ndarray]:
    """weight_decay, weight_decay_mode="l2": g += weight_decay * w before the moments.
    Source: torch/optim/adam.py, _single_tensor_adam (`grad = grad.add(param,
    alpha=weight_decay)`); mindspore/nn/optim/optimizer.py, _tensor_apply_decay."""
    if s.weight_decay != 0.0:
        g = g + s.weight_decay * w
    return g, w


def _l2_decay_then_unscaled(g: np.ndarray, w: np.ndarray, s: _Scalars) -> tuple[np.ndarray, np.ndarray]:
    """weight_decay_before_unscale (L2, loss_scale != 1): the L2 term is added to the
    still loss-scaled gradient and then divided by loss_scale together with it, i.e. the
    effective decay is weight_decay / loss_scale. Source: mindspore/nn/optim/adam.py,
    Adam.construct calls decay_weight() before scale_grad()."""
    return (g + s.weight_decay * w) / s.loss_scale, w


def _l2_decay_then_unscaled_float32(g: np.ndarray, w: np.ndarray, s: _Scalars) -> tuple[np.ndarray, np.ndarray]:
    """hyperparameters_float32 with L2 decay and loss_scale != 1: MindSpore adds
    fl32(weight_decay * loss_scale) * w to the scaled gradient and unscales the sum by
    multiplying with a float32 reciprocal (nn/optim/optimizer.py: _preprocess_weight_decay
    multiplies the decay by the loss scale, decay_weight runs before scale_grad, which
    multiplies by reciprocal_scale = Tensor(1.0 / loss_scale, mstype.float32))."""
    if s.weight_decay != 0.0:
        g = g + _float32(s.scaled_weight_decay) * w
    return g * _float32(1.0 / s.loss_scale), w


def _decoupled_decay(g: np.ndarray, w: np.ndarray, s: _Scalars) -> tuple[np.ndarray, np.ndarray]:
    """weight_decay_mode="decoupled": w *= 1 - lr * weight_decay before the Adam step,
    the moments see the raw gradient. Source: Loshchilov & Hutter, "Decoupled Weight
    Decay Regularization" (ICLR 2019), Algorithm 2; torch/optim/adam.py with
    decoupled_weight_decay=True (AdamW)."""
    if s.weight_decay != 0.0:
        w = w * (1.0 - s.lr * s.weight_decay)
    return g, w


def _gradient_in_dtype(g: np.ndarray, w: np.ndarray, s: _Scalars, *, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """moments_dtype: torch forms g + weight_decay * w as a tensor of the parameter's dtype."""
    return round_to(g, dtype), w


def _gradient_chain(o: Switches) -> tuple[Callable, ...]:
    """maximize, then loss scale and weight decay in the order the source applies them,
    then the dtype the moments see g in. (torch negates before adding the L2 term.)"""
    chain: list[Callable] = [_negated] if o.maximize else []
    if o.weight_decay_mode == WEIGHT_DECAY_L2 and o.loss_scaled and o.weight_decay_before_unscale:
        chain.append(_l2_decay_then_unscaled)
    elif o.weight_decay_mode == WEIGHT_DECAY_L2 and o.loss_scaled and o.hyperparameters_float32:
        chain.append(_l2_decay_then_unscaled_float32)
    else:
        chain += [_unscaled] if o.loss_scaled else []
        chain.append(_l2_decay if o.weight_decay_mode == WEIGHT_DECAY_L2 else _decoupled_decay)
    if o.moments_dtype is not None:
        chain.append(functools.partial(_gradient_in_dtype, dtype=o.moments_dtype))
    return tuple(chain)


# ----------------------------------------------------------------------------------
# moments: m_t and v_t, (g, state, scalars, gradient_square) -> (m, v)
# ----------------------------------------------------------------------------------


def _flushed(x: np.ndarray, dtype: str) -> np.ndarray:
    """Subnormal values of `dtype` become (signed) zero: a kernel run with
    flush-to-zero / denormals-are-zero. (bfloat16 shares float32's exponent range.)"""
    tiny = np.finfo(STORAGE[dtype_name(dtype)]).tiny
    return np.where(np.abs(x) < tiny, x * 0.0, x)


def _moments_kernel_fma(g: np.ndarray, state: AdamState, s: _Scalars, gradient_square: Optional[np.ndarray], *,
                        kernel_dtype: str, flush: bool) -> tuple[np.ndarray, np.ndarray]:
    """betas_precision="float32": MindSpore's kernel form in kernel_dtype with fused
    multiply-adds (nnacl/fp32/adam_fp32.c AdamFp32): m = fma(fl32(g - m), c1, m),
    v = fma(fma(g, g, -v), c2, v). kernel_dtype is the parameter's dtype (MindSpore's
    amsgrad kernel also runs float64 parameters, with float32 betas). When beta1 is tiny
    and |g| falls sharply, (g - m) cancels and leaves an error of about u32 * |m_prev|
    that the direct form beta * m + (1 - beta) * g does not have. (Products of two
    float32 numbers are exact in float64, so float64 emulates the fma up to a double
    rounding: in rare midpoint cases the result is 1 float32 ulp off,
    tests/test_reference_adam.py test_known_gap_float32_kernel_...)
    flush_subnormals: the kernel flushes subnormal inputs and results (g, m, v, w) to
    zero, as measured for MindSpore's CPU Adam kernel (g = 1e-40: m, v stay 0; g = 1e-37:
    m = 1e-38 subnormal becomes 0, while a plain MindSpore multiply keeps subnormals;
    cases/reproducers/mindspore-kernel-flush-to-zero.json); w: _flushed_in_kernel."""
    def kd(values: np.ndarray) -> np.ndarray:
        return round_to(values, kernel_dtype)

    gk, mk, vk = kd(g), kd(state.exp_avg), kd(state.exp_avg_sq)
    if flush:
        gk, mk, vk = _flushed(gk, kernel_dtype), _flushed(mk, kernel_dtype), _flushed(vk, kernel_dtype)
    m_step = kd(gk - mk)
    # g * g - v is one fused operation in the kernel: fma(g, g, -v).
    v_step = kd((gk * gk if gradient_square is None else kd(gradient_square)) - vk)
    m = kd(mk + m_step * s.one_minus_beta1)
    v = kd(vk + v_step * s.one_minus_beta2)
    if flush:
        m, v = _flushed(m, kernel_dtype), _flushed(v, kernel_dtype)
    return m, v


def _moments_in_dtype(g: np.ndarray, state: AdamState, s: _Scalars, gradient_square: Optional[np.ndarray], *,
                      dtype: str, square_dtype: Optional[str]) -> tuple[np.ndarray, np.ndarray]:
    """moments_dtype (exact betas): torch's in-place moment updates on a float16/bfloat16
    tensor, each op computed in float32 (ATen's opmath) and rounded to the dtype:
    exp_avg.lerp_(g, 1 - beta1) (Lerp.h: weight < 0.5 ? m + w (g - m) : g - (g - m)(1 - w)),
    exp_avg_sq.mul_(beta2) then .addcmul_(g, g, value=1 - beta2). (Measured against
    torch 2.13: the float32 lerp formula matches all but 0.03% of random float16 inputs,
    float64 arithmetic 0.5%.) Source: torch/optim/adam.py keeps exp_avg/exp_avg_sq in
    the parameter's dtype (torch.zeros_like(p)).
    gradient_square_dtype (square_dtype): g * g is formed in this dtype before
    (1 - beta2) scales it, so it overflows to inf above |g| = 255.9 in float16 where
    (1 - beta2) g^2 would not (mindspore/mint/optim/adam.py _run_optim_adamw_opt:
    mint.mul(mint.mul(grads, grads), 1 - beta2) on float16 tensors)."""
    f32 = np.float32
    weight = f32(1.0 - s.beta1)
    m32, g32 = state.exp_avg.astype(f32), g.astype(f32)
    lerped = m32 + weight * (g32 - m32) if weight < 0.5 else g32 - (g32 - m32) * (f32(1.0) - weight)
    decayed = round_to(state.exp_avg_sq.astype(f32) * f32(s.beta2), dtype).astype(f32)
    # (1 - beta2) * g * g, left to right, as ATen's addcmul does; only a narrower
    # square_dtype forms g * g first (and rounds it).
    if square_dtype is None:
        v = decayed + f32(1.0 - s.beta2) * g32 * g32
    else:
        v = decayed + f32(1.0 - s.beta2) * round_to(g32 * g32, square_dtype).astype(f32)
    return lerped.astype(np.float64), v.astype(np.float64)


def _moments_increment(g: np.ndarray, state: AdamState, s: _Scalars, gradient_square: Optional[np.ndarray], *,
                       kernel_dtype: str, flush: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """moments_increment_form: the moments are updated in the increment form, each
    operation rounded to kernel_dtype (the tensor dtype): m += (g - m) * (1 - beta1),
    v += (g * g - v) * (1 - beta2). Where beta1 is tiny and |g| drops sharply, g - m
    cancels and leaves an error of about u * |m_prev| that beta1 * m + (1 - beta1) * g
    does not have. Source: torch/optim/_functional.py sparse_adam (SparseAdam:
    exp_avg_update_values = grad_values.sub(old_exp_avg_values).mul_(1 - beta1), the
    same for exp_avg_sq with grad_values.pow(2)).
    flush (flush_subnormals): every op's inputs and result flushed to zero below the
    smallest normal number of its arithmetic (XLA's CPU ops run with FTZ/DAZ; float16 and
    bfloat16 ops are float32 arithmetic, so a float16 subnormal survives and a bfloat16
    one, float32's range, is flushed): keras/src/optimizers/adam.py on the jax backend."""
    def kd(values: np.ndarray) -> np.ndarray:
        rounded = round_to(values, kernel_dtype)
        return _flushed(rounded, _opmath_of(kernel_dtype)) if flush else rounded

    gk, m_old, v_old = kd(g), state.exp_avg, state.exp_avg_sq
    if flush:
        m_old, v_old = kd(m_old), kd(v_old)
    m = kd(m_old + kd(kd(gk - m_old) * _float_in(s.one_minus_beta1, kernel_dtype)))
    v = kd(v_old + kd(kd(kd(gk * gk) - v_old) * _float_in(s.one_minus_beta2, kernel_dtype)))
    return m, v


def _m_ema(g: np.ndarray, m: np.ndarray, s: _Scalars) -> np.ndarray:
    """Algorithm 1: m_t = beta1 * m_{t-1} + (1 - beta1) * g_t."""
    return s.beta1 * m + s.one_minus_beta1 * g


def _m_lerp(g: np.ndarray, m: np.ndarray, s: _Scalars) -> np.ndarray:
    """beta1_as_lerp_weight: ATen's lerp arithmetic (aten/src/ATen/native/Lerp.h lerp):
    weight < 0.5: self + weight * (end - self), else end - (end - self) * (1 - weight) —
    an infinite moment turns NaN at the next finite gradient (inf - inf), where
    beta1 * m + (1 - beta1) * g stays inf. The weight: _lerp_weight."""
    if s.one_minus_beta1 < 0.5:
        return m + s.one_minus_beta1 * (g - m)
    return g - (g - m) * (1.0 - s.one_minus_beta1)


# Left to right, (1 - beta2) * g * g, unless the square is formed first: a different
# order moves float64 results by an ulp.
def _v_ema(g: np.ndarray, v: np.ndarray, s: _Scalars, gradient_square: Optional[np.ndarray]) -> np.ndarray:
    """Algorithm 1: v_t = beta2 * v_{t-1} + (1 - beta2) * g_t^2."""
    return s.beta2 * v + s.one_minus_beta2 * g * g


def _v_ema_square_first(g: np.ndarray, v: np.ndarray, s: _Scalars, gradient_square: Optional[np.ndarray]) -> np.ndarray:
    """mint (betas_precision float32_scalars*): mint.mul(mint.mul(grads, grads), 1 - beta2),
    the square first."""
    return s.beta2 * v + s.one_minus_beta2 * (g * g)


def _v_ema_square_in_dtype(g: np.ndarray, v: np.ndarray, s: _Scalars, gradient_square: Optional[np.ndarray], *,
                           dtype: str) -> np.ndarray:
    """gradient_square_dtype: g * g formed (and rounded) in that dtype (_moments_in_dtype)."""
    return s.beta2 * v + s.one_minus_beta2 * round_to(g * g, dtype)


def _v_ema_given_square(g: np.ndarray, v: np.ndarray, s: _Scalars, gradient_square: np.ndarray) -> np.ndarray:
    """gradient_square: what the second moment takes for g * g (the gradient after
    maximize, loss scaling and weight decay): a row-sparse gradient whose copies of a
    repeated row are squared one by one, sum(copy^2) instead of (sum copies)^2. Source:
    mindspore/nn/optim/adam.py _run_opt_with_sparse, the default target's non-lazy
    path (scatter_add(v, indices, (1 - beta2) * square(values)))."""
    return s.beta2 * v + s.one_minus_beta2 * gradient_square


def _moments_direct(g: np.ndarray, state: AdamState, s: _Scalars, gradient_square: Optional[np.ndarray], *,
                    first: Callable, second: Callable) -> tuple[np.ndarray, np.ndarray]:
    """The EMA forms of Algorithm 1 in float64 with the scalars' betas."""
    return first(g, state.exp_avg, s), second(g, state.exp_avg_sq, s, gradient_square)


def _moment_form(o: Switches) -> str:
    """Which moment function a step takes: the first that applies. MindSpore's kernel has
    its own form; moments_dtype is torch's in-dtype ops with exact betas only (with
    float32 betas the moments take the direct form and are rounded after it)."""
    if o.betas_precision == BETAS_FLOAT32:
        return "kernel fma"
    if o.moments_dtype is not None and o.betas_precision == BETAS_EXACT:
        return "in dtype"
    if o.moments_increment_form:
        return "increment"
    return "direct"


def _second_moment(o: Switches) -> Callable:
    """The direct form's v_t: a given square wins, then mint's order, then the dtype's square."""
    if o.gradient_square_given:
        return _v_ema_given_square
    if o.betas_precision in _FLOAT32_SCALARS:
        return _v_ema_square_first
    if o.gradient_square_dtype is not None:
        return functools.partial(_v_ema_square_in_dtype, dtype=o.gradient_square_dtype)
    return _v_ema


# moment form -> its function, given the switches
_MOMENTS: dict[str, Callable[[Switches], Callable]] = {
    "kernel fma": lambda o: functools.partial(_moments_kernel_fma, kernel_dtype=o.kernel_dtype,
                                              flush=o.flush_subnormals),
    "in dtype": lambda o: functools.partial(_moments_in_dtype, dtype=o.moments_dtype,
                                            square_dtype=o.gradient_square_dtype),
    "increment": lambda o: functools.partial(_moments_increment, kernel_dtype=o.kernel_dtype,
                                             flush=o.flush_subnormals),
    "direct": lambda o: functools.partial(_moments_direct, first=_m_lerp if o.beta1_as_lerp_weight else _m_ema,
                                          second=_second_moment(o)),
}


# ----------------------------------------------------------------------------------
# denominator and update: the AMSGrad maximum, the numerator, the bias-correction forms
# ----------------------------------------------------------------------------------


def _vmax_unused(vmax: np.ndarray, v: np.ndarray) -> np.ndarray:
    return vmax


def _vmax_nan_wins(vmax: np.ndarray, v: np.ndarray) -> np.ndarray:
    """amsgrad: vmax = max(vmax, v_t) and vmax replaces v_t in the denominator. Source:
    Reddi, Kale & Kumar, "On the Convergence of Adam and Beyond" (ICLR 2018),
    Algorithm 2; torch/optim/adam.py keeps the max of the un-corrected v and divides it
    by (1 - beta2^t), which is what this does. NaN wins, as in torch.maximum."""
    return np.maximum(vmax, v)


def _vmax_keeps_on_nan(vmax: np.ndarray, v: np.ndarray) -> np.ndarray:
    """amsgrad_max_keeps_on_nan: vmax = v if v > vmax else vmax, so a NaN v leaves vmax as
    it was (and a NaN vmax stays NaN), where the spec's max propagates NaN. Measured for
    MindSpore's ApplyAdamWithAmsgradV2 CPU kernel: max(0, NaN) gives 0."""
    return np.where(v > vmax, v, vmax)


# (amsgrad, amsgrad_max_keeps_on_nan) -> vmax
_AMSGRAD_MAX: dict[tuple[bool, bool], Callable] = {
    (False, False): _vmax_unused, (False, True): _vmax_unused,
    (True, False): _vmax_nan_wins, (True, True): _vmax_keeps_on_nan,
}


def _m_numerator(m: np.ndarray, g: np.ndarray, s: _Scalars) -> np.ndarray:
    return m


def _nesterov_numerator(m: np.ndarray, g: np.ndarray, s: _Scalars) -> np.ndarray:
    """nesterov: the numerator m_t is replaced by beta1 * m_t + (1 - beta1) * g_t.
    Source: MindSpore's Adam kernel with use_nesterov=True
    (mindspore/ops/kernel/cpu/nnacl/fp32/adam_fp32.c, AdamFp32:
    `var -= lr_t * (m * beta1 + (1 - beta1) * grad) / (sqrt(v) + epsilon)`);
    Dozat, "Incorporating Nesterov Momentum into Adam" (2016) for the idea."""
    return s.nesterov_beta1 * m + s.one_minus_beta1 * g


def _with_eps_root(v: np.ndarray, eps_root: float, s: _Scalars) -> np.ndarray:
    """eps_root: the denominator is sqrt(v^_t + eps_root) + eps, eps_root added to the bias-
    corrected second moment inside the square root (a hyperparameter, 0 everywhere but
    optax: optax/_src/transform.py scale_by_adam, `mu_hat / (jnp.sqrt(nu_hat + eps_root)
    + eps)`, documented as keeping the square root's gradient finite when the optimizer
    is differentiated through). Given as v_t + eps_root * (1 - beta2^t), so that every
    bias-correction form (which divide v_t by 1 - beta2^t, or fold that into lr) adds it
    to v^_t; only the spec's own float64 rounding of the sum differs between forms."""
    return v + eps_root * s.bias_correction2


def _amsgrad_max_of_corrected(vmax: np.ndarray, v: np.ndarray, s: _Scalars) -> tuple[np.ndarray, np.ndarray]:
    """amsgrad_max_of_corrected: the running maximum is taken over the bias-corrected
    second moment, vmax_t = max(vmax_{t-1}, v_t / (1 - beta2^t)), and the denominator is
    sqrt(vmax_t) + eps with no further correction; torch (and the spec) keep the maximum
    of the raw v and divide it by 1 - beta2^t of the current step. Since 1 - beta2^t grows
    with t, an early large gradient's corrected v_hat outweighs the later ones far longer:
    after g = 1 then 0.1, optax divides by sqrt(1), torch by sqrt(0.505). Returns (vmax,
    the second moment the denominator phase takes: vmax (1 - beta2^t), which it divides
    back). Source: optax/_src/transform.py scale_by_amsgrad (nu_eff =
    bias_correction(nu, b2, count_inc) with bias_correction_nu=True, the default; nu_max =
    jnp.maximum(state.nu_max, nu_eff); m / (jnp.sqrt(v + eps_root) + eps) over nu_max)."""
    corrected = np.maximum(vmax, v / s.bias_correction2)
    return corrected, corrected * s.bias_correction2


def _moments_direct_in_dtype(g: np.ndarray, state: AdamState, s: _Scalars,
                             square_dtype: Optional[str]) -> tuple[np.ndarray, np.ndarray]:
    """moments_direct_form: the moments in the direct form m = beta1 m + (1 - beta1) g,
    v = beta2 v + (1 - beta2) g^2 (g^2 formed in gradient_square_dtype where given: float16
    overflows above |g| = 255.9), also where moments_dtype would take torch's in-dtype lerp
    (_moments_in_dtype); moments_dtype still rounds them before the step uses them. The
    forms differ where a value is infinite: the lerp g - (g - m) (1 - w) turns an
    infinite g into NaN (inf - inf), the direct form keeps it infinite. Source:
    optax/tree_utils/_tree_math.py tree_update_moment ((1 - decay) * g + decay * t) and
    tree_update_moment_per_elem_norm ((1 - decay) * g**2 + decay * t: the square formed in
    the parameters' dtype, measured on float16 under jit: g = 300 gives nu = inf)."""
    square = g * g if square_dtype is None else round_to(g * g, square_dtype)
    return s.beta1 * state.exp_avg + s.one_minus_beta1 * g, s.beta2 * state.exp_avg_sq + s.one_minus_beta2 * square


def _eps_in_dtype(eps: float, eps_root: float, dtype: str) -> tuple[float, float]:
    """eps_in_dtype: eps and eps_root are rounded to the parameters' dtype before they are
    added: a weakly typed Python scalar added to an array takes the array's dtype in jax,
    so in float16 any eps below 2^-25 = 3e-8 is 0 (float16(1e-8) = 0, float16(1e-14) =
    0), and where v is 0 the update is 0/0 = NaN or m/0 = +-inf. The denominator itself
    is not rounded (under jax.jit XLA computes the fused float16 expression in float32).
    Source: optax/_src/transform.py scale_by_adam (m / (jnp.sqrt(v + eps_root) + eps),
    eps and eps_root Python floats); jax's weak typing."""
    return float(round_to(np.float64(eps), dtype)), float(round_to(np.float64(eps_root), dtype))


def _float32_beta_powers(s: _Scalars, beta1: float, beta2: float) -> _Scalars:
    """float32_beta_powers: the bias corrections 1 - beta^t formed in float32, as optax does
    without jax_enable_x64: the Python-float beta is a weakly typed float32 scalar raised
    to the int32 step count, fl32(fl32(beta)^t) (XLA's CPU pow: the float32 base raised
    exactly and rounded once, measured against jax 0.7.1 on 90,000 (beta, t) pairs, 9 off
    by an ulp), and 1 - that in float32 (exact). fl32(0.999) = 0.999000013 makes
    1 - beta2^t 1.3e-5 too small at t = 1 and the rounding of beta2^t near 1 adds up to
    2e-5 (beta2 = 0.9999: 2e-4); the update grows by half of that. With x64 on, the power
    is float64 and only its final cast to the parameters' dtype rounds. The moments'
    float32 betas are the float32 arithmetic itself. Source:
    optax/tree_utils/_tree_math.py tree_bias_correction (`bias_correction_ = 1 -
    decay**count`, then `.astype(t.dtype)`); optax/_src/transform.py scale_by_adam
    (count: int32)."""
    power1, power2 = _float32(_float32(beta1) ** s.step), _float32(_float32(beta2) ** s.step)
    return s._replace(beta1_power=power1, beta2_power=power2, bias_correction1=_float32(1.0 - power1),
                      bias_correction2=_float32(1.0 - power2))


def _first_moment_decayed_in_dtype(g: np.ndarray, state: AdamState, s: _Scalars, dtype: str) -> np.ndarray:
    """first_moment_dtype: the first moment is kept in `dtype` (optax's mu_dtype, e.g.
    bfloat16 beside float32 parameters): its decay term is fl(beta1) * m_{t-1}, with
    m_{t-1} as stored and beta1 a constant of the dtype (a Python float times a bfloat16
    array is a bfloat16 op in jax: beta1 = 0.9 acts as 0.8984375); m_t = (1 - beta1) g_t
    + that term, in the parameters' precision (float64 here), is what this step's update
    uses, and it is then stored rounded to the dtype (adam_step). The product itself is
    not rounded to the dtype: under jax.jit XLA computes the fused bfloat16 expression
    in float32 (measured, jax 0.7.1 CPU: bit for bit over 6 steps; op by op, without jit,
    the product is rounded to bfloat16 first and the stored m differs by an ulp of
    bfloat16). Replaces the moment form's m_t (it models optax's direct form only).
    Source: optax/_src/transform.py scale_by_adam (mu = optax.tree.update_moment(updates,
    state.mu, b1, 1); mu_hat = bias_correction(mu, ...); mu = optax.tree.cast(mu,
    mu_dtype) after the update is formed); optax/tree_utils/_tree_math.py
    tree_update_moment ((1 - decay) * g + decay * t)."""
    beta1 = float(round_to(np.float64(s.beta1), dtype))
    return s.one_minus_beta1 * g + beta1 * state.exp_avg


def _without_bias_correction(s: _Scalars) -> _Scalars:
    """bias_correction=False: no bias correction at all, 1 - beta^t taken as 1, so
    w_t = w_{t-1} - lr * m_t / (sqrt(v_t) + eps) (with decoupled decay: also
    - lr * weight_decay * w_{t-1}); the early updates are (1 - beta1^t) / sqrt(1 - beta2^t)
    of Algorithm 1's where sqrt(v) >> eps (0.1 / 0.0316: 3.16x larger at step 1 for the
    default betas). Source: mindspore/nn/optim/adam.py AdamWeightDecay (its documented
    formula, and construct, which passes no beta powers), the CPU kernel
    nnacl/fp32/adam_fp32.c AdamWeightDecayFp32: var -= lr * (m / (sqrt(v) + epsilon) +
    decay * var). Every bias-correction form reads bias_correction1/2 from the scalars
    except bias_correction_float32's (there it does nothing); beta^t is still kept."""
    return s._replace(bias_correction1=1.0, bias_correction2=1.0)


def _moments_read_in_float32(state: AdamState) -> AdamState:
    """update_reads_float32: the moments (and the AMSGrad maximum) as the step reads them,
    rounded to float32 (_update_reads_float32)."""
    return replace(state, exp_avg=round_to(state.exp_avg, "float32"), exp_avg_sq=round_to(state.exp_avg_sq, "float32"),
                   max_exp_avg_sq=round_to(state.max_exp_avg_sq, "float32"))


def _update_reads_float32(state: AdamState, w: np.ndarray, m: np.ndarray, v: np.ndarray, s: _Scalars,
                          weight_decay_mode: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """update_reads_float32: in a float64 run every read of a moment is rounded to float32
    while the moments are stored unrounded: the EMA takes fl32(m_{t-1}) * beta1 + ...
    (_moments_read_in_float32), the update reads fl32(m_t) and fl32(v_t), the AMSGrad
    maximum is taken of the rounded v_t (and stored so); and decoupled decay multiplies by
    the float32 factor fl32(1 - fl32(lr * weight_decay)). Measured on MindSpore 2.10 CPU
    for mindspore.experimental.optim.AdamW (bit for bit over several steps, with
    betas_precision="float32_scalars" and hyperparameters_float32; tests/
    test_mindspore_adamw_adapters.py): its @jit `implementation` multiplies the float64
    moments by the Python-float betas, held as float32 scalars, reading them as float32,
    and ops.assign stores the float64 results. Source: mindspore/experimental/optim/
    adamw.py _run_adamw_opt, prepare_func (weight_decay_new = 1 - lr * weight_decay, lr a
    float32 Parameter)."""
    if weight_decay_mode == WEIGHT_DECAY_DECOUPLED and s.weight_decay != 0.0:
        w = state.param * _float32(1.0 - _float32(s.lr * s.weight_decay))
    return w, round_to(m, "float32"), round_to(v, "float32")


def _adam_weight_decay_kernel(state: AdamState, grad: np.ndarray, s: _Scalars, dtype: str) -> AdamState:
    """adam_weight_decay_kernel: the whole step as MindSpore's AdamWeightDecay CPU kernel
    computes it, bit for bit (measured on 2.10: 6000 of 6000 element-steps, float16 and
    float32), in its dtype: "float16" for float16 parameters, "float32" otherwise (the
    kernel has no other form; a float64 run is the float32 run, stored back). No bias
    correction (_without_bias_correction's semantics); lr, beta1, beta2, eps and weight_decay
    are float32 numbers (then float16 ones in the float16 kernel), decoupled weight decay
    inside the update, whatever weight_decay_mode says:
        m += (g - m) * (1 - beta1);  v += (g * g - v) * (1 - beta2)
        w -= lr * (m / (sqrt(v) + eps) + weight_decay * w)
    float32 (nnacl/fp32/adam_fp32.c AdamWeightDecayFp32, its scalar loop): the moments in
    the kernel's fused form (_moments_kernel_fma), then w in double from the float32
    numbers, fl32(w - lr * (m / (sqrt(v) + eps) + fl32(weight_decay * w))) (C's sqrt is
    double), all under flush-to-zero / denormals-are-zero (measured: g = 1e-37 leaves m = 0,
    a subnormal w becomes 0). float16 (adam_weight_decay_cpu_kernel.cc
    LaunchAdamWeightDecay<float16>): every operation computed in float and rounded to
    float16, the complements 1 - beta too (fl16(1 - fl16(0.999)) = 0.0009765625), sqrt in
    double; an eps below 2^-25 is 0 there (the default 1e-8), so m = v = 0 (a zero
    gradient at step 1) gives 0 / 0 = NaN. Source: mindspore/nn/optim/adam.py
    AdamWeightDecay (float32 beta/eps Tensors; nn.Optimizer's float32 lr, weight_decay)."""
    kernel = "float16" if dtype_name(dtype) == "float16" else "float32"
    lr, beta1, beta2, eps, decay = (_float32(x) for x in (s.lr, s.beta1, s.beta2, s.eps, s.weight_decay))
    g, m, v, w = (np.asarray(x, dtype=np.float64) for x in (grad, state.exp_avg, state.exp_avg_sq, state.param))
    if kernel == "float16":
        def op(x: np.ndarray | float) -> np.ndarray:  # one float operation, rounded to float16
            return round_to(round_to(np.asarray(x, dtype=np.float64), "float32"), "float16")

        g, m, v, w = (round_to(x, "float16") for x in (g, m, v, w))
        lr, beta1, beta2, eps, decay = (float(op(x)) for x in (lr, beta1, beta2, eps, decay))
        c1, c2 = float(op(1.0 - beta1)), float(op(1.0 - beta2))
        m = op(m + op(op(g - m) * c1))
        v = op(v + op(op(op(g * g) - v) * c2))
        update = op(op(m / op(round_to(np.sqrt(v), "float16") + eps)) + op(decay * w))
        w = op(w - op(lr * update))
        return replace(state, param=w, exp_avg=m, exp_avg_sq=v, step=s.step)
    g, m, v, w = (_flushed(round_to(x, "float32"), "float32") for x in (g, m, v, w))
    c1, c2 = _float32(1.0 - beta1), _float32(1.0 - beta2)
    m = _flushed(round_to(m + round_to(g - m, "float32") * c1, "float32"), "float32")
    v = _flushed(round_to(v + round_to(g * g - v, "float32") * c2, "float32"), "float32")
    w = w - lr * (m / (np.sqrt(v) + eps) + _flushed(round_to(decay * w, "float32"), "float32"))
    w = _flushed(round_to(w, "float32"), "float32")
    return replace(state, param=w, exp_avg=m, exp_avg_sq=v, step=s.step)


def _denominator_algorithm1(v: np.ndarray, s: _Scalars, *, dtype: Optional[str]) -> np.ndarray:
    """Algorithm 1: sqrt(v_t / (1 - beta2^t)) + eps.
    denominator_dtype: the denominator is rounded to this dtype, so an eps below half its
    smallest subnormal (float16: 2^-25 = 3e-8, e.g. the default 1e-8) vanishes where v
    is 0: 0/0 = NaN, m/0 = inf. Source: torch/optim/adam.py _single_tensor_adam
    (denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps), a tensor of the
    parameter's dtype) and _multi_tensor_adam (torch._foreach_add_)."""
    denominator = np.sqrt(v / s.bias_correction2) + s.eps
    return denominator if dtype is None else round_to(denominator, dtype)


def _update_algorithm1(numerator: np.ndarray, denominator: np.ndarray, s: _Scalars) -> np.ndarray:
    """Algorithm 1: lr * (m_t / (1 - beta1^t)) / denominator."""
    return s.lr * (numerator / s.bias_correction1) / denominator


def _denominator_eps_hat(v: np.ndarray, s: _Scalars) -> np.ndarray:
    """eps_placement="before_bias_correction": eps is added to sqrt(v_t) before the bias
    correction is folded into the learning rate:
    lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t);  w -= lr_t * m / (sqrt(v) + eps).
    This is Kingma & Ba section 2, last paragraph ("the efficiency of algorithm 1 can be
    improved ... eps-hat"), and MindSpore's Adam kernel (adam_fp32.c, AdamFp32).
    Equivalent to Algorithm 1 with eps replaced by eps / sqrt(1 - beta2^t)."""
    return np.sqrt(v) + s.eps


def _update_eps_hat(numerator: np.ndarray, denominator: np.ndarray, s: _Scalars) -> np.ndarray:
    lr_t = s.lr * np.sqrt(s.bias_correction2) / s.bias_correction1
    return lr_t * numerator / denominator


def _update_eps_hat_float32(numerator: np.ndarray, denominator: np.ndarray, s: _Scalars) -> np.ndarray:
    """eps-hat with betas_precision="float32_direct": lr * sqrt(1 - beta2^t) / (1 - beta1^t),
    each op on float32 tensors (mindspore/nn/optim/adam.py _run_opt_with_sparse)."""
    lr_t = _float32(_float32(s.lr * _float32(np.sqrt(s.bias_correction2))) / s.bias_correction1)
    return lr_t * (numerator / denominator)


def _denominator_eps_hat_in_dtype(v: np.ndarray, s: _Scalars, *, dtype: str) -> np.ndarray:
    """eps-hat with betas_precision="dtype_powers": fl(fl(sqrt(v)) + fl(eps)), each op on
    tensors of the variable's dtype (eps a Python float: rounded to it, so float16 loses
    eps = 1e-8). Source: keras/src/optimizers/adam.py Adam.update_step
    (ops.add(ops.sqrt(v), self.epsilon))."""
    return round_to(round_to(np.sqrt(v), dtype) + float(round_to(np.float64(s.eps), dtype)), dtype)


def _update_eps_hat_in_dtype(numerator: np.ndarray, denominator: np.ndarray, s: _Scalars, *, dtype: str
                             ) -> np.ndarray:
    """eps-hat with betas_precision="dtype_powers": alpha = lr * sqrt(1 - beta2^t) /
    (1 - beta1^t) and the update fl(fl(m * alpha) / denominator), each op in the
    variable's dtype (lr cast to it), so in float16 m * alpha can fall into the
    subnormals. Source: keras/src/optimizers/adam.py Adam.update_step
    (ops.divide(ops.multiply(m, alpha), ops.add(ops.sqrt(v), self.epsilon)))."""
    def kd(x):
        return round_to(np.asarray(x, dtype=np.float64), dtype)

    alpha = float(kd(kd(kd(s.lr) * kd(np.sqrt(s.bias_correction2))) / s.bias_correction1))
    return kd(kd(numerator * alpha) / denominator)


def _denominator_mint(v: np.ndarray, s: _Scalars) -> np.ndarray:
    """betas_precision float32_scalars*: mint's update formula as a whole, eps after the
    bias correction whatever eps_placement says (combined with MindSpore's kernel
    placement it would model no implementation, and attribution would find coincidences
    in it), sqrt(1 - beta2^t) float32: sqrt(v) / fl32(sqrt(bc2)) + eps. Source:
    mindspore/mint/optim/adam.py _run_optim_adamw_opt."""
    return np.sqrt(v) / _float32(np.sqrt(s.bias_correction2)) + s.eps


def _update_mint(numerator: np.ndarray, denominator: np.ndarray, s: _Scalars) -> np.ndarray:
    """mint: the step size lr / (1 - beta1^t) float32 too,
    w -= fl32(lr / bc1) * m / (sqrt(v) / fl32(sqrt(bc2)) + eps)."""
    return _float32(s.lr / s.bias_correction1) * (numerator / denominator)


def _float32_sqrt(x: np.float32, rounding: bool | str) -> np.float32:
    """float32 sqrt of a float32: nearest (True), or the neighbour below/above the exact root."""
    nearest = np.float32(np.sqrt(np.float64(x)))
    square = np.float64(nearest) * np.float64(nearest)  # exact: 24-bit times 24-bit
    if rounding == SQRT_DOWN and square > x:
        return np.nextafter(nearest, np.float32(0))
    if rounding == SQRT_UP and square < x:
        return np.nextafter(nearest, np.float32(np.inf))
    return nearest


def _torch_float32_corrections(s: _Scalars, sqrt_rounding: bool | str) -> tuple[float, float]:
    """bias_correction_float32: 1 - beta^t, lr / (1 - beta1^t) and eps / that step size
    are float32 numbers; returns X = fl32(fl32(sqrt(bc2)) * -step_size) and
    Y = fl32(eps / -step_size) (a python number divided by a tensor is the tensor's
    reciprocal times the number). Source: torch/optim/adam.py _single_tensor_adam,
    `if capturable or differentiable:` branch (bias_correction1 = 1 - beta1 ** step with
    step a float32 tensor, _get_scalar_dtype()).
    True takes the float32 sqrt of 1 - beta2^t correctly rounded; torch's CPU float32
    sqrt is only faithful (measured on torch 2.13 AVX512: 20% of uniform inputs get the
    other neighbour), so SQRT_DOWN / SQRT_UP take the float32 neighbour below / above
    the exact root (one of the two is torch's)."""
    f32 = np.float32
    # ATen's float pow: the float32 base raised in double, rounded once (measured bit
    # for bit against torch 2.13 on CPU; numpy's float32 power differs by an ulp).
    power1, power2 = f32(float(f32(s.beta1)) ** s.step), f32(float(f32(s.beta2)) ** s.step)
    # Python's `lr / tensor` is tensor.reciprocal() * lr (torch/_tensor.py __rdiv__).
    step_size_neg = -(f32(1.0) / (f32(1.0) - power1) * f32(s.lr))
    scale = float(_float32_sqrt(f32(1.0) - power2, sqrt_rounding) * step_size_neg)
    shift = float(f32(1.0) / step_size_neg * f32(s.eps))
    return scale, shift


def _denominator_torch_float32(v: np.ndarray, s: _Scalars, *, dtype: Optional[str],
                               sqrt_rounding: bool | str) -> np.ndarray:
    """bias_correction_float32: sqrt(v) / X + Y (_torch_float32_corrections); with
    denominator_dtype each op of the denominator rounds."""
    scale, shift = _torch_float32_corrections(s, sqrt_rounding)
    denominator = np.sqrt(v) / scale
    if dtype is not None:
        return round_to(round_to(denominator, dtype) + shift, dtype)
    return denominator + shift


def _update_torch_float32(numerator: np.ndarray, denominator: np.ndarray, s: _Scalars) -> np.ndarray:
    """bias_correction_float32: w += m / (sqrt(v) / X + Y), X and Y negative."""
    return -(numerator / denominator)


# bias-correction form -> (denominator, update), given the switches
_UPDATES: dict[str, Callable[[Switches], tuple[Callable, Callable]]] = {
    "algorithm 1": lambda o: (functools.partial(_denominator_algorithm1, dtype=o.denominator_dtype),
                              _update_algorithm1),
    "eps-hat": lambda o: (_denominator_eps_hat, _update_eps_hat),
    "eps-hat float32": lambda o: (_denominator_eps_hat, _update_eps_hat_float32),
    "eps-hat in dtype": lambda o: (functools.partial(_denominator_eps_hat_in_dtype, dtype=o.kernel_dtype),
                                   functools.partial(_update_eps_hat_in_dtype, dtype=o.kernel_dtype)),
    "mint": lambda o: (_denominator_mint, _update_mint),
    "torch float32": lambda o: (functools.partial(_denominator_torch_float32, dtype=o.denominator_dtype,
                                                  sqrt_rounding=o.bias_correction_float32), _update_torch_float32),
}


def _update_form(o: Switches) -> str:
    """Which bias-correction form a step takes: the first that applies."""
    if o.bias_correction_float32:
        return "torch float32"
    if o.betas_precision in _FLOAT32_SCALARS:
        return "mint"
    if o.eps_placement == EPS_AFTER_BIAS_CORRECTION:
        return "algorithm 1"
    if o.betas_precision == BETAS_FLOAT32_DIRECT:
        return "eps-hat float32"
    if o.betas_precision == BETAS_DTYPE_POWERS:
        return "eps-hat in dtype"
    return "eps-hat"


# ----------------------------------------------------------------------------------
# storage: what the implementation keeps
# ----------------------------------------------------------------------------------


def _in_dtype(x: np.ndarray, *, dtype: str) -> np.ndarray:
    """moments_dtype: m and v are rounded to this dtype as soon as they are computed, so
    the update of the same step already uses the rounded values. In float16,
    (1 - beta2) * g^2 underflows to 0 for |g| < 5.5e-3 (beta2 = 0.999: below half the
    smallest subnormal, 2^-25) and overflows to inf for |g| > 8.1e3. Source:
    torch/optim/adam.py keeps exp_avg/exp_avg_sq in the parameter's dtype
    (torch.zeros_like(p)) and updates them in place (exp_avg.lerp_,
    exp_avg_sq.mul_().addcmul_()) before computing the denominator from them."""
    return round_to(x, dtype)


def _beyond_range_of(x: np.ndarray, *, dtype: str) -> np.ndarray:
    """storage_dtype: the dtype the implementation stores w, m and v in. The spec computes
    in float64 but a moment or parameter beyond that dtype's range is +-inf as soon as it
    is formed (before the update uses it), as storing it must make it:
    (1 - beta2) g^2 = 6e71 for |g| = 2.5e37 is inf in float32, and every float32
    implementation then divides by sqrt(inf). Values inside the range stay float64."""
    return beyond_range(x, dtype)


def _opmath_of(dtype: str) -> str:
    """The arithmetic a tensor op of `dtype` runs in: float32 for float16 and bfloat16."""
    return "float32" if dtype_name(dtype) in ("float16", "bfloat16") else dtype


def _flushed_in_opmath(x: np.ndarray, *, dtype: str) -> np.ndarray:
    """flush_subnormals with the increment form (XLA's CPU ops): w rounded to `dtype`,
    flushed below the smallest normal number of its arithmetic (_opmath_of)."""
    return _flushed(round_to(x, dtype), _opmath_of(dtype))


def _flushed_in_kernel(x: np.ndarray, *, dtype: str) -> np.ndarray:
    """flush_subnormals (betas_precision="float32"): the kernel's w, rounded to kernel_dtype
    and flushed (_moments_kernel_fma)."""
    return _flushed(round_to(x, dtype), dtype)


# ----------------------------------------------------------------------------------
# The recipe: the phase functions for one combination of switches
# ----------------------------------------------------------------------------------


class _Phases(NamedTuple):
    hyperparameters: Callable  # (lr, eps, weight_decay) -> the same, as held
    betas: Callable  # (beta1, beta2, state, step) -> _Betas
    gradient: tuple[Callable, ...]  # chain of (g, w, s) -> (g, w)
    moments: Callable  # (g, state, s, gradient_square) -> (m, v)
    stored_moments: tuple[Callable, ...]  # chain of x -> x, for m and for v
    amsgrad_max: Callable  # (vmax, v) -> vmax
    numerator: Callable  # (m, g, s) -> numerator
    denominator: Callable  # (second moment, s) -> denominator
    update: Callable  # (numerator, denominator, s) -> what w_{t-1} loses
    stored_param: tuple[Callable, ...]  # chain of w -> w


# The switches added for the Adam family's other frameworks (optax, Keras, Paddle,
# MindSpore's AdamW classes) that act in adam_step's body around the phases rather than
# choosing a phase function of the recipe: each is small and named, cites its source at
# the function it calls, and is checked bit for bit against its framework by the wing's
# tests; folding them into the phases is left to do (tests/test_spec_phases.py holds the
# two lists apart, and its pre-refactor oracle runs the recipe's switches only).
BODY_SWITCHES = ("adam_weight_decay_kernel", "update_reads_float32", "first_moment_dtype", "float32_beta_powers",
                 "eps_in_dtype", "moments_direct_form", "amsgrad_max_of_corrected", "weight_decay_float32",
                 "bias_correction")

# Each string switch and the values it takes (an unknown value is an error).
CHOICES: dict[str, tuple] = {
    "weight_decay_mode": (WEIGHT_DECAY_L2, WEIGHT_DECAY_DECOUPLED),
    "betas_precision": tuple(_BETAS),
    "eps_placement": (EPS_AFTER_BIAS_CORRECTION, EPS_BEFORE_BIAS_CORRECTION),
    "bias_correction_float32": (False, True, SQRT_DOWN, SQRT_UP),
}


@functools.lru_cache(maxsize=512)
def _recipe(*switches) -> _Phases:
    """The phase functions for one combination of the Switches' values (cached: adam_step
    runs per parameter per step, and its cost on small tensors is mostly Python)."""
    o = Switches(*switches)
    for name, values in CHOICES.items():
        if getattr(o, name) not in values:
            raise ValueError(f"unknown {name} {getattr(o, name)!r}")
    betas = _BETAS[o.betas_precision]
    if o.betas_precision in (BETAS_KERNEL_DTYPE, BETAS_KERNEL_DTYPE_STEP_AHEAD, BETAS_DTYPE_POWERS):
        betas = functools.partial(betas, kernel_dtype=o.kernel_dtype)
    if o.beta1_as_lerp_weight and o.betas_precision != BETAS_FLOAT32:
        betas = functools.partial(_lerp_weight, betas=betas, kernel_dtype=o.kernel_dtype)
    denominator, update = _UPDATES[_update_form(o)](o)
    stored_moments, stored_param = [], []
    if o.moments_dtype is not None:
        stored_moments.append(functools.partial(_in_dtype, dtype=o.moments_dtype))
    if o.storage_dtype is not None:
        stored_moments.append(functools.partial(_beyond_range_of, dtype=o.storage_dtype))
        stored_param.append(functools.partial(_beyond_range_of, dtype=o.storage_dtype))
    if o.flush_subnormals and o.betas_precision == BETAS_FLOAT32:
        stored_param.append(functools.partial(_flushed_in_kernel, dtype=o.kernel_dtype))
    elif o.flush_subnormals and _moment_form(o) == "increment":
        stored_param.append(functools.partial(_flushed_in_opmath, dtype=o.kernel_dtype))
    return _Phases(
        hyperparameters=_float32_hyperparameters if o.hyperparameters_float32 else _exact_hyperparameters,
        betas=betas,
        gradient=_gradient_chain(o),
        moments=_MOMENTS[_moment_form(o)](o),
        stored_moments=tuple(stored_moments),
        amsgrad_max=_AMSGRAD_MAX[bool(o.amsgrad), bool(o.amsgrad_max_keeps_on_nan)],
        numerator=_nesterov_numerator if o.nesterov else _m_numerator,
        denominator=denominator,
        update=update,
        stored_param=tuple(stored_param),
    )


# The combinations in which a switch does nothing: the phase functions that the other
# switches choose do not read it. None of them is an error: attribution combines
# variants of different rows of harness/rows.py freely, and some arise there
# (eps_placement with the mint or torch float32 forms; moments_dtype with
# moments_increment_form, or with a row-sparse gradient_square). tests/test_spec_phases.py
# toggles each switch wherever its condition holds and checks that nothing changes.
INERT: dict[str, Callable[[Switches], bool]] = {
    "flush_subnormals": lambda o: o.betas_precision != BETAS_FLOAT32 and _moment_form(o) != "increment",
    "beta1_as_lerp_weight": lambda o: o.betas_precision == BETAS_FLOAT32,
    "moments_increment_form": lambda o: _moment_form(o) in ("kernel fma", "in dtype"),
    "gradient_square": lambda o: _moment_form(o) in ("in dtype", "increment"),
    "gradient_square_dtype": lambda o: _moment_form(o) in ("kernel fma", "increment") or (
        _moment_form(o) == "direct" and (o.gradient_square_given or o.betas_precision in _FLOAT32_SCALARS)),
    "kernel_dtype": lambda o: (_moment_form(o) in ("in dtype", "direct") and not o.beta1_as_lerp_weight
                               and o.betas_precision not in (BETAS_KERNEL_DTYPE, BETAS_KERNEL_DTYPE_STEP_AHEAD,
                                                             BETAS_DTYPE_POWERS)),
    "eps_placement": lambda o: _update_form(o) in ("torch float32", "mint"),
    "denominator_dtype": lambda o: _update_form(o) not in ("algorithm 1", "torch float32"),
    "amsgrad_max_keeps_on_nan": lambda o: not o.amsgrad,
    "weight_decay_before_unscale": lambda o: not o.loss_scaled or o.weight_decay_mode == WEIGHT_DECAY_DECOUPLED,
}
