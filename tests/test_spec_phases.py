"""reference/adam.py, written as named phases (issue 19 item 4), computes the same bits as
the spec before that rewrite, tests/spec_oracle_adam.py.

Generated (Hypothesis, derandomized): shapes, dtypes (float16, bfloat16, float32,
float64), hyperparameters, gradients with NaN, inf, huge and subnormal values, and the
switch combinations callers make (the reference adapter's options plus a union of
harness/rows.py variants of different rows, as harness/attribution.py combines them) or
any combination at all; several steps, each implementation carrying its own state.
Every output (param, exp_avg, exp_avg_sq, max_exp_avg_sq as float64 bit patterns, the
step, beta1_power and beta2_power with their Python types) must be identical.

Hypothesis draws the structure (which kind of switches, dtype, shape, steps, lazy rows,
a starting state) and a seed; the seed draws the switches, the hyperparameters and the
arrays' elements with numpy. Drawn one by one, Hypothesis repeated the same few
hyperparameter and switch values across examples, and a mutated spec (a phase taken in
the wrong order, a float32 rounding left out) went unnoticed in most of them; from a
seed, each example is new.

The same generator checks reference.adam.INERT, the table of combinations in which a
switch does nothing: toggling the switch there must not change a bit.
"""

from __future__ import annotations

import inspect
from dataclasses import fields

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reference.adam as spec
import tests.spec_oracle_adam as oracle
from harness.rows import CASE_DTYPE, COMBINABLE_SWITCHES, ROWS
from reference.dtypes import round_to

DTYPES = ("float16", "bfloat16", "float32", "float64")
# Explicit settings: the conformance plugin's profiles must not scale these. 1000
# examples take about 4 s; each of 28 hand-made mutations of the spec (an operation
# order, a float32 rounding left out, a phase precedence swapped, a table entry wrong)
# failed in at least one of them (most in tens to hundreds).
GENERATED = settings(max_examples=1000, derandomize=True, database=None, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])

KEYWORDS = {name: parameter.default for name, parameter in inspect.signature(spec.adam_step).parameters.items()
            if parameter.kind is inspect.Parameter.KEYWORD_ONLY}


def _one_of(rng: np.random.Generator, *choices):
    """One of the choices, uniformly; a callable choice is called with rng."""
    choice = choices[rng.integers(len(choices))]
    return choice(rng) if callable(choice) else choice


def _listed(*values):
    return lambda rng: values[rng.integers(len(values))]


# ----------------------------------------------------------------------------------
# Array elements
# ----------------------------------------------------------------------------------

# Where the phases' forms differ: NaN, inf, beyond float16 / bfloat16 / float32 range,
# g * g overflowing, subnormals of every dtype, cancellation.
SPECIAL = np.array([0.0, -0.0, np.nan, np.inf, -np.inf, 1e300, -1e300, 3.5e38, 3.4e38, 7e4, 65504.0, 255.9, 8.1e3,
                    2.5e37, 1e-3, 5.5e-3, 6e-8, 1e-40, 1e-37, 1e-310, 5e-324, 1.0, -1.0, 1 + 2.0**-23, 0.1, -3.0])


def _ordinary(rng: np.random.Generator, n: int) -> np.ndarray:
    """What rounding differences show in (a NaN or inf hides them): not dyadic, so float32
    and float16 roundings matter; of the order of 1, or over many magnitudes."""
    decimal = rng.integers(-10**6, 10**6, n) / 1000.0
    spread = rng.choice([-1.0, 1.0], n) * rng.uniform(1.0, 10.0, n) * 10.0 ** rng.integers(-45, 40, n)
    return np.where(rng.random(n) < 0.6, decimal, spread)


def _tiny(rng: np.random.Generator, n: int) -> np.ndarray:
    """Subnormals and the smallest normals of float16, float32 / bfloat16 and float64."""
    exponents = rng.choice([-13, -10, -8, -6, -5, -45, -42, -40, -38, -37, -323, -315, -308], n)
    return rng.choice([-1.0, 1.0], n) * rng.uniform(1.0, 10.0, n) * 10.0**exponents


def _special(rng: np.random.Generator, n: int) -> np.ndarray:
    wild = rng.integers(0, 2**64, n, dtype=np.uint64).view(np.float64)  # any bit pattern, NaNs included
    return np.where(rng.random(n) < 0.7, rng.choice(SPECIAL, n), wild)


