"""The one codec for non-finite numbers in the harness's JSON (case files, result and
results files, matrix.json, compare --json).

JSON has no NaN or infinity; the harness writes them as the strings "nan", "inf" and
"-inf" (TEXTS) and every finite number as itself. `to_json` writes one, `from_json`
reads one back: from_json(to_json(x)) is x for every float, NaN as NaN.
"""

from __future__ import annotations

import math
from typing import Any

TEXTS = ("inf", "-inf", "nan")  # how a non-finite number is written


def to_json(x: Any) -> float | str:
    """x as a float, or "inf", "-inf", "nan" where it is not finite (numpy scalars included)."""
    x = float(x)
    if math.isfinite(x):
        return x
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def from_json(value: Any) -> float:
    """A number as to_json wrote it (a JSON number, or one of TEXTS), as a float."""
    return float(value)
