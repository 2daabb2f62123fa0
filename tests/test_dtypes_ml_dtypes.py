"""bfloat16 rounding by ml_dtypes is bit for bit the rounding reference/dtypes.py did by hand.

The hand-rolled implementation it replaced is kept below, in this file only, as the
oracle: `_handrolled_round_to_bfloat16` is reference/dtypes.py's round_to_bfloat16 as
it was (round-to-nearest-even on float32 bit patterns, with a one-unit nudge that keeps
float64 input from being rounded twice), so these tests prove that the switch changed
no value the harness holds: case files, reference runs and tolerances stay the same.

What is compared, and how:
  * results as float32 bit patterns, except NaN: any NaN must give a NaN of the same
    sign (the old code passed float32 NaN payloads through, bits bfloat16 cannot hold;
    ml_dtypes gives the quiet NaN 0x7FC0 / 0xFFC0, so the payload may differ);
  * float32 input, ml_dtypes' own cast: every bfloat16 upper half (all 2^16) with every
    kind of dropped lower half (0, 1, just under / on / just over the midpoint 0x8000,
    0xFFFF, and random ones), plus 2^22 random bit patterns. All 2^32 bit patterns
    take about two minutes (126 s on 2 cores): OPTIM_PARITY_EXHAUSTIVE=1 runs them;
  * float64 input: ml_dtypes casts float64 through float32 (double rounding), so
    reference/dtypes.py rounds float64 to float32 with round-to-odd first. Checked on
    every bfloat16 midpoint and value with float64 and float32 offsets around it, the
    range and subnormal edges, and Hypothesis' floats (subnormals, huge, NaN, +-inf, +-0);
  * other input types (ints, float16) go through float32 as before.
"""

from __future__ import annotations

import os
import time

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from reference import dtypes
from reference.dtypes import cast, largest, round_to, round_to_bfloat16, spacing, unit_roundoff

HYPOTHESIS = settings(max_examples=300, deadline=None)
BFLOAT16_LARGEST = (2.0 - 2.0**-7) * 2.0**127


# --- the oracle: reference/dtypes.py's hand-rolled rounding before ml_dtypes ---------------
# Kept only here, verbatim, to prove the ml_dtypes version equal to it.
def _handrolled_round_to_bfloat16(values):
    wide = np.asarray(values)
    with np.errstate(over="ignore", invalid="ignore"):
        narrow = wide.astype(np.float32)
    bits = narrow.view(np.uint32).copy()
    if wide.dtype == np.float64:
        on_midpoint = (bits & 0xFFFF) == 0x8000
        with np.errstate(invalid="ignore"):
            beyond = np.abs(wide) > np.abs(narrow.astype(np.float64))
            short = np.abs(wide) < np.abs(narrow.astype(np.float64))
        bits = np.where(on_midpoint & beyond, bits + 1, np.where(on_midpoint & short, bits - 1, bits)).astype(np.uint32)
    lowest_kept = (bits >> 16) & 1
    rounded = ((bits + np.uint32(0x7FFF) + lowest_kept) & np.uint32(0xFFFF0000)).astype(np.uint32)
    out = rounded.view(np.float32)
    return np.where(np.isnan(narrow), narrow, out).astype(np.float32)


def _assert_same(got, expected, inputs):
    """Same float32 bits; a NaN only has to be a NaN of the same sign."""
    assert got.dtype == expected.dtype == np.float32 and got.shape == expected.shape
    got_bits, expected_bits = got.view(np.uint32), expected.view(np.uint32)
    nan = np.isnan(expected)
    same = np.where(nan, np.isnan(got) & ((got_bits >> 31) == (expected_bits >> 31)), got_bits == expected_bits)
    if not same.all():
        where = np.flatnonzero(~same.ravel())[:5]
        flat_inputs = np.asarray(inputs).ravel()
        detail = [(repr(flat_inputs[i]), hex(int(got_bits.ravel()[i])), hex(int(expected_bits.ravel()[i]))) for i in where]
        raise AssertionError(f"{(~same).sum()} of {same.size} differ (input, ml_dtypes, hand-rolled): {detail}")
    # every result is a bfloat16 value: its low 16 bits are zero (NaN included)
    assert not (got_bits & 0xFFFF).any()