ARRAY_KINDS = {
    "ordinary": _ordinary,
    "mixed": lambda rng, n: np.where(rng.random(n) < 0.85, _ordinary(rng, n), _special(rng, n)),
    "special": _special,
    "tiny": lambda rng, n: np.where(rng.random(n) < 0.7, _tiny(rng, n), _ordinary(rng, n)),
    # A parameter of an update's size: a parameter much larger than lr hides the
    # update's last bits (w - update rounds to w).
    "unit": lambda rng, n: np.where(rng.random(n) < 0.5, rng.integers(-2000, 2000, n) / 1000.0,
                                    rng.uniform(-2.0, 2.0, n)),
    "zero": lambda rng, n: np.zeros(n),
}
GRADIENT_KINDS = ("ordinary", "ordinary", "mixed", "mixed", "special", "tiny")
PARAM_KINDS = ("unit", "unit", "zero", "ordinary", "mixed", "special", "tiny")
# Larger arrays first: more elements per example for a rounding difference to show in.
SHAPES = ((8, 16), (64,), (2, 3), (4, 1, 2), (3,), (1,), ())


def _array(rng: np.random.Generator, shape: tuple, dtype: str, kinds: tuple[str, ...]) -> np.ndarray:
    values = ARRAY_KINDS[_one_of(rng, *kinds)](rng, int(np.prod(shape))).reshape(shape)
    if rng.random() < 0.6:  # the harness hands the spec values of the case dtype
        with np.errstate(all="ignore"):
            values = round_to(values, dtype).reshape(shape)
    return values


# ----------------------------------------------------------------------------------
# Hyperparameters and switches
# ----------------------------------------------------------------------------------


def _decimals(scale: float, top: int):
    """k * scale for k in 1..top: mostly not float32 (nor float16) numbers."""
    return lambda rng: int(rng.integers(1, top + 1)) * scale


def _hyperparameters(rng: np.random.Generator) -> dict:
    return dict(
        lr=float(_one_of(rng, _listed(1e-3, 0.1, 1.0, 10.0, 1e-8, 0.3), _decimals(1e-3, 2000),
                         lambda r: 10.0 ** r.uniform(-6, 1))),
        beta1=float(_one_of(rng, _listed(0.9, 0.0, 0.5, 0.49, 0.51, 2.0**-24, 1e-3, 0.999999, 0.99),
                            _decimals(1e-4, 9999), lambda r: r.uniform(0.0, 0.9999))),
        beta2=float(_one_of(rng, _listed(0.999, 0.0, 0.5, 1e-3, 0.99999, 0.9), _decimals(1e-5, 99999),
                            lambda r: r.uniform(0.0, 0.99999))),
        eps=float(_one_of(rng, _listed(1e-8, 0.0, 1e-30, 1e-3, 1.0, 1e-6, 0.3), _decimals(1e-5, 10**5),
                          lambda r: 10.0 ** r.uniform(-12, -2))),
        weight_decay=float(_one_of(rng, _listed(0.0, 0.0, 0.0, 0.01, 0.5, 1e-50, 0.1, 0.3), _decimals(1e-3, 1000),
                                   lambda r: r.uniform(0.0, 1.0))),
        loss_scale=float(_one_of(rng, *([1.0] * 3 + [1024.0, 65536.0, 0.5, 3.0, 1000.0, 0.1, 7.0]))),
    )


# harness/rows.py variants, (row, variant), as harness/attribution.py draws candidates:
# those of the switches the pre-refactor spec has (the oracle cannot run the switches
# added since, for the Adam family's other frameworks: each of those is checked bit for
# bit against its framework by the wing's tests, tests/test_*_adapters.py).
ORACLE_KEYWORDS = set(inspect.signature(oracle.adam_step).parameters)
ORACLE_BETAS = {spec.BETAS_EXACT, spec.BETAS_FLOAT32, spec.BETAS_FLOAT32_DIRECT, spec.BETAS_FLOAT32_SCALARS,
                spec.BETAS_FLOAT32_SCALARS_EAGER}
# Keys the reference adapter resolves itself (harness/adapters/reference.py _ADAPTER_KEYS).
ADAPTER_KEYS = {"weight_decay_exempt_substrings", "stored_in_case_dtype", "row_sparse", "missing_gradient",
                "parameter_update_lost"}


