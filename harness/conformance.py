"""The conformance check every generated case goes through (used by cases/test_*.py).

A case conforms when every implementation passes, is unsupported, or shows only
violations the registry predicts (status "known"). Anything else fails the test with
the row, the implementation, the attributed rows and the path of the case file,
written under reports/failures/ so it can be replayed; Hypothesis replays the
shrunk example last, so the file holds the shrunk case.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from harness import collect
from harness.casefile import Case, load_case, save_case
from harness.catalogue import TABLE_IMPLEMENTATIONS, framework_of, installed_version
from harness.engine import CaseRun, ImplementationResult, run_case
from harness.registry import DEFAULT_REGISTRY, Divergence, classify, load_registry
from harness.rows import FRAMEWORKS, ROWS_BY_ID
from harness.statuses import CRASH, KNOWN, VIOLATION

FAILURES_DIR = Path(__file__).resolve().parent.parent / "reports" / "failures"


@functools.lru_cache(maxsize=None)
def default_registry() -> tuple[Divergence, ...]:
    return tuple(load_registry(DEFAULT_REGISTRY))


def check_case(case: Case, implementations: Sequence[str] = TABLE_IMPLEMENTATIONS,
               registry: Sequence[Divergence] | None = None, *, row: str | None = None,
               source: str = "generated") -> list[ImplementationResult]:
    """Run and classify one case. With `row` given and a parity report being collected
    (pytest --parity-report, inside a test under cases/), the case is recorded for the
    report under the running test's node id."""
    __tracebackhide__ = True
    return _checked_run(case, implementations, registry, row=row, source=source).results


def _checked_run(case: Case, implementations: Sequence[str], registry: Sequence[Divergence] | None, *,
                 row: str | None, source: str) -> CaseRun:
    __tracebackhide__ = True
    registry = default_registry() if registry is None else registry
    run = run_case(case, implementations)
    for result in run.results:
        classify(result, case, list(registry))
    collector = collect.active()
    if collector is not None and collector.current_test is not None and row is not None:
        collector.keep(collect.case_entry(case=case, run=run, results=run.results, row=row,
                                           test=collector.current_test, source=source))
    return run


def _row_words(row_id: str, framework: str | None = None) -> str:
    """A row as the difference table names it, the concept and each side's word for it:
    `eps (torch eps / MindSpore eps)`, or with another framework's implementation,
    `eps (torch eps / keras epsilon)`."""
    row = ROWS_BY_ID.get(row_id)
    if row is None:
        return row_id
    other = framework if framework in FRAMEWORKS and framework != "torch" else "mindspore"
    label = "MindSpore" if other == "mindspore" else other
    return (f"{row_id} (torch {row.word('torch') or 'has no counterpart'} / "
            f"{label} {row.word(other) or 'has no counterpart'})")


def _compared_elements(run: CaseRun, implementation: str) -> int:
    """Elements x quantities compared for the implementation (the n of "k / n")."""
    trajectory = run.trajectories.get(implementation)
    if trajectory is None:
        return 0
    # [steps + 1, n] per quantity; "step" is a counter, not an element
    return sum(values.shape[1] for name, quantities in trajectory.data.items() if name in run.reference.data
               for quantity, values in quantities.items()
               if quantity in run.reference.data[name] and np.ndim(values) == 2)


def _why_not_known(case: Case, result: ImplementationResult, unknown: list, registry: Sequence[Divergence]) -> str:
    """Why the registry does not explain the violations, in words."""
    rows = {r for v in unknown for r in v.rows}
    entries = [d for d in registry if d.covers(result.implementation) and d.row in rows]
    if not entries:
        return "no registry entry covers this implementation for these rows"
    reasons = []
    worst = max((v.relative_error for v in unknown if v.quantity == "param"), default=float("nan"))
    for entry in entries:
        if not entry.applies:
            reasons.append(f"{entry.id} holds for {entry.versions} only")
        elif not entry.predicts(case):
            reasons.append(f"{entry.id}: its condition {entry.when} does not hold for this case")
        else:
            reasons.append(f"{entry.id}: relative error {worst!r} is beyond its measured bound "
                           f"{entry.max_relative_error!r}")
    return "; ".join(reasons)