def _ml_dtypes_from_float32(x32):
    return x32.astype(ml_dtypes.bfloat16).astype(np.float32)


# --- float32 input -----------------------------------------------------------------------
_LOWER_HALVES = [0x0000, 0x0001, 0x0002, 0x3FFF, 0x7FFE, 0x7FFF, 0x8000, 0x8001, 0x8002, 0xC000, 0xFFFE, 0xFFFF]


def _every_upper_half_with_each_kind_of_lower_half(extra_random: int = 8) -> np.ndarray:
    """All 2^16 bfloat16 bit patterns (the float32 upper half; +-0, subnormals, +-inf,
    NaNs included) times lower halves on, around and between the rounding boundaries."""
    rng = np.random.default_rng(19)
    lowers = np.concatenate([_LOWER_HALVES, rng.integers(0, 1 << 16, extra_random)]).astype(np.uint32)
    uppers = np.arange(1 << 16, dtype=np.uint32) << 16
    return (uppers[:, None] | lowers[None, :]).ravel().view(np.float32)


def test_ml_dtypes_rounds_float32_like_the_hand_rolled_code_on_every_upper_half():
    x32 = _every_upper_half_with_each_kind_of_lower_half()
    with np.errstate(invalid="ignore"):  # signalling NaNs among the patterns
        _assert_same(_ml_dtypes_from_float32(x32), _handrolled_round_to_bfloat16(x32), x32)
        _assert_same(round_to_bfloat16(x32), _handrolled_round_to_bfloat16(x32), x32)


def test_ml_dtypes_rounds_float32_like_the_hand_rolled_code_on_random_bit_patterns():
    x32 = np.random.default_rng(6).integers(0, 1 << 32, 1 << 22, dtype=np.uint32).view(np.float32)
    with np.errstate(invalid="ignore"):
        _assert_same(round_to_bfloat16(x32), _handrolled_round_to_bfloat16(x32), x32)


@pytest.mark.skipif(os.environ.get("OPTIM_PARITY_EXHAUSTIVE") != "1",
                    reason="all 2^32 float32 bit patterns take minutes; OPTIM_PARITY_EXHAUSTIVE=1 runs them")
def test_ml_dtypes_rounds_every_float32_bit_pattern_like_the_hand_rolled_code():
    chunk = 1 << 24
    start = time.perf_counter()
    for first in range(0, 1 << 32, chunk):
        x32 = np.arange(first, first + chunk, dtype=np.uint64).astype(np.uint32).view(np.float32)
        with np.errstate(invalid="ignore"):
            _assert_same(round_to_bfloat16(x32), _handrolled_round_to_bfloat16(x32), x32)
    print(f"2^32 float32 bit patterns in {time.perf_counter() - start:.0f} s")


@given(hnp.arrays(np.float32, st.integers(1, 64), elements=st.floats(width=32)))
@HYPOTHESIS
def test_float32_from_hypothesis(x32):
    _assert_same(round_to_bfloat16(x32), _handrolled_round_to_bfloat16(x32), x32)


# --- float64 input: the double-rounding subtlety -------------------------------------------
def test_ml_dtypes_alone_rounds_float64_twice_which_is_why_dtypes_rounds_to_odd_first():
    # 1 + 2^-8 + 2^-40 is just above the midpoint between bfloat16 1.0 and 1 + 2^-7, but
    # float32 rounds it onto the midpoint; ties-to-even from there gives 1.0. ml_dtypes'
    # float64 cast goes through float32 (jax-ml/ml_dtypes PR #401). If this starts failing,
    # ml_dtypes rounds float64 once and reference/dtypes.py's round-to-odd step can go.
    just_above = np.array([1.0 + 2.0**-8 + 2.0**-40, -(1.0 + 2.0**-8 + 2.0**-40), 1.0 + 3 * 2.0**-8 - 2.0**-40])
    correctly_rounded = [1.0 + 2.0**-7, -(1.0 + 2.0**-7), 1.0 + 2.0**-7]
    assert just_above.astype(ml_dtypes.bfloat16).astype(np.float64).tolist() != correctly_rounded
    assert _handrolled_round_to_bfloat16(just_above).tolist() == correctly_rounded
    assert round_to_bfloat16(just_above).tolist() == correctly_rounded