def _oracle_knows(variant: dict) -> bool:
    return (all(key in ORACLE_KEYWORDS or key in ADAPTER_KEYS for key in variant)
            and variant.get("betas_precision", spec.BETAS_EXACT) in ORACLE_BETAS
            and variant.get("missing_gradient", "zero") == "zero")


VARIANTS = [(row.id, dict(variant)) for row in ROWS for variant in row.variants if _oracle_knows(variant)]


def attribution_switches(rng: np.random.Generator, dtype: str) -> tuple[dict, dict]:
    """What the reference adapter passes to adam_step for a case under a union of row
    variants (one per row, or a second of one row where one is an input mechanism; up to
    4, as harness/attribution.py combines them), and how the gradient arrives (lazy
    rows under use_lazy, per-copy squares under row_sparse "in_graph"). Returns
    (keywords, extras)."""
    amsgrad, nesterov, decoupled, maximize = (bool(rng.random() < 0.5) for _ in range(4))
    chosen: list[tuple[str, dict]] = []
    for index in rng.integers(0, len(VARIANTS), rng.integers(0, 5)):
        row, variant = VARIANTS[index]
        if any(set(variant) & set(other) for _, other in chosen):
            continue  # two settings of one switch
        if any(row == other_row and not (set(variant) <= COMBINABLE_SWITCHES or set(other) <= COMBINABLE_SWITCHES)
               for other_row, other in chosen):
            continue  # alternatives of one row
        chosen.append((row, variant))
    merged = {key: value for _, variant in chosen for key, value in variant.items()}

    def switch(key: str, case_value: bool) -> bool:
        value = merged.get(key, case_value)
        return (not case_value) if value == "toggle" else bool(value)

    passthrough = {k: (dtype if v == CASE_DTYPE else v) for k, v in merged.items()
                   if k not in ADAPTER_KEYS | {"amsgrad", "nesterov"}}
    opmath = "float32" if dtype in ("float16", "bfloat16") else dtype
    if "betas_precision" in passthrough:
        passthrough.setdefault("kernel_dtype", opmath)
    if "moments_increment_form" in passthrough:
        passthrough.setdefault("kernel_dtype", dtype)
    if "beta1_as_lerp_weight" in passthrough:
        passthrough.setdefault("kernel_dtype", opmath)
    keywords = dict(amsgrad=switch("amsgrad", amsgrad), nesterov=switch("nesterov", nesterov), maximize=maximize,
                    weight_decay_mode=spec.WEIGHT_DECAY_DECOUPLED if decoupled else spec.WEIGHT_DECAY_L2,
                    **{"storage_dtype": dtype, **passthrough})
    use_lazy = rng.random() < 0.5
    return keywords, dict(lazy=use_lazy and rng.random() < 0.5,
                          squares=not use_lazy and merged.get("row_sparse") == "in_graph")


def free_switches(rng: np.random.Generator, dtype: str) -> tuple[dict, dict]:
    """Any value of every switch, independently (combinations no caller makes included)."""
    optional = _listed(None, None, *DTYPES)
    keywords = dict(
        weight_decay_mode=_one_of(rng, spec.WEIGHT_DECAY_L2, spec.WEIGHT_DECAY_DECOUPLED),
        betas_precision=_one_of(rng, spec.BETAS_EXACT, spec.BETAS_EXACT, spec.BETAS_FLOAT32,
                                spec.BETAS_FLOAT32_DIRECT, spec.BETAS_FLOAT32_SCALARS,
                                spec.BETAS_FLOAT32_SCALARS_EAGER),
        eps_placement=_one_of(rng, spec.EPS_AFTER_BIAS_CORRECTION, spec.EPS_BEFORE_BIAS_CORRECTION),
        bias_correction_float32=_one_of(rng, *([False] * 6), True, spec.SQRT_DOWN, spec.SQRT_UP),
        kernel_dtype=_one_of(rng, "float32", "float32", "float16", "bfloat16", "float64"),
        storage_dtype=_one_of(rng, dtype, dtype, optional),
        moments_dtype=_one_of(rng, None, optional),
        denominator_dtype=_one_of(rng, optional),
        gradient_square_dtype=_one_of(rng, optional),
        **{name: bool(rng.random() < 0.5) for name in (
            "amsgrad", "maximize", "nesterov", "weight_decay_before_unscale", "hyperparameters_float32",
            "beta1_as_lerp_weight", "flush_subnormals", "amsgrad_max_keeps_on_nan", "moments_increment_form")})
    return keywords, dict(lazy=rng.random() < 0.3, squares=rng.random() < 0.3)


