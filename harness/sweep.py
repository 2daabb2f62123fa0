"""The default conformance sweep behind `optim-parity report`: generated cases for
every row (the same strategies as cases/test_<row>.py), plus the registry's
reproducers, drawn deterministically from a seed."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed

from harness.casefile import Case, load_case
from harness.registry import Divergence
from harness.rows import ROW_IDS
from harness.strategies import row_cases

DEFAULT_EXAMPLES = 20
SWEEP_ROWS = ("defaults",) + ROW_IDS


@dataclass(frozen=True)
class SweepCase:
    id: str
    row: str  # a row id or "defaults"
    source: str  # "generated" or a case file path
    case: Case


def draw_cases(strategy, count: int, seed: int) -> list:
    """Up to `count` distinct examples of `strategy`, the same ones for the same seed and versions."""
    drawn: list[Case] = []

    @hypothesis_seed(seed)
    @settings(max_examples=count, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(case: Case) -> None:
        drawn.append(case)

    collect()
    # Hypothesis may generate the same example twice; a sweep wants distinct cases.
    from harness.casefile import dumps_case

    distinct: dict[str, object] = {}
    for example in drawn:
        distinct.setdefault(dumps_case(example) if isinstance(example, Case) else repr(example), example)
    return list(distinct.values())[:count]


def sweep_cases(seed: int = 0, examples: int | None = None,
                registry: list[Divergence] | None = None) -> list[SweepCase]:
    examples = DEFAULT_EXAMPLES if examples is None else examples
    out: list[SweepCase] = []
    for row in SWEEP_ROWS:
        for i, case in enumerate(draw_cases(row_cases(row), examples, seed)):
            out.append(SweepCase(f"{row}-{seed}-{i:03d}", row, "generated", case))
    for entry in registry or []:
        out.append(SweepCase(f"reproducer-{entry.id}", entry.row, entry.reproducer, load_case(entry.reproducer_path)))
    return out