def _bfloat16_points() -> np.ndarray:
    """Every finite bfloat16 value and every midpoint between neighbours, both signs, as float64."""
    uppers = np.arange(1 << 16, dtype=np.uint32) << 16
    points = np.concatenate([uppers, uppers | 0x8000]).view(np.float32)
    return points[np.isfinite(points)].astype(np.float64)


def _around(points: np.ndarray) -> np.ndarray:
    """points and values near them: +-1, 2, 3 float64 ulps; +-1/2 float32 ulp (a float32
    tie) and that +-1 float64 ulp; +-1 float32 ulp; +-2^-30 relative."""
    half32 = np.spacing(np.abs(points).astype(np.float32)).astype(np.float64) / 2.0
    out = [points, points + half32, points - half32, points + 2 * half32, points - 2 * half32,
           points * (1 + 2.0**-30), points * (1 - 2.0**-30)]
    for base in (points, points + half32, points - half32):
        up, down = base, base
        for _ in range(3):
            up, down = np.nextafter(up, np.inf), np.nextafter(down, -np.inf)
            out += [up, down]
    return np.concatenate(out)


def test_float64_around_every_bfloat16_value_and_midpoint_rounds_like_the_hand_rolled_code():
    x = _around(_bfloat16_points())
    assert x.size > 2_000_000
    _assert_same(round_to_bfloat16(x), _handrolled_round_to_bfloat16(x), x)


F32_MAX = float(np.finfo(np.float32).max)
EDGES = np.array([
    0.0, BFLOAT16_LARGEST, (2.0 - 2.0**-8) * 2.0**127,   # largest; the overflow midpoint (ties to even: inf)
    F32_MAX, (2.0 - 2.0**-24) * 2.0**127, 2.0**128,      # float32's largest and its overflow midpoint
    np.finfo(np.float64).max, np.inf,
    2.0**-126, 2.0**-127, 2.0**-133, 1.5 * 2.0**-134, 2.0**-134, 2.0**-135,   # normal / subnormal edges
    2.0**-149, 2.0**-150, 1.5 * 2.0**-150, 2.0**-151,    # float32's smallest subnormal and half of it
    np.finfo(np.float64).tiny, 5e-324, 1e-300,           # float64 subnormals: far below bfloat16's
])


def test_float64_range_and_subnormal_edges_round_like_the_hand_rolled_code():
    edges = np.concatenate([EDGES, -EDGES])
    with np.errstate(over="ignore", invalid="ignore"):
        x = np.concatenate([_around(edges[np.isfinite(edges)]), edges])
        _assert_same(round_to_bfloat16(x), _handrolled_round_to_bfloat16(x), x)
    assert round_to_bfloat16(np.array([-0.0, -1e-300])).view(np.uint32).tolist() == [0x80000000] * 2


def test_nan_payloads_and_signs_stay_nan_with_their_sign():
    float64_nans = np.array([0x7FF8000000000000, 0xFFF8000000000000, 0x7FF0000000000001, 0xFFF0000000000001,
                             0x7FF8000000000123, 0xFFFFFFFFFFFFFFFF], dtype=np.uint64).view(np.float64)
    float32_nans = np.array([0x7FC00000, 0xFFC00000, 0x7F800001, 0xFF800001, 0x7FC00001, 0x7FFFFFFF],
                            dtype=np.uint32).view(np.float32)
    with np.errstate(invalid="ignore"):
        for nans in (float64_nans, float32_nans):
            _assert_same(round_to_bfloat16(nans), _handrolled_round_to_bfloat16(nans), nans)
    # the usual NaN (np.nan, -np.nan) keeps its very bits
    assert round_to_bfloat16(np.array([np.nan, -np.nan])).view(np.uint32).tolist() == [0x7FC00000, 0xFFC00000]