SWITCHES = {"attribution": attribution_switches, "free": free_switches}


@st.composite
def runs(draw, kinds=tuple(SWITCHES)):
    """(keywords, param, start, steps): adam_step's keywords, the initial parameter, a
    starting state (or none: init_state's), and per step (grad, lazy_rows, gradient_square)."""
    kind = draw(st.sampled_from(kinds))
    dtype = draw(st.sampled_from(DTYPES))
    shape = draw(st.sampled_from(SHAPES))
    n_steps = draw(st.integers(1, 4))
    from_state = draw(st.booleans())
    rng = np.random.default_rng(draw(st.integers(0, 2**63 - 1)))
    keywords, extras = SWITCHES[kind](rng, dtype)
    keywords.update(_hyperparameters(rng))
    param = _array(rng, shape, dtype, PARAM_KINDS)
    start = {}
    if from_state:
        start = dict(exp_avg=_array(rng, shape, dtype, GRADIENT_KINDS),
                     exp_avg_sq=np.abs(_array(rng, shape, dtype, GRADIENT_KINDS)),
                     max_exp_avg_sq=np.abs(_array(rng, shape, dtype, GRADIENT_KINDS)), step=int(rng.integers(0, 4)),
                     beta1_power=_one_of(rng, 1.0, 0.9, float(np.float32(0.81)), 0.123456789),
                     beta2_power=_one_of(rng, 1.0, 0.999, float(np.float32(0.998001)), 0.987654321))
    steps = []
    for _ in range(n_steps):
        grad = _array(rng, shape, dtype, GRADIENT_KINDS)
        rows = None
        if extras["lazy"]:
            n_rows = shape[0] if shape else 1
            rows = rng.integers(0, n_rows, rng.integers(0, n_rows + 2)).astype(np.int64)
        square = np.abs(_array(rng, shape, dtype, GRADIENT_KINDS)) if extras["squares"] else None
        steps.append((grad, rows, square))
    return keywords, param, start, steps


# ----------------------------------------------------------------------------------
# Running and comparing
# ----------------------------------------------------------------------------------

STATE_ARRAYS = ("param", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")


def _initial(module, param: np.ndarray, start: dict):
    state = module.init_state(param.copy())
    given_values = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in start.items()}
    return module.AdamState(**{**{f.name: getattr(state, f.name) for f in fields(state)}, **given_values})


def trajectory(module, keywords: dict, param: np.ndarray, start: dict, steps) -> list:
    """[(the input state's arrays as they were, the output state)] per step."""
    state = _initial(module, param, start)
    out = []
    for grad, rows, square in steps:
        before = {name: np.array(getattr(state, name), copy=True) for name in STATE_ARRAYS}
        state = module.adam_step(state, grad.copy(), lazy_rows=rows, gradient_square=square, **keywords)
        out.append((before, state))
    return out


def bits(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64).view(np.uint64)


def assert_same_bits(new, old, where: str) -> None:
    for name in STATE_ARRAYS:
        a, b = getattr(new, name), getattr(old, name)
        assert type(a) is type(b) and a.dtype == b.dtype == np.float64 and a.shape == b.shape, (where, name)
        assert np.array_equal(bits(a), bits(b)), f"{where}: {name}\nnew {a!r}\nold {b!r}"
    assert type(new.step) is type(old.step) and new.step == old.step, where
    for name in ("beta1_power", "beta2_power"):
        a, b = getattr(new, name), getattr(old, name)
        assert type(a) is type(b) and bits(a) == bits(b), f"{where}: {name} new {a!r} old {b!r}"


@GENERATED
@given(runs())
def test_phases_equal_the_pre_refactor_spec_bit_for_bit(run):
    keywords, param, start, steps = run
    if keywords.get("flush_subnormals") and spec._moment_form(_switches(keywords, steps[0][2] is not None)) == "increment":
        # flush_subnormals in the increment form flushes each op (Keras on XLA's CPU), added
        # after the oracle, whose increment form ignored it (no caller combined the two).
        keywords = {**keywords, "flush_subnormals": False}
    new, old = trajectory(spec, keywords, param, start, steps), trajectory(oracle, keywords, param, start, steps)
    for t, ((_, new_state), (_, old_state)) in enumerate(zip(new, old), start=1):
        assert_same_bits(new_state, old_state, f"step {t} of {keywords}")
    # adam_step is pure: each step's input state is as the step before returned it.
    for (before, _), (_, previous) in zip(new[1:], new[:-1]):
        for name, value in before.items():
            assert np.array_equal(bits(value), bits(getattr(previous, name))), name


