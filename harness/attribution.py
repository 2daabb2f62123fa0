"""Attribution: which row of the difference table explains a violation.

For every row that has reference variants (harness/rows.py), the reference is re-run
with that variant switched and the implementation is compared again. A violation
(quantity, parameter, element) is explained by a row when under the row's variant
that element stays inside tolerance up to the step where it first left it. Violations no single row explains
are tried against the variants of 2, 3, 4 rows switched together (smallest first);
those violations carry all the combination's rows and `joint`. What still remains
is "unexplained".
"""

from __future__ import annotations

import numpy as np

from itertools import combinations

from harness.casefile import Case
from harness.compare import Violation, compare
from harness.trajectory import Trajectory, reference_trajectory
from harness.rows import ROWS, UNEXPLAINED


# Largest number of rows tried together (C(7, 4) = 35 reference runs at most per size).
MAX_JOINT_ROWS = 4


def candidate_variants() -> list[tuple[tuple[str, ...], dict]]:
    return [((row.id,), dict(variant)) for row in ROWS for variant in row.variants]


def _relevant(case: Case, variant: dict) -> bool:
    """Whether a variant can change anything for this case (cheap, from the case alone)."""
    decays = [case.weight_decay_for(p.name) > 0 for p in case.params]
    if "weight_decay_exempt_substrings" in variant:
        parts = variant["weight_decay_exempt_substrings"]
        return any(d and any(part in p.name for part in parts) for d, p in zip(decays, case.params))
    if "weight_decay_mode" in variant:
        return any(decays)
    return True


def _same(a: Trajectory, b: Trajectory) -> bool:
    return all(
        a.data[name].keys() == b.data[name].keys()
        and all(np.array_equal(a.data[name][q], b.data[name][q], equal_nan=True) for q in a.data[name])
        for name in a.data
    )


def _still_violating(case: Case, variant_reference: Trajectory, actual: Trajectory,
                     first_steps: dict[tuple, int]) -> set[tuple]:
    """Violation keys a variant reference does not explain.

    A variant explains a violation when the element stays inside tolerance up to and
    including the step where it first left it: attribution explains the departure;
    once two float trajectories have separated (chaotically, over thousands of steps)
    later differences say nothing about the mechanism. A quantity the variant does not
    have (amsgrad toggled off has no max_exp_avg_sq) cannot be explained by it.
    """
    remaining = {v.key for v in compare(case, variant_reference, actual).violations
                 if v.step <= first_steps.get(v.key, 0)}
    for name, quantities in actual.data.items():
        for quantity, values in quantities.items():
            if quantity not in variant_reference.data[name]:
                remaining.update((quantity, name, i) for i in range(values.shape[1] if values.ndim > 1 else 1))
    return remaining


def attribute(case: Case, base: Trajectory, actual: Trajectory, violations: list[Violation]) -> list[str]:
    """Fill `rows` of every violation; return the sorted union of rows."""
    if not violations:
        return []
    explained: dict[tuple, set[str]] = {v.key: set() for v in violations}
    first_steps = {v.key: v.step for v in violations}
    joint: set[tuple] = set()
    # Every relevant variant takes part in combinations, even one that alone changes
    # nothing (float32 betas do nothing while g + wd * w cancels exactly, and matter as
    # soon as another row's variant breaks the cancellation).
    singles = [(rows, variant) for rows, variant in candidate_variants() if _relevant(case, variant)]
    for rows, variant in singles:
        trajectory = reference_trajectory(case, variant)
        if _same(trajectory, base):
            continue  # alone, the variant changes nothing for this case
        remaining = _still_violating(case, trajectory, actual, first_steps)
        for key in explained:
            if key not in remaining:
                explained[key].update(rows)
    unexplained = {key for key, rows in explained.items() if not rows}
    # Several mechanisms at once: variants of 2, then 3, ... rows switched together,
    # smallest combinations first; a violation takes the rows of the first
    # combination (in table order) that explains it.
    for size in range(2, min(MAX_JOINT_ROWS, len(singles)) + 1):
        if not unexplained:
            break
        for combination in combinations(singles, size):
            merged = {k: v for _, variant in combination for k, v in variant.items()}
            remaining = _still_violating(case, reference_trajectory(case, merged), actual, first_steps)
            for key in unexplained - remaining:
                explained[key] = {row for row_ids, _ in combination for row in row_ids}
                joint.add(key)
            unexplained &= remaining
    union: set[str] = set()
    for violation in violations:
        rows = sorted(explained[violation.key]) or [UNEXPLAINED]
        violation.rows = rows
        violation.joint = violation.key in joint and rows != [UNEXPLAINED]
        union.update(rows)
    return sorted(union)
