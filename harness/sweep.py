"""The default conformance sweep behind `optim-parity report`, drawn deterministically
from a seed: generated cases for every row (the same strategies as cases/test_<row>.py)
and the registry's reproducers, each run on every implementation of the catalogue (a
case outside an implementation's space is `no-counterpart` or `unsupported` there), plus
every implementation's pairwise covering cases and the probes of what it cannot express
(cases/test_option_pairs.py), each run on its own implementation.

A case id hashes the case (`<row>-<sha1 of the case file>`, harness/collect.py
case_id), so two sweeps compare case by case whatever their --examples.

Hypothesis (and the strategies built on it) is imported by the functions that draw, not
by this module: the command line reads DEFAULT_EXAMPLES for its --help, and starts
without Hypothesis (about 0.15 s). Every draw first makes Hypothesis' generation
depend on the strategies alone (harness/hypothesis_setup.py disable_local_constants), as
the pytest plugin does for the conformance suite."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from harness.casefile import Case, dumps_case, load_case
from harness.catalogue import DEFAULT_IMPLEMENTATIONS
from harness.collect import case_id
from harness.coverage import covering_rows
from harness.registry import Divergence
from harness.rows import ROW_IDS

DEFAULT_EXAMPLES = 20
SWEEP_ROWS = ("defaults",) + ROW_IDS
PAIRS_ROW = "option pairs"  # the row of cases/test_option_pairs.py's cases


@dataclass(frozen=True)
class SweepCase:
    id: str
    row: str  # a row id or "defaults"
    source: str  # "generated" or a case file path
    case: Case
    # The implementations it is for (the reference and one implementation for a covering
    # case or a probe); None: every implementation of the run.
    implementations: tuple[str, ...] | None = None


def draw_cases(strategy, count: int, seed: int) -> list:
    """Up to `count` distinct examples of `strategy`, the same ones for the same seed and versions."""
    # deferred: Hypothesis, only where cases are drawn (the command line starts without it)
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed

    from harness.hypothesis_setup import disable_local_constants  # deferred: imports Hypothesis

    disable_local_constants()
    drawn: list[Case] = []

    @hypothesis_seed(seed)
    @settings(max_examples=count, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(case: Case) -> None:
        drawn.append(case)

    collect()
    # Hypothesis may generate the same example twice; a sweep wants distinct cases.
    distinct: dict[str, object] = {}
    for example in drawn:
        distinct.setdefault(dumps_case(example) if isinstance(example, Case) else repr(example), example)
    return list(distinct.values())[:count]


def sweep_cases(seed: int = 0, examples: int | None = None,
                registry: list[Divergence] | None = None,
                progress: Callable[[str], None] | None = None) -> list[SweepCase]:
    """progress(what): called before each part of the drawing (the command line's
    progress display); it does not change what is drawn."""
    # deferred: the strategies import Hypothesis (the command line starts without it)
    from harness.strategies import covering_case, outside_settings, probe_case, row_cases

    tell = progress or (lambda what: None)

    def hashed(prefix: str, case: Case) -> str:
        return case_id(prefix, dumps_case(case))

    examples = DEFAULT_EXAMPLES if examples is None else examples
    out: list[SweepCase] = []
    for row in SWEEP_ROWS:
        tell(f"drawing row {row}")
        for case in draw_cases(row_cases(row), examples, seed):
            out.append(SweepCase(hashed(row, case), row, "generated", case))
    tell("reading the reproducers")
    for entry in registry or []:
        case = load_case(entry.reproducer_path)
        out.append(SweepCase(hashed(f"reproducer-{entry.id}", case), entry.row, entry.reproducer, case))
    for name in DEFAULT_IMPLEMENTATIONS[1:]:
        tell(f"drawing covering cases of {name}")
        for index in range(len(covering_rows(name))):
            case = covering_case(name, index, seed)
            out.append(SweepCase(hashed(f"pairs-{name}", case), PAIRS_ROW, "generated", case, ("reference", name)))
        probes = {}  # two settings may probe with one case (SparseAdam: use_lazy=False is the default layout's)
        for factor, value in outside_settings(name):
            case = probe_case(factor, value, seed)
            probes.setdefault(hashed(f"outside-{name}", case), case)
        out += [SweepCase(case_id, PAIRS_ROW, "generated", case, ("reference", name)) for case_id, case in probes.items()]
    return out