# ----------------------------------------------------------------------------------
# INERT
# ----------------------------------------------------------------------------------


def _switches(keywords: dict, squares: bool) -> spec.Switches:
    bound = {**KEYWORDS, **keywords}
    return spec.Switches(**{name: bound[name] for name in spec.Switches._fields
                            if name not in ("loss_scaled", "gradient_square_given")},
                         loss_scaled=bound["loss_scale"] != 1.0, gradient_square_given=squares)


def _toggled(name: str, value):
    if name == "eps_placement":
        return (spec.EPS_BEFORE_BIAS_CORRECTION if value == spec.EPS_AFTER_BIAS_CORRECTION
                else spec.EPS_AFTER_BIAS_CORRECTION)
    if name == "kernel_dtype":
        return "float64" if value == "float16" else "float16"
    if name in ("gradient_square_dtype", "denominator_dtype"):
        return "float16" if value is None else None
    return not value


@GENERATED
@given(runs(kinds=("free",)))
def test_inert_switches_change_nothing(run):
    """reference.adam.INERT: wherever an entry's condition holds, toggling that switch
    (a dtype switch between None and float16, gradient_square between none and one)
    gives the same bits, and the condition still holds after the toggle."""
    keywords, param, start, steps = run
    squares = steps[0][2] is not None
    base = trajectory(spec, keywords, param, start, steps)
    for name, inert in spec.INERT.items():
        if not inert(_switches(keywords, squares)):
            continue
        if name == "gradient_square":
            toggled_keywords = keywords
            toggled_steps = [(g, rows, None if squares else np.abs(g) + 1.0) for g, rows, _ in steps]
            assert inert(_switches(keywords, not squares)), name
        else:
            toggled_keywords = {**keywords, name: _toggled(name, {**KEYWORDS, **keywords}[name])}
            toggled_steps = steps
            assert inert(_switches(toggled_keywords, squares)), name
        toggled = trajectory(spec, toggled_keywords, param, start, toggled_steps)
        for t, ((_, a), (_, b)) in enumerate(zip(base, toggled), start=1):
            assert_same_bits(b, a, f"{name} toggled, step {t} of {keywords}")


# ----------------------------------------------------------------------------------
# The switches' table and CHOICES
# ----------------------------------------------------------------------------------


def test_every_keyword_of_adam_step_is_a_switch_a_number_or_an_array():
    """Switches (what chooses phase functions) names every keyword of adam_step that is
    not a number or an array, so no switch can bypass the recipe."""
    numbers_and_arrays = {"lr", "beta1", "beta2", "eps", "eps_root", "weight_decay", "loss_scale", "lazy_rows",
                          "gradient_square"}
    recipe = set(spec.Switches._fields) - {"loss_scaled", "gradient_square_given"}
    assert set(KEYWORDS) - numbers_and_arrays == recipe | set(spec.BODY_SWITCHES)
    assert not recipe & set(spec.BODY_SWITCHES)
    assert set(spec.INERT) <= set(KEYWORDS)


@pytest.mark.parametrize("name, value", [("eps_placement", "before"), ("betas_precision", "float16"),
                                         ("weight_decay_mode", "adamw"),
                                         ("bias_correction_float32", "sqrt_rounded_sideways")])
@pytest.mark.parametrize("shadowing", [{}, {"bias_correction_float32": True},
                                       {"betas_precision": spec.BETAS_FLOAT32_SCALARS}])
def test_unknown_switch_values_raise_whatever_else_is_set(name, value, shadowing):
    """CHOICES is checked before any phase runs: a misspelt value is an error even where
    the phase it would select is shadowed (the pre-refactor spec let an unknown
    eps_placement pass under bias_correction_float32 or mint's betas)."""
    keywords = {**shadowing, name: value}
    with pytest.raises(ValueError, match=name):
        spec.adam_step(spec.init_state(np.zeros(2)), np.ones(2), lr=0.1, **keywords)
