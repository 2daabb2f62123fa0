"""Meta tests of the shared strategies: the generated cases cover what the issues ask for."""

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.casefile import case_from_dict, case_to_dict
from harness.strategies import NETWORK_NAMES, gradient_stream, row_cases, shapes
from harness.sweep import SWEEP_ROWS, draw_cases


@settings(max_examples=200, deadline=None)
@given(shapes())
def test_shapes_are_0d_to_4d_and_small(shape):
    assert 0 <= len(shape) <= 4 and all(d >= 1 for d in shape) and math.prod(shape) <= 48


def test_shapes_include_scalars_size_one_dims_and_4d():
    drawn = draw_cases(shapes(), 300, seed=1)
    assert () in drawn
    assert any(len(s) == 4 for s in drawn)
    assert any(1 in s and len(s) >= 2 for s in drawn)


def test_gradient_magnitudes_span_1e_minus_12_to_1e4():
    rng = np.random.default_rng(0)
    recipe = {"kind": "log_uniform", "exponents": (-12, 4), "zero_fraction": 0.0, "zero_rows": False, "rate": 0.9}
    grads = np.abs(gradient_stream(rng, recipe, 2000, (8,)))
    assert grads.min() < 1e-11 and grads.max() > 1e3
    assert grads.min() >= 1e-12 and grads.max() <= 1e4


def test_stream_kinds_have_their_shape():
    rng = np.random.default_rng(0)
    base = {"exponents": (-2, -1), "zero_fraction": 0.0, "zero_rows": False, "rate": 0.5}
    constant = gradient_stream(rng, dict(base, kind="constant"), 5, (3,))
    assert np.all(constant == constant[0])
    flipping = gradient_stream(rng, dict(base, kind="sign_flipping"), 4, (3,))
    assert np.all(flipping[1] == -flipping[0])
    decaying = np.abs(gradient_stream(rng, dict(base, kind="decaying"), 6, (3,)))
    assert np.all(np.diff(decaying, axis=0) <= 0)
    zero_rows = gradient_stream(rng, dict(base, kind="constant", zero_rows=True), 3, (4, 2))
    assert np.any(np.all(zero_rows.reshape(3, 4, 2) == 0, axis=(0, 2)))


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(SWEEP_ROWS).flatmap(row_cases))
def test_generated_cases_round_trip_through_the_case_format(case):
    again = case_from_dict(case_to_dict(case))
    assert case_to_dict(again) == case_to_dict(case)


def test_row_strategies_vary_their_option():
    lrs = [c.hp("lr") for c in draw_cases(row_cases("lr"), 60, seed=2)]
    assert 0.0 in lrs and any(isinstance(x, list) for x in lrs) and any(isinstance(x, float) and x >= 1 for x in lrs)
    betas = [c.hp("betas") for c in draw_cases(row_cases("betas"), 80, seed=2)]
    assert any(b2 >= 0.99999 for _, b2 in betas) and any(b1 == 0.0 for b1, _ in betas)
    names = {p.name for c in draw_cases(row_cases("params"), 60, seed=2) for p in c.params}
    assert set(NETWORK_NAMES) & names
    groups = [c for c in draw_cases(row_cases("params"), 60, seed=2) if c.param_groups]
    assert groups
    long_steps = [c.num_steps for c in draw_cases(row_cases("betas", long_runs=True), 10, seed=2)]
    assert max(long_steps) == 10_000


def test_sweep_is_deterministic():
    first = [case_to_dict(c) for c in draw_cases(row_cases("eps"), 5, seed=3)]
    second = [case_to_dict(c) for c in draw_cases(row_cases("eps"), 5, seed=3)]
    assert first == second