@st.composite
def _near_a_midpoint(draw):
    """A float64 within a few ulps (float64 or float32) of a bfloat16 midpoint or value."""
    upper = draw(st.integers(0, 0xFFFF))
    point = np.array([(upper << 16) | draw(st.sampled_from([0x8000, 0x0000]))], np.uint32).view(np.float32)
    with np.errstate(invalid="ignore"):  # the upper halves of inf and NaN: a NaN
        half32 = float(np.spacing(np.abs(point))[0]) / 2.0
    value = float(point[0]) + draw(st.integers(-2, 2)) * half32
    for _ in range(draw(st.integers(0, 3))):
        value = float(np.nextafter(value, draw(st.sampled_from([np.inf, -np.inf]))))
    return value


@given(hnp.arrays(np.float64, st.integers(1, 64), elements=st.floats() | _near_a_midpoint()))
@HYPOTHESIS
def test_float64_from_hypothesis(x):
    # st.floats(): every float64 (subnormals, huge, NaN, +-inf, +-0)
    with np.errstate(over="ignore", invalid="ignore"):
        _assert_same(round_to_bfloat16(x), _handrolled_round_to_bfloat16(x), x)


@given(st.floats())
@HYPOTHESIS
def test_python_float_scalars_from_hypothesis(value):
    with np.errstate(over="ignore", invalid="ignore"):
        got, expected = round_to_bfloat16(value), _handrolled_round_to_bfloat16(value)
    assert isinstance(got, np.ndarray) and got.shape == ()
    _assert_same(got, expected, value)


def test_other_input_types_round_through_float32_as_before():
    every_float16 = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
    ints = np.array([0, 1, -7, 257, 16973823, 2**31 - 1, -(2**40) - 1, 2**62 + 2**39 + 1], dtype=np.int64)
    for x in (every_float16, ints, ints.astype(np.int32), [1, 2, 3], [0.1, 0.2], 1.5, np.float32(0.1)):
        _assert_same(round_to_bfloat16(x), _handrolled_round_to_bfloat16(x), x)


def test_cast_and_round_to_hold_bfloat16_values_as_float32_and_float64():
    x = np.random.default_rng(1).standard_normal(1000) * 10.0 ** np.random.default_rng(2).uniform(-40, 38, 1000)
    held = cast(x, "bfloat16")
    assert held.dtype == np.float32
    _assert_same(held, _handrolled_round_to_bfloat16(x), x)
    assert round_to(x, "bfloat16").tolist() == _handrolled_round_to_bfloat16(x).astype(np.float64).tolist()
    # a bfloat16 type names the same format as the string
    assert cast(x, ml_dtypes.bfloat16).tolist() == held.tolist()


def test_spacing_of_every_bfloat16_value_is_what_the_float32_construction_gave():
    # Before ml_dtypes: 2^16 times float32's spacing at the bfloat16-rounded value.
    uppers = (np.arange(1 << 16, dtype=np.uint32) << 16).view(np.float32)
    x = np.concatenate([uppers[np.isfinite(uppers)].astype(np.float64), [1e39, -1e39, np.inf, -np.inf]])
    magnitude = np.minimum(np.abs(x), BFLOAT16_LARGEST)
    with np.errstate(over="ignore"):
        expected = np.spacing(_handrolled_round_to_bfloat16(magnitude)).astype(np.float64) * 2.0**16
    assert spacing(x, "bfloat16").tolist() == expected.tolist()


