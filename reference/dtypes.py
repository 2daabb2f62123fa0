"""The floating-point dtypes a case can be in, in numpy only (numpy has no bfloat16).

bfloat16 is float32 with the low 16 bits of the significand dropped (8 significand
bits, float32's exponent range). Its values are held in float32 arrays; rounding to it
is round-to-nearest-even on the float32 bit pattern, done here with integer operations
(the same thing torch's c10::BFloat16 round_to_nearest_even does).

One vocabulary for the whole harness: the case format rounds its values with
`cast`, the reference's storage rounding uses `round_to`, the tolerance rule takes
`unit_roundoff` and `spacing` from here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

BFLOAT16 = "bfloat16"
# dtype name -> numpy type that holds its values (bfloat16 values are exact float32s)
STORAGE: dict[str, type] = {"float16": np.float16, BFLOAT16: np.float32, "float32": np.float32,
                            "float64": np.float64}
DTYPE_NAMES = tuple(STORAGE)
_BFLOAT16_DROPPED_BITS = 16  # float32 significand bits bfloat16 does not have


def dtype_name(dtype: Any) -> str:
    """'bfloat16' stays a name; a numpy type (np.float32) becomes its name."""
    return dtype if isinstance(dtype, str) else np.dtype(dtype).name


def round_to_bfloat16(values: Any) -> np.ndarray:
    """Round to the nearest bfloat16 value, ties to even; returns float32 values.

    From float32 bits: add 0x7FFF plus the lowest kept bit, then clear the dropped 16
    bits (a carry into the exponent is the correct round-up, up to inf). float64 input
    is first rounded to float32; when that lands exactly on a bfloat16 midpoint that the
    float64 value was not on, the float32 bits are nudged one unit towards the float64
    value, so the result is the single correctly rounded one (no double rounding).
    NaN stays NaN, +-inf stays +-inf.
    """
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
    lowest_kept = (bits >> _BFLOAT16_DROPPED_BITS) & 1
    rounded = ((bits + np.uint32(0x7FFF) + lowest_kept) & np.uint32(0xFFFF0000)).astype(np.uint32)
    out = rounded.view(np.float32)
    return np.where(np.isnan(narrow), narrow, out).astype(np.float32)


def cast(values: Any, dtype: Any) -> np.ndarray:
    """Values rounded to `dtype`, held in its storage type (float32 for bfloat16)."""
    name = dtype_name(dtype)
    if name == BFLOAT16:
        return round_to_bfloat16(values)
    if name == "float64":
        # Nothing to round or overflow; skipping errstate matters, this runs per
        # parameter per step of every reference run (a third of the spec's time).
        return np.array(values, dtype=np.float64)
    with np.errstate(over="ignore"):
        return np.asarray(values).astype(STORAGE[name])


def round_to(values: Any, dtype: Any) -> np.ndarray:
    """Values rounded to `dtype`, as float64 (what storing them in that dtype keeps)."""
    return cast(values, dtype).astype(np.float64)


def unit_roundoff(dtype: Any) -> float:
    """u = 2^-p for p significand bits: 2^-8 bfloat16, 2^-11 float16, 2^-24 float32, 2^-53 float64."""
    name = dtype_name(dtype)
    if name == BFLOAT16:
        return 2.0**-8
    return float(np.finfo(STORAGE[name]).eps) / 2.0


_LARGEST = {name: (2.0 - 2.0**-7) * 2.0**127 if name == BFLOAT16 else float(np.finfo(STORAGE[name]).max)
            for name in STORAGE}


def largest(dtype: Any) -> float:
    """The largest finite value of `dtype` (bfloat16: (2 - 2^-7) * 2^127)."""
    return _LARGEST[dtype_name(dtype)]


def spacing(values: Any, dtype: Any) -> np.ndarray:
    """Spacing of `dtype` at |values| (as float64).

    Magnitudes beyond the dtype's range take the spacing at its largest finite value: a
    tolerance stays finite where the dtype overflows (float16 holds (1 - beta2) * g^2
    only up to 65504), so an implementation that overflows there is caught, not excused.
    bfloat16: 2^16 times float32's spacing at the bfloat16-rounded value (same exponent
    range, 16 fewer significand bits; subnormals: 2^-133 = 2^16 * 2^-149).
    """
    name = dtype_name(dtype)
    magnitude = np.minimum(np.abs(np.asarray(values, dtype=np.float64)), largest(name))
    with np.errstate(over="ignore"):
        if name == BFLOAT16:
            return np.spacing(round_to_bfloat16(magnitude)).astype(np.float64) * 2.0**_BFLOAT16_DROPPED_BITS
        stored = magnitude.astype(STORAGE[name])
        # np.spacing at the largest value is inf (its next value up); take the one below.
        return np.where(stored == largest(name), stored - np.nextafter(stored, 0), np.spacing(stored)).astype(np.float64)
