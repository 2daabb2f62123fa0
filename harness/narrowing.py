"""A case narrowed to some elements of each parameter.

The spec is elementwise where gradients are dense: an element's run, tolerance and
ratio depend on that element's own values, the hyperparameters and the step, never on
another element (a row-sparse gradient is the exception: a lazy step acts on whole rows).
So the spec's run of a narrowed case is the whole case's run read at those elements, bit
for bit. Attribution runs its variants on the sampled violating elements alone
(harness/attribution.py element_subcase), and a large case's comparison makes the spec's
run one block of columns at a time instead of holding it whole
(harness/trajectory_comparison.py ColumnReference).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from harness.casefile import Case, ParamSpec
from harness.trajectory import Trajectory


def narrowable(case: Case) -> bool:
    """Whether narrowing keeps every element's run: dense gradients only."""
    return not case.sparse_rows


def narrowed_case(case: Case, columns: dict[str, np.ndarray]) -> Case:
    """The case with each parameter a 1-d vector of its elements `columns[name]` (flat
    indices; a parameter not named keeps its first element: the case stays the same
    shape of parameters, groups and missing gradients)."""
    picks = [columns.get(spec.name, np.zeros(1, dtype=np.intp)) for spec in case.params]
    return dataclasses.replace(
        case, params=tuple(ParamSpec(spec.name, (len(cols),), spec.value[cols]) for spec, cols in zip(case.params, picks)),
        grads=tuple(tuple(gradient[cols] for gradient, cols in zip(step, picks)) for step in case.grads))


def narrowed_trajectory(case: Case, trajectory: Trajectory, columns: dict[str, np.ndarray]) -> Trajectory:
    """A trajectory of `case` read at the elements narrowed_case(case, columns) keeps."""
    picks = {spec.name: columns.get(spec.name, np.zeros(1, dtype=np.intp)) for spec in case.params}
    return Trajectory({name: {quantity: values if quantity == "step" else values[:, picks[name]]
                              for quantity, values in quantities.items()}
                       for name, quantities in trajectory.data.items()}, trajectory.completed_steps)
