"""reference/dtypes.py: bfloat16 in numpy (ml_dtypes' round-to-nearest-even; float64 rounded
once) and the unit roundoff / spacing every dtype gets in the tolerance rule. Equality with
the hand-rolled rounding it replaced: tests/test_dtypes_ml_dtypes.py."""

import numpy as np
import pytest

from reference.dtypes import cast, largest, round_to, round_to_bfloat16, spacing, unit_roundoff

ONE_PLUS_ULP = 1.0 + 2.0**-7  # the bfloat16 value after 1.0


@pytest.mark.parametrize("value, expected", [
    (1.0, 1.0), (-2.5, -2.5), (0.0, 0.0), (3.0e38, 226 * 2.0**120),
    (1.0 / 3.0, 0.333984375),          # 0x3EAB: 0.3333 rounds up to 171/512
    (0.1, 0.10009765625),              # 0x3DCD
    (65504.0, 65536.0),                # float16's largest is not a bfloat16 value
    (2.0**-133, 2.0**-133),            # smallest bfloat16 subnormal
    (1.5 * 2.0**-134, 2.0**-133),      # above half of it: rounds up to it
])
def test_known_values_round_exactly(value, expected):
    assert round_to_bfloat16(np.array([value]))[0] == np.float32(expected)


def test_halfway_cases_round_to_even():
    halfway_down = 1.0 + 2.0**-8              # between 1.0 (even) and 1 + 2^-7 (odd)
    halfway_up = 1.0 + 3 * 2.0**-8            # between 1 + 2^-7 (odd) and 1 + 2^-6 (even)
    got = round_to_bfloat16(np.array([halfway_down, halfway_up, -halfway_down], dtype=np.float32))
    assert got.tolist() == [1.0, 1.0 + 2.0**-6, -1.0]


def test_float64_input_is_rounded_once_not_twice():
    # Just above a bfloat16 midpoint, but float32 rounds it onto the midpoint; float32
    # first and then ties-to-even would give 1.0.
    just_above = 1.0 + 2.0**-8 + 2.0**-40
    just_below = 1.0 + 3 * 2.0**-8 - 2.0**-40
    assert np.float32(just_above) == np.float32(1.0 + 2.0**-8)
    assert round_to_bfloat16(np.array([just_above, just_below])).tolist() == [ONE_PLUS_ULP, ONE_PLUS_ULP]


def test_nan_and_inf_pass_through_and_overflow_goes_to_inf():
    got = round_to_bfloat16(np.array([np.nan, np.inf, -np.inf, 3.4e38, -3.4e38], dtype=np.float32))
    assert np.isnan(got[0]) and got[1:].tolist() == [np.inf, -np.inf, np.inf, -np.inf]


def test_agrees_with_exact_rounding_by_scaling_on_random_values():
    # Independent construction: scale by the bfloat16 spacing (a power of two, exact in
    # float64) and let np.round (half to even) pick the integer.
    rng = np.random.default_rng(0)
    x = rng.standard_normal(50_000) * 10.0 ** rng.uniform(-41, 38, 50_000)
    exponent = np.frexp(np.abs(x))[1] - 1
    step = 2.0 ** (np.maximum(exponent, -126) - 7)
    exact = np.round(x / step) * step
    exact = np.where(np.abs(exact) > largest("bfloat16"), np.copysign(np.inf, x), exact)
    for values in (x, x.astype(np.float32)):
        expected = exact if values.dtype == np.float64 else None
        got = round_to_bfloat16(values).astype(np.float64)
        if expected is None:
            x32 = values.astype(np.float64)
            e32 = np.frexp(np.abs(x32))[1] - 1
            s32 = 2.0 ** (np.maximum(e32, -126) - 7)
            expected = np.round(x32 / s32) * s32
            expected = np.where(np.abs(expected) > largest("bfloat16"), np.copysign(np.inf, x32), expected)
        assert np.array_equal(got, expected)


def test_cast_and_round_to_keep_other_dtypes_as_numpy_does():
    x = np.array([0.1, 1e5, -3.0])
    assert cast(x, "float16").dtype == np.float16 and cast(x, "bfloat16").dtype == np.float32
    assert round_to(x, "float32").tolist() == x.astype(np.float32).astype(np.float64).tolist()
    assert round_to(x, "float64").tolist() == x.tolist()


def test_unit_roundoff_and_spacing_per_dtype():
    assert unit_roundoff("bfloat16") == 2.0**-8 and unit_roundoff(np.float16) == 2.0**-11
    assert unit_roundoff("float32") == 2.0**-24 and unit_roundoff("float64") == 2.0**-53
    assert spacing(np.array([1.0, 3.0, 0.0]), "bfloat16").tolist() == [2.0**-7, 2.0**-6, 2.0**-133]
    # past the range: the spacing at the largest finite value, never inf
    assert spacing(np.array([1e6]), "float16").tolist() == [32.0]
    assert spacing(np.array([1e39]), "bfloat16").tolist() == [2.0**120]
    assert largest("bfloat16") == float(round_to_bfloat16(np.array([3.3895313892515355e38]))[0])