# --- float8, for later: correctly rounded from float64 and float32 ----------------------------
def _exactly_rounded(x: np.ndarray, fmt) -> np.ndarray:
    """Independent oracle: scale by the format's spacing (a power of two) and let np.round,
    half to even, pick the integer; past the largest value inf (NaN for formats without inf)."""
    info = ml_dtypes.finfo(fmt)
    exponent = np.frexp(np.abs(x))[1] - 1
    step = 2.0 ** (np.maximum(exponent, int(info.minexp)) - int(info.nmant))
    exact = np.round(x / step) * step
    has_inf = np.isinf(np.array([np.inf], np.float32).astype(fmt).astype(np.float32)[0])
    overflow = np.copysign(np.inf, x) if has_inf else np.nan
    return np.where(np.abs(exact) > float(info.max), overflow, exact)


@pytest.mark.parametrize("name", ["float8_e4m3fn", "float8_e5m2", "bfloat16"])
def test_narrow_formats_round_float64_and_float32_once(name):
    fmt = dtypes.NARROW_FORMATS[name]
    info = ml_dtypes.finfo(fmt)
    # every value of the format (all its bit patterns) and every midpoint, with offsets
    with np.errstate(invalid="ignore"):  # signalling NaN patterns
        every = np.arange(1 << info.bits, dtype=np.uint8 if info.bits == 8 else np.uint16).view(fmt).astype(np.float64)
    grid = np.unique(np.abs(every[np.isfinite(every)]))
    midpoints = (grid[1:] + grid[:-1]) / 2
    top = float(info.max) + (grid[-1] - grid[-2]) / 2    # the overflow midpoint
    base = np.concatenate([grid, midpoints, [top, 2 * top]])
    base = np.concatenate([base, -base])
    rng = np.random.default_rng(8)
    with np.errstate(over="ignore", invalid="ignore"):
        x = np.concatenate([_around(base), rng.standard_normal(10_000) * float(info.max) / 4])
        assert np.array_equal(round_to(x, name), _exactly_rounded(x, fmt), equal_nan=True)
        x32 = x.astype(np.float32)
        assert np.array_equal(round_to(x32, name), _exactly_rounded(x32.astype(np.float64), fmt), equal_nan=True)


def test_float8_direct_ml_dtypes_cast_would_round_twice():
    # -431.99999999999994: float32 rounds it to -432, the midpoint of -416 and -448.
    x = np.array([-431.99999999999994])
    assert x.astype(ml_dtypes.float8_e4m3fn).astype(np.float64).tolist() == [-448.0]
    assert round_to(x, "float8_e4m3fn").tolist() == [-416.0]


def test_float8_unit_roundoff_largest_and_spacing():
    assert unit_roundoff("float8_e4m3fn") == 2.0**-4 and unit_roundoff("float8_e5m2") == 2.0**-3
    assert largest("float8_e4m3fn") == 448.0 and largest(ml_dtypes.float8_e5m2) == 57344.0
    assert spacing(np.array([1.0, 0.0, 448.0, 1e6]), "float8_e4m3fn").tolist() == [0.125, 2.0**-9, 32.0, 32.0]
    assert spacing(np.array([1.0, 0.0, 57344.0, 1e6]), "float8_e5m2").tolist() == [0.25, 2.0**-16, 8192.0, 8192.0]
    with np.errstate(over="ignore"):
        held = cast(np.array([1e6, -1e6, 0.3]), "float8_e4m3fn")
    assert held.dtype == np.float32 and np.isnan(held[:2]).all() and held[2] == 0.3125   # e4m3fn has no inf
    assert cast(np.array([1e6]), "float8_e5m2").tolist() == [np.inf]
    # not case dtypes (yet): the case format and registry enumerate STORAGE
    assert "float8_e4m3fn" not in dtypes.STORAGE and "float8_e4m3fn" not in dtypes.DTYPE_NAMES


def test_unit_roundoff_and_largest_are_the_values_they_were():
    assert [unit_roundoff(name) for name in ("bfloat16", "float16", "float32", "float64")] == \
        [2.0**-8, 2.0**-11, 2.0**-24, 2.0**-53]
    assert [largest(name) for name in ("bfloat16", "float16", "float32", "float64")] == \
        [BFLOAT16_LARGEST, 65504.0, F32_MAX, float(np.finfo(np.float64).max)]