def describe_failure(row: str, result: ImplementationResult, case: Case | None = None,
                     run: CaseRun | None = None, registry: Sequence[Divergence] = ()) -> str:
    """The failure of one implementation, in the manner of torch.testing.assert_close:
    what diverged, how many elements out of how many, the greatest error against its
    tolerance with the values at full precision, the rows attribution named in words, and
    why the registry does not explain it."""
    framework = framework_of(result.implementation)
    if result.status == CRASH:
        return f"row {_row_words(row, framework)}: {result.implementation} crashed: {result.message.splitlines()[0]}"
    unknown = [v for v in result.violations if not v.divergence]
    first = min(unknown, key=lambda v: (v.step, v.param, v.index))
    greatest = max(unknown, key=lambda v: (v.ratio, -v.step))
    elements = result.violation_count
    compared = _compared_elements(run, result.implementation) if run is not None else 0
    share = f"{elements} / {compared} ({100.0 * elements / compared:.1f}%)" if compared else f"{elements}"
    rows = sorted({r for v in unknown for r in v.rows})

    def where(v) -> str:
        return f"{v.quantity} of {v.param!r}, element {v.index}, step {v.step}"

    lines = [
        f"{result.implementation} diverges from the spec in row {_row_words(row, framework)}, not predicted by the registry.",
        f"Mismatched elements: {share}, {len(unknown)} of them unexplained by the registry.",
        f"Greatest error / tolerance: {greatest.ratio:.3g} at {where(greatest)}: expected {greatest.expected!r}, "
        f"actual {greatest.actual!r} (error {greatest.error!r} > tolerance {greatest.tolerance!r}).",
        f"First mismatch: {where(first)}: expected {first.expected!r}, actual {first.actual!r}.",
        "Attributed to: " + (", ".join(_row_words(r, framework) for r in rows) if rows else
                             "no row (unexplained: a defect of the implementation or the spec)")
        + (" (jointly)" if any(v.joint for v in unknown) else "") + ".",
    ]
    if case is not None:
        lines.append(f"Registry: {_why_not_known(case, result, unknown, registry)}.")
    return "\n".join(lines)


def assert_conforms(case: Case, row: str, name: str,
                    implementations: Sequence[str] = TABLE_IMPLEMENTATIONS,
                    registry: Sequence[Divergence] | None = None,
                    failures_dir: Path = FAILURES_DIR) -> list[ImplementationResult]:
    __tracebackhide__ = True  # the message says it all; the harness's frames would bury it
    run = _checked_run(case, implementations, registry, row=row, source="generated")
    failed = [r for r in run.results if r.status in (VIOLATION, CRASH)]
    if failed:
        path = save_case(case, failures_dir / (re.sub(r"[^A-Za-z0-9_.-]+", "_", name) + ".json"))
        entries = default_registry() if registry is None else registry
        lines = [describe_failure(row, r, case, run, entries) for r in failed]
        names = " ".join(dict.fromkeys(["reference", *(r.implementation for r in failed)]))
        lines.append(f"Case file: {path}\nReplay: optim-parity replay {path} --impl {names}")
        raise AssertionError("\n\n".join(lines))
    return run.results


def _outside_range_conforms(entry: Divergence, case: Case, registry: list[Divergence]) -> str | None:
    """An entry outside its version range is not applied: its reproducer is judged like
    any other case, and diverging there says the range is wrong."""
    installed = ", ".join(f"{package} {installed_version(package)}" for package in entry.versions)
    for implementation in entry.implementations:
        result = check_case(case, ["reference", implementation], registry, row=entry.row, source=entry.reproducer)[1]
        if result.status in (VIOLATION, CRASH):
            return (f"{entry.id}: holds for {entry.versions}, not for the installed {installed}, yet its reproducer "
                    f"still diverges in {implementation} (status {result.status}, rows {result.rows}): widen its "
                    "versions")
    return None


def entry_still_reproduces(entry: Divergence, registry: Sequence[Divergence] | None = None) -> str | None:
    """None when `entry`'s reproducer still shows exactly this divergence in every
    implementation the entry covers (outside the entry's version range: conforms in
    every one of them), else why not.

    Used by cases/test_known_divergences.py: a framework fixed upstream makes the
    reproducer pass, and the entry must then be retired.
    """
    case = load_case(entry.reproducer_path)
    if not entry.predicts(case):
        return f"{entry.id}: its own reproducer does not satisfy its condition {entry.when}"
    registry = list(default_registry() if registry is None else registry)
    if not entry.applies:
        return _outside_range_conforms(entry, case, registry)
    for implementation in entry.implementations:
        result = check_case(case, ["reference", implementation], registry, row=entry.row,
                            source=entry.reproducer)[1]
        matched = [v for v in result.violations if v.divergence and entry.id in v.divergence.split(",")]
        if not matched:
            return (f"{entry.id}: {implementation} no longer shows this divergence on {entry.reproducer} "
                    f"(status {result.status}, rows {result.rows}); if the framework fixed it, retire the entry "
                    f"(or drop {implementation} from its implementations)")
        if result.status != KNOWN:
            return f"{entry.id}: the reproducer also shows unregistered violations in {implementation} (rows {result.rows})"
    return None
