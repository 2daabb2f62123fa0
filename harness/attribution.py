"""Attribution: which row of the difference table explains a violation.

For every row that has reference variants (harness/rows.py), the reference is re-run
with that variant switched and the implementation is compared again. A violation
(quantity, parameter, element) is explained by a row when under the row's variant
that element stays inside tolerance at every step. Violations no single row explains
are tried against pairs of variants from two rows; what still remains is
"unexplained".
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from harness.casefile import Case
from harness.compare import Violation, compare
from harness.trajectory import Trajectory, reference_trajectory
from harness.rows import ROWS, UNEXPLAINED


def candidate_variants() -> list[tuple[tuple[str, ...], dict]]:
    return [((row.id,), dict(variant)) for row in ROWS for variant in row.variants]


def _same(a: Trajectory, b: Trajectory) -> bool:
    return all(
        a.data[name].keys() == b.data[name].keys()
        and all(np.array_equal(a.data[name][q], b.data[name][q], equal_nan=True) for q in a.data[name])
        for name in a.data
    )


def attribute(case: Case, base: Trajectory, actual: Trajectory, violations: list[Violation]) -> list[str]:
    """Fill `rows` of every violation; return the sorted union of rows."""
    if not violations:
        return []
    explained: dict[tuple, set[str]] = {v.key: set() for v in violations}
    joint: set[tuple] = set()
    singles = []
    for rows, variant in candidate_variants():
        trajectory = reference_trajectory(case, variant)
        if _same(trajectory, base):
            continue  # the variant changes nothing for this case
        singles.append((rows, variant))
        remaining = {v.key for v in compare(case, trajectory, actual).violations}
        for key in explained:
            if key not in remaining:
                explained[key].update(rows)
    unexplained = {key for key, rows in explained.items() if not rows}
    if unexplained:
        by_pair: dict[tuple, set[str]] = {key: set() for key in unexplained}
        for (rows_a, var_a), (rows_b, var_b) in combinations(singles, 2):
            if rows_a == rows_b or set(var_a) & set(var_b):
                continue
            trajectory = reference_trajectory(case, {**var_a, **var_b})
            remaining = {v.key for v in compare(case, trajectory, actual).violations}
            for key in unexplained - remaining:
                by_pair[key].update(rows_a + rows_b)
        for key, rows in by_pair.items():
            explained[key] = rows
            joint.add(key)
    union: set[str] = set()
    for violation in violations:
        rows = sorted(explained[violation.key]) or [UNEXPLAINED]
        violation.rows = rows
        violation.joint = violation.key in joint and rows != [UNEXPLAINED]
        union.update(rows)
    return sorted(union)
