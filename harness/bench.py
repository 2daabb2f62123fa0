"""`optim-parity bench`: where the time goes, per implementation.

Numbers, not assertions: seconds per case (build + steps, no comparison), the first
step (for MindSpore: graph compile of a new optimizer instance), the mean later step,
and the cost of the reference + comparison + attribution around them.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from harness.adapters import DEFAULT_IMPLEMENTATIONS, load_adapter
from harness.casefile import Case, ParamSpec
from harness.results import versions, write_json
from harness.trajectory import record

SHAPES = ((4, 4), (16,))


def bench_case(steps: int, seed: int) -> Case:
    rng = np.random.default_rng(seed)
    params = tuple(ParamSpec(f"p{i}", shape, rng.standard_normal(int(np.prod(shape))).astype(np.float32))
                   for i, shape in enumerate(SHAPES))
    grads = tuple(tuple(rng.standard_normal(p.value.size).astype(np.float32) for p in params) for _ in range(steps))
    return Case("float32", {}, params, grads)


def _measure(name: str, steps: int, repeats: int) -> dict:
    adapter_cls = load_adapter(name)
    build, first, later, total = [], [], [], []
    for seed in range(repeats):
        case = bench_case(steps, seed)
        start = time.perf_counter()
        adapter = adapter_cls(case)
        built = time.perf_counter()
        _, timing = record(adapter, case)
        total.append(time.perf_counter() - start)
        build.append(built - start)
        first.append(timing.first_step_seconds)
        later.append(timing.later_step_seconds)
    return {
        "implementation": name,
        "steps": steps,
        "case_seconds": statistics.median(total),
        "build_seconds": statistics.median(build),
        "first_step_seconds": statistics.median(first),
        "later_step_seconds": statistics.median(later),
        "first_step_overhead_seconds": statistics.median(f - l for f, l in zip(first, later)),
    }


def _measure_full_case(steps: int, repeats: int) -> float:
    from harness.conformance import check_case

    times = []
    for seed in range(repeats):
        case = bench_case(steps, seed)
        start = time.perf_counter()
        check_case(case)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_bench(json_path: str | None = None, repeats: int = 5) -> int:
    rows = []
    for name in DEFAULT_IMPLEMENTATIONS:
        _measure(name, 2, 1)  # warm-up: imports, first-use initialisation
        for steps in (10, 1000):
            rows.append(_measure(name, steps, repeats))
    print(f"{'implementation':<12}{'steps':>6}{'case s':>10}{'build s':>10}{'1st step s':>12}{'later step ms':>15}"
          f"{'1st-step overhead s':>21}")
    for r in rows:
        print(f"{r['implementation']:<12}{r['steps']:>6}{r['case_seconds']:>10.4f}{r['build_seconds']:>10.4f}"
              f"{r['first_step_seconds']:>12.4f}{r['later_step_seconds'] * 1e3:>15.4f}"
              f"{r['first_step_overhead_seconds']:>21.4f}")
    full = {steps: _measure_full_case(steps, repeats) for steps in (10, 1000)}
    for steps, seconds in full.items():
        print(f"full check (all implementations + comparison), {steps} steps: {seconds:.3f} s per case")
    if json_path:
        write_json({"schema": "optim-parity/bench/1", "versions": versions(), "implementations": rows,
                    "full_check_seconds": {str(k): v for k, v in full.items()}}, json_path)
    return 0
