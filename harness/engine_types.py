"""Data the engine produces and the comparison consumes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Trajectory:
    """Per parameter name: quantity -> array [completed_steps + 1, n] (row 0 is the
    state before the first step; "step" is an int array [completed_steps + 1])."""

    data: dict[str, dict[str, np.ndarray]]
    completed_steps: int
