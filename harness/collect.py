"""Case entries: what a run keeps of one checked case, for results.json.

`case_entry` turns one checked case (its CaseRun, results classified against the
registry) into a JSON-ready dict: the case's recipe (dtype, steps, hyperparameters,
parameter names and shapes), per implementation its status, rows, registry entries
and every violation, the data the report plots (the worst element's error/tolerance
per step; for eps cases the first update's ratio to the spec against |g|/eps), and
the case file's text, so the case can be saved and replayed.

`CaseCollector` appends entries as JSON lines to a parts file. The pytest plugin gives
every process (the controller, or each pytest-xdist worker) its own parts file;
`harness.conformance.check_case` records into the active collector, and the session's
end joins all parts into one results.json (harness/results.py).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from harness.casefile import Case, dumps_case
from harness.catalogue import features
from harness.nonfinite import to_json
from harness.rows import exercised_rows

SERIES_POINTS = 200  # error-vs-step plots: long runs are subsampled to this many points
UPDATE_RATIO_POINTS = 64  # eps plot: points per case and implementation
EPS_ROW = "eps"


def case_id(prefix: str, case_text: str) -> str:
    """A stable id: the same case under the same test gets the same id in every run,
    process and shard (Hypothesis's example order is not an identity)."""
    return f"{prefix}-{hashlib.sha1(case_text.encode('utf-8')).hexdigest()[:10]}"


def _error_series(result: Any) -> dict | None:
    """error/tolerance per step of the worst element of one implementation (kept by its comparison)."""
    worst, ratio = result.worst, result.worst_series
    if worst is None or ratio is None:
        return None
    steps = _sample_steps(len(ratio))
    return {"quantity": worst.quantity, "param": worst.param, "index": worst.index,
            "steps": steps, "ratio": [to_json(ratio[t - 1]) for t in steps]}


def _sample_steps(steps: int) -> list[int]:
    if steps <= SERIES_POINTS:
        return list(range(1, steps + 1))
    return sorted({int(round(x)) for x in np.geomspace(1, steps, SERIES_POINTS)})


def _update_ratio(case: Case, run: Any, implementation: str) -> list[list[float]] | None:
    """First-step update of each element relative to the spec's, against |g| / eps."""
    trajectory = run.trajectories.get(implementation)
    if trajectory is None or trajectory.completed_steps < 1:
        return None
    points = []
    eps = case.hp("eps")
    for index, spec in enumerate(case.params):
        start = run.reference.data[spec.name]["param"][0]
        expected = run.reference.data[spec.name]["param"][1] - start
        actual = trajectory.data[spec.name]["param"][1] - start
        gradient = np.abs(np.asarray(case.grads[0][index], dtype=np.float64))
        usable = (expected != 0.0) & np.isfinite(actual)
        for g, e, a in zip(gradient[usable], expected[usable], actual[usable]):
            points.append([float(g / eps), float(a / e)])
    return sorted(points)[:UPDATE_RATIO_POINTS] or None


def test_prefix(test: str) -> str:
    """'cases/test_eps.py::test_eps' -> 'test_eps'; parameters stay ('test_x_torch-fused')."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", test.split("::")[-1]).strip("_")


def nonfinite_propagation(run: Any) -> dict | None:
    """Per implementation (the spec included) and quantity: the first step at which some
    element became NaN, +inf or -inf — how each propagates non-finite values, not just
    whether it ends NaN. None when every trajectory stays finite."""
    out: dict = {}
    trajectories = {"reference": run.reference, **run.trajectories}
    for name, trajectory in trajectories.items():
        found: dict = {}
        for param, quantities in trajectory.data.items():
            for quantity, values in quantities.items():
                if quantity == "step":
                    continue
                for kind, test in (("nan", np.isnan), ("+inf", np.isposinf), ("-inf", np.isneginf)):
                    steps = np.flatnonzero(test(values).any(axis=1))
                    if steps.size:
                        key = f"{param}.{quantity}"
                        found.setdefault(key, {})[kind] = int(steps[0])
        if found:
            out[name] = found
    return out or None


def case_entry(*, case: Case, run: Any, results: list, row: str, test: str | None, source: str,
               entry_id: str | None = None) -> dict:
    """One checked case as a JSON-ready dict (see the module docstring)."""
    text = dumps_case(case)
    implementations = []
    for result in results:
        impl = result.to_json()
        impl.pop("timing")  # timings vary run to run; results files must not
        if result.violations and run is not None:
            series = _error_series(result)
            if series:
                impl["series"] = series
        if row == EPS_ROW and result.implementation != "reference" and run is not None:
            ratio = _update_ratio(case, run, result.implementation)
            if ratio:
                impl["update_ratio"] = ratio
        implementations.append(impl)
    exercised = exercised_rows(case) + (["missing_gradients"] if case.missing else [])
    entry = {
        # The same case through other implementations (a reproducer per implementation,
        # a test parametrized by implementation) is another entry.
        "id": entry_id or case_id(row if test is None else test_prefix(test),
                                  text + "\n" + " ".join(r.implementation for r in results)),
        "row": row, "rows": [r for r in exercised if r != row], "test": test, "source": source,
        "features": features(case),
        "dtype": case.dtype, "steps": case.num_steps, "hyperparameters": case.hyperparameters,
        "params": [{"name": p.name, "shape": list(p.shape)} for p in case.params],
        "implementations": implementations,
        "case_text": text,
    }
    propagation = nonfinite_propagation(run) if run is not None else None
    if propagation:
        entry["nonfinite"] = propagation
    return entry


class CaseCollector:
    """Appends case entries as JSON lines to `path` (one file per process)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # The pytest node id of the running test, set by the plugin; None: keep nothing.
        self.current_test: str | None = None

    def keep(self, entry: dict) -> None:
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(entry, sort_keys=True) + "\n")


_active: CaseCollector | None = None


def activate(collector: CaseCollector | None) -> None:
    global _active
    _active = collector


def active() -> CaseCollector | None:
    return _active


def read_parts(directory: Path) -> list[dict]:
    """Every entry of every parts file under `directory`, in a stable order."""
    entries = []
    for path in sorted(Path(directory).glob("*.jsonl")):
        with path.open(encoding="utf-8") as lines:
            entries.extend(json.loads(line) for line in lines if line.strip())
    return entries
