"""Hypothesis strategies for canonical Adam cases, shared by every test module.

Hypothesis draws the *recipe* of a case (shape, dtype, magnitudes, stream kind,
hyperparameters, a numpy seed); the numbers themselves come from a numpy generator
seeded by the recipe. That keeps 10,000-step cases cheap to draw and still shrinkable
(towards fewer steps, smaller shapes, simpler streams, seed 0).

Whoever draws cases calls harness/hypothesis_setup.py `disable_local_constants()` first
(the pytest plugin when a session starts, harness/sweep.py before each draw): Hypothesis
would otherwise mix numbers from the source of every local module loaded so far into its
draws, and the same seed would draw different cases in different sessions.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np
from hypothesis import strategies as st

from harness.casefile import Case, ParamGroup, ParamSpec
from harness.catalogue import FACTORS, outside
from harness.coverage import completable, covering_rows
from harness.acceptance import KEYS
from reference.domain import SWITCHES
from reference.dtypes import cast


# Gradient and parameter magnitudes span this many decades (issue: at least 1e-12..1e4).
MIN_EXPONENT, MAX_EXPONENT = -12, 4
STREAM_KINDS = ("log_uniform", "constant", "sign_flipping", "decaying", "growing")
NETWORK_NAMES = ("conv1.weight", "conv1.bias", "bn.gamma", "bn.beta", "fc.weight", "fc.bias")
PLAIN_NAMES = ("w", "b", "weight", "layer.0.weight", "embedding")
MAX_ELEMENTS = 48


@st.composite
def shapes(draw, max_dims: int = 4, max_elements: int = MAX_ELEMENTS) -> tuple[int, ...]:
    """0-d up to 4-d; dimensions of size 1 are common (they shrink to 1)."""
    ndim = draw(st.integers(0, max_dims))
    shape: list[int] = []
    for _ in range(ndim):
        budget = max(1, max_elements // max(1, math.prod(shape)))
        shape.append(draw(st.integers(1, min(5, budget))))
    return tuple(shape)


def exponent_ranges() -> st.SearchStrategy[tuple[int, int]]:
    """A decade range (lo, hi) inside [MIN_EXPONENT, MAX_EXPONENT]."""
    return st.tuples(
        st.integers(MIN_EXPONENT, MAX_EXPONENT), st.integers(MIN_EXPONENT, MAX_EXPONENT)
    ).map(sorted).map(tuple)


@st.composite
def stream_recipes(draw) -> dict[str, Any]:
    return {
        "kind": draw(st.sampled_from(STREAM_KINDS)),
        "exponents": draw(exponent_ranges()),
        "zero_fraction": draw(st.sampled_from([0.0, 0.0, 0.25, 1.0])),
        "zero_rows": draw(st.booleans()),
        "rate": draw(st.sampled_from([0.5, 0.9, 0.99, 0.999])),
    }


def _log_uniform(rng: np.random.Generator, size: Any, exponents: tuple[int, int]) -> np.ndarray:
    lo, hi = exponents
    magnitude = 10.0 ** rng.uniform(lo, hi, size=size)
    return np.where(rng.random(size) < 0.5, -magnitude, magnitude)


def gradient_stream(rng: np.random.Generator, recipe: dict, steps: int, shape: tuple[int, ...]) -> np.ndarray:
    """[steps, n] float64 gradients following `recipe` (magnitudes kept in 1e-12..1e4)."""
    n = math.prod(shape)
    kind, exponents = recipe["kind"], recipe["exponents"]
    t = np.arange(steps)[:, None]
    if kind == "log_uniform":
        grads = _log_uniform(rng, (steps, n), exponents)
    else:
        base = _log_uniform(rng, (1, n), exponents)
        if kind == "constant":
            grads = np.repeat(base, steps, axis=0)
        elif kind == "sign_flipping":
            grads = base * np.where(t % 2 == 0, 1.0, -1.0)
        else:
            rate = recipe["rate"] if kind == "decaying" else 1.0 / recipe["rate"]
            # In log space, so 10,000 steps of growth do not overflow before the clip.
            exponent = np.log10(np.abs(base)) + t * np.log10(rate)
            grads = np.sign(base) * 10.0 ** np.clip(exponent, MIN_EXPONENT, MAX_EXPONENT)
    if recipe["zero_fraction"] > 0:
        grads = np.where(rng.random((steps, n)) < recipe["zero_fraction"], 0.0, grads)
    if recipe["zero_rows"] and len(shape) >= 1 and shape[0] > 1:
        rows = grads.reshape(steps, shape[0], -1)
        rows[:, rng.integers(0, shape[0])] = 0.0  # one row never receives a gradient
        grads = rows.reshape(steps, n)
    return grads


def initial_values(rng: np.random.Generator, shape: tuple[int, ...], exponents: tuple[int, int]) -> np.ndarray:
    values = _log_uniform(rng, math.prod(shape), exponents)
    return np.where(rng.random(values.shape) < 0.1, 0.0, values)


# --- hyperparameters ---------------------------------------------------------------

def log_uniform_floats(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(math.log10(lo), math.log10(hi)).map(lambda e: float(f"{10.0**e:.6g}"))


def lrs() -> st.SearchStrategy[float]:
    return st.one_of(st.just(0.0), st.sampled_from([1e-3, 1e-2, 0.1, 1.0, 10.0]), log_uniform_floats(1e-6, 10.0))


def lr_schedules(max_len: int = 8) -> st.SearchStrategy[list[float]]:
    return st.lists(log_uniform_floats(1e-5, 1.0), min_size=1, max_size=max_len)


def epss() -> st.SearchStrategy[float]:
    return st.one_of(st.sampled_from([1e-16, 1e-8, 1e-6, 1.0]), log_uniform_floats(1e-16, 1.0))


def weight_decays() -> st.SearchStrategy[float]:
    return st.one_of(st.sampled_from([0.0, 1e-4, 1e-2, 0.1, 1.0]), log_uniform_floats(1e-6, 1.0))


def beta1s() -> st.SearchStrategy[float]:
    return st.one_of(st.sampled_from([0.0, 1e-3, 0.5, 0.9, 0.99, 0.999, 0.99999]), st.floats(0.0, 0.999))


def beta2s() -> st.SearchStrategy[float]:
    return st.one_of(st.sampled_from([1e-3, 0.5, 0.9, 0.99, 0.999, 0.9999, 0.99999, 0.999999]),
                     st.floats(0.5, 0.999999))


def eps_roots() -> st.SearchStrategy[float]:
    """optax's eps_root: 0 is its default; values from far below to far above a typical v^_t
    (g^2 for |g| in 1e-3..10), where it moves the denominator."""
    return st.one_of(st.sampled_from([1e-16, 1e-8, 1e-6, 1e-3]), st.floats(1e-16, 1.0).map(lambda x: float(f"{x:.6g}")))


def loss_scales() -> st.SearchStrategy[float]:
    return st.sampled_from([1.0, 2.0, 128.0, 1024.0, 65536.0, 1000.0, 3.0])


ROW_HYPERPARAMETERS: dict[str, dict[str, st.SearchStrategy]] = {
    "defaults": {},
    "params": {},
    "lr": {"lr": st.one_of(lrs(), lr_schedules())},
    "eps": {"eps": epss()},
    "weight_decay": {"weight_decay": weight_decays()},
    "amsgrad": {"amsgrad": st.just(True)},
    "betas": {"betas": st.tuples(beta1s(), beta2s()).map(list)},
    "use_locking": {"use_locking": st.just(True)},
    "use_nesterov": {"use_nesterov": st.just(True)},
    "loss_scale": {"loss_scale": loss_scales()},
    "use_lazy": {"use_lazy": st.just(True)},
    "use_offload": {"use_offload": st.just(True)},
    "eps_root": {"eps_root": eps_roots()},
}
# The rows of the seed's table (every row but those beyond it: optax's eps_root, which
# torch, MindSpore, Keras and Paddle have no counterpart for), sorted: what the modules of
# those frameworks draw a row from (their cases keep the draws they had before eps_root).
SEED_TABLE_ROWS = tuple(sorted(row for row in ROW_HYPERPARAMETERS if row != "eps_root"))


# Every dtype torch's CPU Adam implementations are run in (bfloat16 has no numpy type:
# reference/dtypes.py). The row modules keep their own, derandomized, draws.
TORCH_DTYPES = ("float16", "bfloat16", "float32", "float64")


@st.composite
def torch_hyperparameters(draw) -> dict[str, Any]:
    """Every option of torch.optim.Adam, each either drawn across its legal range or left
    at its default (so combinations of all rows' options occur)."""
    options: dict[str, st.SearchStrategy] = {
        "lr": st.one_of(lrs(), lr_schedules()),
        "betas": st.tuples(beta1s(), beta2s()).map(list),
        "eps": epss(),
        "weight_decay": weight_decays(),
        "amsgrad": st.just(True),
        "maximize": st.just(True),
        "decoupled_weight_decay": st.just(True),
    }
    return {key: draw(strategy) for key, strategy in options.items() if draw(st.booleans())}


@st.composite
def hyperparameters(draw, row: str, vary_others: bool = True) -> dict[str, Any]:
    """The row's option across its legal range; with vary_others, the shared options too."""
    out = {key: draw(strategy) for key, strategy in ROW_HYPERPARAMETERS[row].items()}
    if vary_others and row not in ("defaults",):
        for key, strategy in (("lr", lrs()), ("weight_decay", weight_decays()), ("eps", epss())):
            if key not in out and draw(st.booleans()):
                out[key] = draw(strategy)
    return out


# --- whole cases -------------------------------------------------------------------

@st.composite
def cases(
    draw,
    row: str = "defaults",
    dtypes: st.SearchStrategy[str] = st.sampled_from(["float32", "float32", "float64"]),
    steps: st.SearchStrategy[int] = st.integers(1, 50),
    max_params: int = 1,
    names: st.SearchStrategy[str] = st.sampled_from(PLAIN_NAMES + NETWORK_NAMES),
    vary_others: bool = True,
    groups: bool = False,
    max_elements: int = MAX_ELEMENTS,
    options: st.SearchStrategy[dict[str, Any]] | None = None,
    shape: st.SearchStrategy[tuple[int, ...]] | None = None,
) -> Case:
    """options: the hyperparameter strategy; default: the row's (`hyperparameters`).
    shape: each parameter's shape; default: `shapes` up to max_elements."""
    dtype = draw(dtypes)
    num_steps = draw(steps)
    param_names = draw(st.lists(names, min_size=1, max_size=max_params, unique=True))
    param_shapes = [draw(shape if shape is not None else shapes(max_elements=max_elements)) for _ in param_names]
    recipes = [draw(stream_recipes()) for _ in param_names]
    init_exponents = [draw(exponent_ranges()) for _ in param_names]
    hyper = draw(options if options is not None else hyperparameters(row, vary_others))
    seed = draw(st.integers(0, 2**32 - 1))

    rng = np.random.default_rng(seed)
    params, streams = [], []
    for name, shape, recipe, exponents in zip(param_names, param_shapes, recipes, init_exponents):
        value = cast(initial_values(rng, shape, exponents), dtype)
        params.append(ParamSpec(name, shape, value))
        streams.append(cast(gradient_stream(rng, recipe, num_steps, shape), dtype))
    grads = tuple(tuple(stream[t] for stream in streams) for t in range(num_steps))

    param_groups: tuple[ParamGroup, ...] = ()
    if groups and len(params) > 1:
        split = draw(st.integers(1, len(params) - 1))
        group_lr = draw(st.one_of(st.none(), lrs()))
        group_wd = draw(st.one_of(st.none(), weight_decays()))
        param_groups = (
            ParamGroup(tuple(param_names[:split]), group_lr, group_wd),
            ParamGroup(tuple(param_names[split:])),
        )
        if isinstance(hyper.get("lr"), list):
            hyper.pop("lr")
    return Case(dtype, hyper, tuple(params), grads, param_groups,
                comment=f"generated: row={row} seed={seed} streams={[r['kind'] for r in recipes]}")


def row_cases(row: str, long_runs: bool = False, dtypes: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[Case]:
    """The generated cases for one row (used by cases/test_<row>.py and the report sweep).

    long_runs: 1,000-10,000 steps on at most 8 elements instead of 1-50 steps.
    dtypes: the dtype strategy (default: cases()'s float32 / float64).
    """
    # Long runs hit exactly 10,000 steps about half the time (the "at least 10,000").
    steps = st.one_of(st.just(10_000), st.integers(1000, 10_000)) if long_runs else st.integers(1, 50)
    max_elements = 8 if long_runs else MAX_ELEMENTS
    common = {"steps": steps, "max_elements": max_elements, **({"dtypes": dtypes} if dtypes is not None else {})}
    if row == "defaults":
        return cases(row=row, vary_others=False, **common)
    if row == "params":
        return cases(row=row, max_params=4, names=st.sampled_from(NETWORK_NAMES + PLAIN_NAMES), groups=True, **common)
    return cases(row=row, max_params=2, **common)


# --------------------------------------------------------------------------- real tensor sizes

# A real layer's parameter: 1e4 to 1e6 elements (an embedding, a transformer block's
# projection), where kernels take their vectorised bodies, scalar tails and thread
# partitions; few steps, within the default budget of element-steps (settings.py).
LARGE_ELEMENTS = (10_000, 1_000_000)
LARGE_ELEMENT_STEPS = 2_000_000


@st.composite
def large_shapes(draw, elements: tuple[int, int] = LARGE_ELEMENTS) -> tuple[int, ...]:
    """A vector or a matrix of rows x 64..1024 columns, its size log-uniform in `elements`
    (odd sizes too: a vectorised body's tail is the size modulo its width)."""
    lo, hi = elements
    size = int(round(10.0 ** draw(st.floats(math.log10(lo), math.log10(hi)))))
    if draw(st.booleans()):
        return (size,)
    columns = draw(st.sampled_from([64, 127, 256, 768, 1024]))
    return (max(1, size // columns), columns)


@st.composite
def large_cases(draw, elements: tuple[int, int] = LARGE_ELEMENTS) -> Case:
    """The defaults row at real tensor sizes: one parameter of `large_shapes`, 1-5 steps
    (fewer where the element-steps would pass LARGE_ELEMENT_STEPS)."""
    shape = draw(large_shapes(elements))
    most_steps = max(1, min(5, LARGE_ELEMENT_STEPS // math.prod(shape)))
    return draw(cases(row="defaults", vary_others=False, steps=st.integers(1, most_steps), shape=st.just(shape),
                      names=st.sampled_from(("embedding.weight", "fc.weight", "attention.in_proj_weight"))))


# --------------------------------------------------------------------------- extreme gradients

# Values injected into otherwise ordinary gradient streams: non-finite, around the float32
# overflow of g * g (sqrt(3.4e38) = 1.84e19), near float32's largest value, and subnormal.
EXTREME_KINDS = ("nan", "inf", "-inf", "square_overflow", "near_max", "subnormal")


def _extreme_value(kind: str, rng: np.random.Generator) -> float:
    sign = -1.0 if rng.random() < 0.5 else 1.0
    if kind == "nan":
        return float("nan")
    if kind in ("inf", "-inf"):
        return float(kind)
    if kind == "square_overflow":
        return sign * float(10.0 ** rng.uniform(18.5, 20.0))  # both sides of 1.84e19
    if kind == "near_max":
        return sign * float(10.0 ** rng.uniform(37.0, 38.5))
    return sign * float(10.0 ** rng.uniform(-45.0, -38.0))  # float32 subnormals


@st.composite
def extreme_gradient_cases(draw) -> Case:
    """A float32 case whose gradient stream carries one to three extreme values (at drawn
    steps and elements), with and without amsgrad and weight decay."""
    base = draw(cases(row="defaults", dtypes=st.just("float32"), steps=st.integers(1, 12), max_elements=8,
                      vary_others=False))
    hyper = dict(base.hyperparameters)
    hyper["amsgrad"] = draw(st.booleans())
    hyper["weight_decay"] = draw(st.sampled_from([0.0, 0.0, 1e-2]))
    # Subnormals with amsgrad: MindSpore's amsgrad kernel flushes them inconsistently (kept
    # at one step, zeroed at the next; tests/data/mindspore-amsgrad-subnormal.json, a strict
    # xfail in tests/test_conformance.py) — not modelled yet, so not drawn together.
    kinds = [k for k in EXTREME_KINDS if not (hyper["amsgrad"] and k == "subnormal")]
    injections = draw(st.lists(st.tuples(st.sampled_from(kinds), st.integers(0, 2**32 - 1)),
                               min_size=1, max_size=3))
    grads = [list(step) for step in base.grads]
    for kind, seed in injections:
        rng = np.random.default_rng(seed)
        t = int(rng.integers(len(grads)))
        p = int(rng.integers(len(grads[t])))
        g = grads[t][p].copy()
        g[int(rng.integers(g.size))] = _extreme_value(kind, rng)
        grads[t][p] = g.astype(np.float32)
    return Case(base.dtype, hyper, base.params, tuple(tuple(step) for step in grads), base.param_groups,
                f"extreme gradients: {', '.join(kind for kind, _ in injections)}")


# --------------------------------------------------------------------------- hyperparameter validation

_SPECIAL_NUMBERS = (0.0, -0.0, float("nan"), float("inf"), float("-inf"), True, False, None, "0.1", 1, 0)
_SPECIAL_BETAS = (0.0, 1.0, 1.5, -0.1, float("nan"), float("inf"), 1 - 1e-8, 1 - 1e-9, 1 - 1e-7, 1e-300)
_SWITCH_VALUES = (True, False, 0, 1, "yes", "", None)


def _numbers() -> st.SearchStrategy:
    # Finite values stay inside float32's range: beyond it, overflow in the framework's
    # float32 arithmetic is a different question from validation.
    return st.one_of(st.sampled_from(_SPECIAL_NUMBERS), st.floats(-1e3, 1e3, allow_nan=False),
                     st.floats(1e-45, 1e-30))


def _betas() -> st.SearchStrategy:
    # One unusual beta at a time (its class names the value's class; two at once would
    # ask which check a framework runs first).
    usual = st.floats(1e-3, 0.999)
    unusual = st.one_of(st.sampled_from(_SPECIAL_BETAS), st.floats(0.0, 1.0, exclude_max=True),
                        st.floats(1 - 1e-6, 1.0, exclude_max=True))
    return st.one_of(st.tuples(unusual, usual), st.tuples(usual, unusual), st.just((0.9,)), st.just("0.9, 0.999"))


@st.composite
def hyperparameter_probes(draw) -> tuple[str, Any]:
    """(canonical key, value): legal and illegal values of every row's hyperparameter."""
    key = draw(st.sampled_from(KEYS))
    if key == "betas":
        return key, draw(_betas())
    if key in SWITCHES:
        return key, draw(st.sampled_from(_SWITCH_VALUES))
    if key == "loss_scale":
        # A loss scale near float32's smallest normal number pushes the scaled gradients
        # into subnormals (lost bits): an input-precision matter, not validation; one
        # such value is a rule of its own (1e-40).
        return key, draw(st.one_of(st.sampled_from(_SPECIAL_NUMBERS), st.floats(-1e3, 0.0),
                                   st.floats(1e-3, 1e3)))
    return key, draw(_numbers())


def torch_implementation_cases() -> st.SearchStrategy[Case]:
    """Cases for every torch implementation (cases/test_torch_implementations.py): all of
    torch's options at once, the four dtypes, up to two parameters, parameter groups,
    1-50 steps."""
    return cases(row="torch_options", dtypes=st.sampled_from(TORCH_DTYPES), max_params=2, groups=True,
                 options=torch_hyperparameters())


# Options a row-sparse case may combine with its layout (sparse_cases' `options`).
SPARSE_OPTIONS: dict[str, st.SearchStrategy] = {
    "amsgrad": st.just(True), "use_nesterov": st.just(True), "loss_scale": loss_scales(), "maximize": st.just(True),
    "use_locking": st.just(True), "use_offload": st.just(True), "decoupled_weight_decay": st.just(True),
}


@st.composite
def sparse_cases(draw, steps: st.SearchStrategy[int] = st.integers(1, 8),
                 dtypes: st.SearchStrategy[str] = st.sampled_from(["float32", "float32", "float64"]),
                 lazy: st.SearchStrategy[bool] = st.just(True), options: tuple[str, ...] = (),
                 groups: bool = False, names: tuple[str, ...] = PLAIN_NAMES + NETWORK_NAMES) -> Case:
    """Cases with row-sparse gradients (`sparse_rows`): per step each parameter lists some
    of its rows, with repeated indices when `repeats` is drawn; rows not listed get no
    gradient that step, and one row may never get one. `lazy` draws use_lazy (the
    default, True: lazy Adam; False: the non-lazy Adam a sparse gather's gradient meets
    by default); lr, weight decay, eps and betas are drawn, and each of `options`
    (SPARSE_OPTIONS keys) is set or left at its default; `groups`: two parameters may
    form two groups, the first with its own lr and weight decay; `names`: the parameter
    names drawn."""
    dtype = draw(dtypes)
    np_dtype = np.dtype(dtype).type
    num_steps = draw(steps)
    param_names = draw(st.lists(st.sampled_from(names), min_size=1, max_size=2, unique=True))
    param_shapes = [(draw(st.integers(2, 6)),) + draw(shapes(max_dims=2, max_elements=8)) for _ in param_names]
    recipes = [draw(stream_recipes()) for _ in param_names]
    init_exponents = [draw(exponent_ranges()) for _ in param_names]
    repeats = draw(st.booleans())
    hyper = draw(hyperparameters("use_lazy"))  # use_lazy=True, and lr, weight decay, eps drawn
    if not draw(lazy):
        del hyper["use_lazy"]
    for key in options:
        if draw(st.booleans()):
            hyper[key] = draw(SPARSE_OPTIONS[key])
    # betas varied too. Open: the moment tolerance (harness/tolerance.py) follows the EMA
    # of the gradient stream, which a lazy step does not apply to the rows it leaves
    # alone, so a small beta2 can collapse it below the held value's float32 rounding
    # (tests/data/sparse-lazy-moment-tolerance-untouched-row.json; seen in the dev profile).
    if draw(st.booleans()):
        hyper["betas"] = draw(st.tuples(beta1s(), beta2s()).map(list))
    param_groups: tuple[ParamGroup, ...] = ()
    if groups and len(param_names) == 2 and draw(st.booleans()):
        param_groups = (ParamGroup((param_names[0],), draw(st.one_of(st.none(), lrs())),
                                   draw(st.one_of(st.none(), weight_decays()))), ParamGroup((param_names[1],)))
    seed = draw(st.integers(0, 2**32 - 1))

    rng = np.random.default_rng(seed)
    params, streams, rows = [], [], []
    for name, shape, recipe, exponents in zip(param_names, param_shapes, recipes, init_exponents):
        params.append(ParamSpec(name, shape, initial_values(rng, shape, exponents).astype(np_dtype)))
        dense = gradient_stream(rng, recipe, num_steps, shape).reshape(num_steps, shape[0], -1)
        listed = []
        for t in range(num_steps):
            count = int(rng.integers(1, 2 * shape[0] if repeats else shape[0] + 1))
            chosen = rng.integers(0, shape[0], count) if repeats else rng.choice(shape[0], count, replace=False)
            chosen = [int(r) for r in chosen if not recipe["zero_rows"] or r != 0]  # zero_rows: row 0 never
            chosen = chosen or [shape[0] - 1]
            dense[t][np.setdiff1d(np.arange(shape[0]), chosen)] = 0.0
            listed.append(tuple(chosen))
        streams.append(dense.reshape(num_steps, -1).astype(np_dtype))
        rows.append(listed)
    grads = tuple(tuple(stream[t] for stream in streams) for t in range(num_steps))
    sparse_rows = tuple(tuple(rows[j][t] for j in range(len(params))) for t in range(num_steps))
    return Case(dtype, hyper, tuple(params), grads, param_groups,
                comment=f"generated: sparse seed={seed} repeats={repeats}", sparse_rows=sparse_rows)


# --------------------------------------------------------------------------- missing gradients

@st.composite
def missing_gradient_cases(draw) -> Case:
    """Two or three parameters, some of which have no gradient at some steps (a layer
    unused by that step's loss: torch's .grad is None), at least one such (step,
    parameter); lr, weight decay and amsgrad drawn."""
    options = st.fixed_dictionaries({}, optional={"lr": lrs(), "weight_decay": weight_decays(), "amsgrad": st.booleans()})
    base = draw(cases(row="params", steps=st.integers(2, 12), max_params=3, max_elements=8, options=options,
                      names=st.sampled_from(PLAIN_NAMES)))
    if len(base.params) < 2:
        extra = draw(cases(row="params", dtypes=st.just(base.dtype), steps=st.just(base.num_steps), max_elements=8,
                           options=st.just({}), names=st.sampled_from(PLAIN_NAMES)))
        second = extra.params[0]
        if second.name == base.params[0].name:
            second = ParamSpec(second.name + "_2", second.shape, second.value)
        base = Case(base.dtype, base.hyperparameters, base.params + (second,),
                    tuple(step + extra_step for step, extra_step in zip(base.grads, extra.grads)))
    pairs = draw(st.lists(st.tuples(st.integers(0, base.num_steps - 1), st.integers(0, len(base.params) - 1)),
                          min_size=1, max_size=base.num_steps, unique=True))
    missing = [set() for _ in range(base.num_steps)]
    for step, param in pairs:
        missing[step].add(param)
    grads = tuple(tuple(np.zeros_like(g) if j in missing[t] else g for j, g in enumerate(step))
                  for t, step in enumerate(base.grads))
    return Case(base.dtype, base.hyperparameters, base.params, grads, comment="missing gradients",
                missing=tuple(frozenset(m) for m in missing))


# --------------------------------------------------------------------------- lr schedules

def lr_schedule_cases() -> st.SearchStrategy[Case]:
    """A per-step lr (1-25 values) over 1-20 steps, so the schedule is sometimes shorter
    than the run; weight decay and amsgrad drawn. For the ways a schedule reaches each
    framework (cases/test_lr_schedules.py)."""
    options = st.fixed_dictionaries({"lr": lr_schedules(max_len=25)},
                                    optional={"weight_decay": weight_decays(), "amsgrad": st.booleans()})
    return cases(row="lr", steps=st.integers(1, 20), max_params=2, options=options)


# --------------------------------------------------------------------------- pairwise covering cases

def _log10_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(f"{10.0 ** rng.uniform(lo, hi):.6g}")


# Settings of each factor's value classes (harness/catalogue.py FACTORS) as case values.
_LOSS_SCALES = (2.0, 128.0, 1024.0, 3.0)


def _hyperparameters_of(assignment: dict[str, Any], rng: np.random.Generator, steps: int) -> dict[str, Any]:
    hyper: dict[str, Any] = {}
    if assignment["lr"] == "zero":
        hyper["lr"] = 0.0
    elif assignment["lr"] == "list":  # as long as the run, starting above 0 (the finer exclusions)
        hyper["lr"] = [_log10_uniform(rng, -4, -1) for _ in range(steps)]
    elif rng.random() < 0.5:
        hyper["lr"] = _log10_uniform(rng, -4, -1)
    if assignment["betas"] == "other":
        hyper["betas"] = [float(f"{rng.uniform(0.5, 0.99):.6g}"), float(f"{rng.uniform(0.9, 0.9999):.6g}")]
    elif assignment["betas"] == "extreme":  # beta1 < 0.5 or beta2 > 0.9999, inside (0, 1)
        hyper["betas"] = ([_log10_uniform(rng, -4, np.log10(0.45)), 0.999] if rng.random() < 0.5
                          else [0.9, float(f"{1 - 10.0 ** rng.uniform(-6, -4.05):.8g}")])
    if assignment["eps"] == "other":
        hyper["eps"] = _log10_uniform(rng, -16, 0)
    if assignment["weight_decay"] == "nonzero":
        hyper["weight_decay"] = _log10_uniform(rng, -4, -1)
    if assignment["loss_scale"] == "other":
        hyper["loss_scale"] = float(rng.choice(_LOSS_SCALES))
    if assignment.get("eps_root") == "nonzero":  # drawn only then: other cases keep their numbers
        hyper["eps_root"] = _log10_uniform(rng, -16, -4)
    for key in ("decoupled_weight_decay", "amsgrad", "maximize", "use_locking", "use_nesterov", "use_lazy",
                "use_offload"):
        if assignment[key]:
            hyper[key] = True
    return hyper


def case_of(assignment: dict[str, Any], seed: int, *, group_lr: bool = True) -> Case:
    """A case whose features (harness/catalogue.py) are `assignment`, its numbers drawn
    from `seed`: 2-8 steps, one to three parameters of at least one dimension (0-d
    parameters are a finer condition some implementations exclude), gradients and values
    spanning 1e-3..10, row-sparse rows with repeats half the time. group_lr: the first
    group takes its own lr (when the case's lr is a single number)."""
    rng = np.random.default_rng(seed)
    dtype = assignment["dtype"]
    steps = int(rng.integers(2, 9))
    grouped = assignment["groups"] == "groups"
    count = int(rng.integers(2, 4)) if grouped else int(rng.integers(1, 3))
    names = list(rng.choice(PLAIN_NAMES, size=count, replace=False))
    layout = assignment["layout"]
    params, streams = [], []
    for name in names:
        if layout == "row_sparse":
            shape = (int(rng.integers(2, 6)),) + tuple(int(d) for d in rng.integers(1, 4, size=rng.integers(0, 2)))
        else:
            shape = tuple(int(d) for d in rng.integers(1, 5, size=rng.integers(1, 4)))
        recipe = {"kind": str(rng.choice(STREAM_KINDS)), "exponents": (-3, 1), "zero_fraction": 0.0,
                  "zero_rows": False, "rate": float(rng.choice([0.5, 0.9]))}
        params.append(ParamSpec(str(name), shape, cast(initial_values(rng, shape, (-2, 1)), dtype)))
        streams.append(gradient_stream(rng, recipe, steps, shape))
    hyper = _hyperparameters_of(assignment, rng, steps)

    sparse_rows: tuple = ()
    if layout == "row_sparse":
        repeats = bool(rng.random() < 0.5)
        listed = []
        for j, spec in enumerate(params):
            rows_of = spec.shape[0]
            dense = streams[j].reshape(steps, rows_of, -1)
            per_step = []
            for t in range(steps):
                chosen = (rng.integers(0, rows_of, int(rng.integers(1, 2 * rows_of))) if repeats
                          else rng.choice(rows_of, int(rng.integers(1, rows_of + 1)), replace=False))
                chosen = [int(r) for r in chosen]
                dense[t][np.setdiff1d(np.arange(rows_of), chosen)] = 0.0
                per_step.append(tuple(chosen))
            streams[j] = dense.reshape(steps, -1)
            listed.append(per_step)
        sparse_rows = tuple(tuple(listed[j][t] for j in range(len(params))) for t in range(steps))
    missing: tuple = ()
    if layout == "missing":
        absent = [set() for _ in range(steps)]
        for _ in range(int(rng.integers(1, steps + 1))):
            absent[int(rng.integers(steps))].add(int(rng.integers(len(params))))
        missing = tuple(frozenset(m) for m in absent)
        streams = [np.where(np.array([[j in absent[t]] for t in range(steps)]), 0.0, stream)
                   for j, stream in enumerate(streams)]
    grads = tuple(tuple(cast(stream[t], dtype) for stream in streams) for t in range(steps))

    groups: tuple[ParamGroup, ...] = ()
    if grouped:
        split = int(rng.integers(1, len(params)))
        first_lr = (_log10_uniform(rng, -4, -1) if group_lr and assignment["lr"] == "number" and rng.random() < 0.7
                    else None)
        first_wd = _log10_uniform(rng, -4, -1) if assignment["weight_decay"] == "nonzero" else None
        groups = (ParamGroup(tuple(names[:split]), first_lr, first_wd), ParamGroup(tuple(names[split:])))
    # eps_root at its default class is left out of the label: the factor came after the
    # committed baseline, whose covering cases keep their text and so their ids.
    label = ", ".join(f"{k}={v}" for k, v in assignment.items() if (k, v) != ("eps_root", "zero"))
    return Case(dtype, hyper, tuple(params), grads, groups, comment=f"pairwise: {label}; seed={seed}",
                sparse_rows=sparse_rows, missing=missing if any(missing) else ())


def covering_case(implementation: str, index: int, seed: int = 0) -> Case:
    """Case `index` of the implementation's pairwise covering set (harness/coverage.py),
    inside its space; `seed` draws the numbers (a profile with more examples draws more)."""
    assignment = covering_rows(implementation)[index]
    case_seed = int.from_bytes(hashlib.sha256(f"{implementation}/{index}/{seed}".encode()).digest()[:4], "little")
    case = case_of(assignment, case_seed)
    if outside(implementation, case) is not None:  # a finer exclusion (a group's own lr): without it
        case = case_of(assignment, case_seed, group_lr=False)
    # Another finer exclusion (a step without any gradient, which Keras refuses): the next
    # seeds, deterministically (a case already inside keeps its numbers).
    for retry in range(1, 200):
        if outside(implementation, case) is None:
            break
        case = case_of(assignment, case_seed + retry, group_lr=False)
    return case


def outside_settings(implementation: str) -> list[tuple[str, Any]]:
    """The (factor, value class) settings no case inside the implementation's space has:
    each gets one probe (`probe_case`), so a row whose option the implementation cannot
    express reads "no counterpart" with the framework's own error, not "not exercised"."""
    return [(factor, value) for factor, values in FACTORS.items() for value in values
            if not completable(implementation, {factor: value})]


def probe_case(factor: str, value: Any, seed: int = 0) -> Case:
    """A case with `factor` = `value` and every other factor at its default class."""
    assignment = {f: values[0] for f, values in FACTORS.items()}
    assignment[factor] = value
    return case_of(assignment, seed, group_lr=False)
