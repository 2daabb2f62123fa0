"""The floating-point dtypes a case can be in: numpy's, and bfloat16 from ml_dtypes.

numpy has no bfloat16; ml_dtypes (the numpy dtype extension JAX and TensorFlow use)
does, and it does the rounding: round to nearest, ties to even, overflow to inf, NaN
stays NaN (a quiet NaN of the same sign), subnormals and -0.0 kept. The harness holds
bfloat16 values in float32 arrays (every bfloat16 value is exactly a float32), so a
bfloat16 array never leaves this module.

One vocabulary for the whole harness: the case format rounds its values with
`cast`, the reference's storage rounding uses `round_to`, the tolerance rule takes
`unit_roundoff` and `spacing` from here.

ml_dtypes' float8 formats (float8_e4m3fn, float8_e5m2) are accepted by `cast`,
`round_to`, `unit_roundoff`, `largest` and `spacing`, held as float32 like bfloat16; they
are not case dtypes (not in STORAGE / DTYPE_NAMES) until an implementation under test
has them.
"""

from __future__ import annotations

from typing import Any

import ml_dtypes
import numpy as np

BFLOAT16 = "bfloat16"
# dtype name -> numpy type that holds its values (bfloat16 values are exact float32s)
STORAGE: dict[str, type] = {"float16": np.float16, BFLOAT16: np.float32, "float32": np.float32,
                            "float64": np.float64}
DTYPE_NAMES = tuple(STORAGE)
# Formats numpy lacks, from ml_dtypes; their values are held in float32 (each one is exact there).
NARROW_FORMATS: dict[str, type] = {BFLOAT16: ml_dtypes.bfloat16, "float8_e4m3fn": ml_dtypes.float8_e4m3fn,
                                   "float8_e5m2": ml_dtypes.float8_e5m2}
# dtype name -> the type of the format itself (what ml_dtypes.finfo describes)
_FORMAT: dict[str, type] = {**STORAGE, **NARROW_FORMATS}


def dtype_name(dtype: Any) -> str:
    """'bfloat16' stays a name; a numpy or ml_dtypes type (np.float32, ml_dtypes.bfloat16) becomes its name."""
    return dtype if isinstance(dtype, str) else np.dtype(dtype).name


def _float32_rounded_to_odd(wide: np.ndarray) -> np.ndarray:
    """float64 values rounded to float32 with round-to-odd (call under errstate over/invalid ignore).

    ml_dtypes converts float64 to its formats through float32 (a static_cast<float>
    first; jax-ml/ml_dtypes PR #401), and that double rounding is wrong where float32
    rounds onto a midpoint of the narrow format that the float64 value was not on
    (1 + 2^-8 + 2^-40 would become bfloat16 1.0, not 1 + 2^-7). Rounded to odd instead
    (truncate, then set the last bit if anything was cut off), float32 keeps which side
    of every such midpoint the value was on, so ml_dtypes' round to nearest even from it
    is the correctly rounded result: rounding to odd at p + 2 or more bits and then to
    nearest at p bits rounds once (Boldo & Melquiond, "Emulation of FMA and correctly
    rounded sums: proved algorithms using rounding to odd", IEEE TC 2008). float32 has
    24 bits; bfloat16 8, the float8 formats 4 and 3, all in float32's exponent range.
    """
    nearest = wide.astype(np.float32)
    back = nearest.astype(np.float64)
    # Truncated: one unit down in magnitude where float32 rounded away from zero (an
    # overflow to inf becomes float32's largest value, which still overflows every
    # narrower format); NaN stays NaN with its sign.
    truncated = nearest.view(np.uint32) - (np.abs(back) > np.abs(wide))
    return (truncated | (back != wide)).view(np.float32)


def _round_to_format(values: Any, fmt: type) -> np.ndarray:
    """Round to the nearest value of an ml_dtypes format, ties to even; returns float32 values.

    The rounding is ml_dtypes' (from float32); float64 goes to float32 rounded to odd
    first (above), any other input type by numpy's float32 cast (as it always has).
    """
    wide = np.asarray(values)
    # over: beyond the format's range is inf (or NaN, float8_e4m3fn has no inf), not a warning;
    # invalid: a signalling NaN comes out a quiet one, not a warning.
    with np.errstate(over="ignore", invalid="ignore"):
        narrow = _float32_rounded_to_odd(wide) if wide.dtype == np.float64 else wide.astype(np.float32)
        return np.asarray(narrow.astype(fmt).astype(np.float32))


def round_to_bfloat16(values: Any) -> np.ndarray:
    """Round to the nearest bfloat16 value, ties to even (ml_dtypes); returns float32 values.

    float64 input is rounded once (not to float32 and then again to bfloat16).
    +-inf stays +-inf, beyond bfloat16's range goes to +-inf, NaN stays NaN.
    """
    return _round_to_format(values, ml_dtypes.bfloat16)


def cast(values: Any, dtype: Any) -> np.ndarray:
    """Values rounded to `dtype`, held in its storage type (float32 for bfloat16 and float8)."""
    name = dtype_name(dtype)
    if name in NARROW_FORMATS:
        return _round_to_format(values, NARROW_FORMATS[name])
    if name == "float64":
        # Nothing to round or overflow; skipping errstate matters, this runs per
        # parameter per step of every reference run (a third of the spec's time).
        return np.array(values, dtype=np.float64)
    with np.errstate(over="ignore"):
        return np.asarray(values).astype(STORAGE[name])


def round_to(values: Any, dtype: Any) -> np.ndarray:
    """Values rounded to `dtype`, as float64 (what storing them in that dtype keeps)."""
    return cast(values, dtype).astype(np.float64)


_UNIT_ROUNDOFF = {name: float(ml_dtypes.finfo(fmt).eps) / 2.0 for name, fmt in _FORMAT.items()}
_LARGEST = {name: float(ml_dtypes.finfo(fmt).max) for name, fmt in _FORMAT.items()}


def unit_roundoff(dtype: Any) -> float:
    """u = 2^-p for p significand bits: 2^-8 bfloat16, 2^-11 float16, 2^-24 float32, 2^-53 float64."""
    return _UNIT_ROUNDOFF[dtype_name(dtype)]


def largest(dtype: Any) -> float:
    """The largest finite value of `dtype` (bfloat16: (2 - 2^-7) * 2^127)."""
    return _LARGEST[dtype_name(dtype)]


def spacing(values: Any, dtype: Any) -> np.ndarray:
    """Spacing of `dtype` at |values| (as float64): np.spacing of the value stored in `dtype`.

    Magnitudes beyond the dtype's range take the spacing at its largest finite value: a
    tolerance stays finite where the dtype overflows (float16 holds (1 - beta2) * g^2
    only up to 65504), so an implementation that overflows there is caught, not excused.
    """
    name = dtype_name(dtype)
    magnitude = np.minimum(np.abs(np.asarray(values, dtype=np.float64)), largest(name))
    with np.errstate(over="ignore"):
        if name in NARROW_FORMATS:
            # ml_dtypes' np.spacing, on the correctly rounded value
            stored = _round_to_format(magnitude, NARROW_FORMATS[name]).astype(NARROW_FORMATS[name])
        else:
            stored = magnitude.astype(STORAGE[name])
        spacing_up = np.spacing(stored)
        # np.spacing at the largest value is its next value up (inf); take the one below
        # (only where it occurs: this runs on every tolerance, a pass per array counts).
        at_largest = stored == largest(name)
        if at_largest.any():
            spacing_up[at_largest] = (stored - np.nextafter(stored, 0))[at_largest]
        return spacing_up.astype(np.float64)
