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

from harness import collect
from harness.casefile import Case, save_case
from harness.catalogue import TABLE_IMPLEMENTATIONS
from harness.engine import CRASH, VIOLATION, ImplementationResult, run_case
from harness.registry import DEFAULT_REGISTRY, Divergence, classify, load_registry

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
    registry = default_registry() if registry is None else registry
    run = run_case(case, implementations)
    for result in run.results:
        classify(result, case, list(registry))
    recorder = collect.active()
    if recorder is not None and recorder.current_test is not None and row is not None:
        recorder.record(collect.case_entry(case=case, run=run, results=run.results, row=row,
                                           test=recorder.current_test, source=source))
    return run.results


def describe_failure(row: str, result: ImplementationResult) -> str:
    if result.status == CRASH:
        return f"row {row}: implementation {result.implementation} crashed: {result.message.splitlines()[0]}"
    unknown = [v for v in result.violations if not v.divergence]
    first = min(unknown, key=lambda v: (v.step, v.param, v.index))
    return (
        f"row {row}: implementation {result.implementation} diverges from the spec, not predicted by the registry; "
        f"attributed to rows {sorted({r for v in unknown for r in v.rows})}; {len(unknown)} element(s); first: "
        f"{first.quantity} {first.param!r} step {first.step} [{first.index}] expected {first.expected:.9g} "
        f"got {first.actual:.9g} (error {first.error:.3g} > tolerance {first.tolerance:.3g}, "
        f"relative error {first.relative_error:.3g})"
    )


def assert_conforms(case: Case, row: str, name: str,
                    implementations: Sequence[str] = TABLE_IMPLEMENTATIONS,
                    registry: Sequence[Divergence] | None = None,
                    failures_dir: Path = FAILURES_DIR) -> list[ImplementationResult]:
    results = check_case(case, implementations, registry, row=row)
    failed = [r for r in results if r.status in (VIOLATION, CRASH)]
    if failed:
        path = save_case(case, failures_dir / (re.sub(r"[^A-Za-z0-9_.-]+", "_", name) + ".json"))
        lines = [describe_failure(row, r) for r in failed]
        lines.append(f"case file: {path}  (replay: optim-parity replay {path})")
        raise AssertionError("\n".join(lines))
    return results


def _outside_range_conforms(entry: Divergence, case: Case, registry: list[Divergence]) -> str | None:
    """An entry outside its version range is not applied: its reproducer is judged like
    any other case, and diverging there says the range is wrong."""
    from harness.catalogue import installed_version

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
    from harness.casefile import load_case
    from harness.engine import KNOWN

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
