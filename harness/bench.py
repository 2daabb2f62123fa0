"""`optim-parity bench`: the harness against the bare framework loop, per implementation.

The same N generated cases (fixed seed: the defaults row's strategy, 0-d to 4-d shapes,
float32 and float64, 1-50 steps) run two ways:

    harness   what a conformance check costs for that implementation: recording in its
              (isolated) worker with a snapshot after every step, the comparison with the
              spec and, where it leaves tolerance, attribution
    bare      the plain framework calls a user would write: build the optimizer, assign
              the gradients, step, read the parameters back once at the end

and prints cases/s and steps/s of both, their ratio (harness / bare: the figure to watch,
absolute times on shared machines are noise), MindSpore's graph compile per optimizer
instance (first step minus a later one, in the bare loop), import time (a fresh
interpreter) and peak RSS. Numbers, not assertions.
"""

from __future__ import annotations

import importlib
import resource
import statistics
import subprocess
import sys
import time
from typing import Sequence

import numpy as np

from harness.casefile import Case
from harness.results import versions, write_json

DEFAULT_CASES = 20
IMPORTS = {"reference": "reference.adam", "torch": "torch", "mindspore": "mindspore"}


def bench_cases(count: int, seed: int = 0) -> list[Case]:
    from harness.strategies import row_cases
    from harness.sweep import draw_cases

    return draw_cases(row_cases("defaults"), count, seed)


# --------------------------------------------------------------------------- bare loops

def _bare_reference(case: Case) -> list[float]:
    from reference.adam import adam_step, init_state

    states = [init_state(p.value.astype(np.float64)) for p in case.params]
    beta1, beta2 = case.hp("betas")
    for grads in case.grads:
        states = [adam_step(s, g.astype(np.float64), lr=case.hp("lr"), beta1=beta1, beta2=beta2, eps=case.hp("eps"))
                  for s, g in zip(states, grads)]
    return [0.0] * len(case.grads)


def _bare_torch(case: Case) -> list[float]:
    import torch

    tensors = [torch.nn.Parameter(torch.from_numpy(p.value.reshape(p.shape).copy())) for p in case.params]
    optimizer = torch.optim.Adam(tensors, lr=case.hp("lr"), betas=tuple(case.hp("betas")), eps=case.hp("eps"))
    step_seconds = []
    for grads in case.grads:
        start = time.perf_counter()
        for tensor, grad in zip(tensors, grads):
            tensor.grad = torch.from_numpy(grad.reshape(tensor.shape).copy())
        optimizer.step()
        step_seconds.append(time.perf_counter() - start)
    [t.detach().numpy().copy() for t in tensors]
    return step_seconds


def _bare_mindspore(case: Case) -> list[float]:
    importlib.import_module("harness.adapters.mindspore_adam")  # the same context: PyNative, CPU
    from mindspore import Parameter, Tensor, nn

    parameters = [Parameter(Tensor(p.value.reshape(p.shape).copy()), name=p.name) for p in case.params]
    beta1, beta2 = case.hp("betas")
    optimizer = nn.Adam(parameters, learning_rate=case.hp("lr"), beta1=beta1, beta2=beta2, eps=case.hp("eps"))
    step_seconds = []
    for grads in case.grads:
        start = time.perf_counter()
        optimizer(tuple(Tensor(g.reshape(p.shape)) for g, p in zip(grads, case.params)))
        step_seconds.append(time.perf_counter() - start)
    [p.asnumpy().copy() for p in parameters]
    return step_seconds


BARE = {"reference": _bare_reference, "torch": _bare_torch, "mindspore": _bare_mindspore}


# --------------------------------------------------------------------------- measuring

def _harness_seconds(name: str, case: Case) -> tuple[float, str]:
    from harness.engine import run_implementation
    from harness.trajectory import reference_trajectory

    start = time.perf_counter()
    if name == "reference":
        reference_trajectory(case)
        return time.perf_counter() - start, "pass"
    reference = reference_trajectory(case)
    start = time.perf_counter()  # the spec's run is the reference row's cost, not this one's
    result, _ = run_implementation(name, case, reference)
    return time.perf_counter() - start, result.status


def _import_seconds(name: str) -> float:
    code = f"import time; t = time.perf_counter(); import {IMPORTS[name]}; print(time.perf_counter() - t)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    try:
        return float(run.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return float("nan")


def measure(name: str, cases: Sequence[Case]) -> dict:
    from harness.engine import run_implementation
    from harness.trajectory import reference_trajectory

    # Warm-up on the first case, both ways: imports, worker start, first-use initialisation.
    if name != "reference":
        run_implementation(name, cases[0], reference_trajectory(cases[0]))
    try:
        BARE[name](cases[0])
    except Exception:  # noqa: BLE001 -- a case the framework rejects (float64 in MindSpore); warmed up anyway
        pass
    runnable, harness_seconds, bare_seconds, compile_seconds, steps = [], 0.0, 0.0, [], 0
    for case in cases:
        seconds, status = _harness_seconds(name, case)
        if status in ("unsupported", "crash"):
            continue  # e.g. MindSpore and float64: neither way runs it
        start = time.perf_counter()
        try:
            step_seconds = BARE[name](case)
        except Exception:  # noqa: BLE001 -- the harness ran it, the plain call could not: not comparable
            continue
        bare_seconds += time.perf_counter() - start
        harness_seconds += seconds
        runnable.append(case)
        steps += case.num_steps
        if len(step_seconds) > 1:
            compile_seconds.append(step_seconds[0] - statistics.median(step_seconds[1:]))
    count = len(runnable)
    row = {
        "implementation": name, "cases": count, "steps": steps,
        "harness_cases_per_second": count / harness_seconds if harness_seconds else float("nan"),
        "harness_steps_per_second": steps / harness_seconds if harness_seconds else float("nan"),
        "bare_cases_per_second": count / bare_seconds if bare_seconds else float("nan"),
        "bare_steps_per_second": steps / bare_seconds if bare_seconds else float("nan"),
        "ratio": harness_seconds / bare_seconds if bare_seconds else float("nan"),
        "first_step_overhead_seconds": statistics.median(compile_seconds) if compile_seconds else 0.0,
        "import_seconds": _import_seconds(name),
    }
    return row


def run_bench(cases: int = DEFAULT_CASES, implementations: Sequence[str] = ("reference", "torch", "mindspore"),
              json_path: str | None = None) -> int:
    drawn = bench_cases(cases)
    rows = [measure(name, drawn) for name in implementations]
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"{len(drawn)} generated cases (seed 0); harness = record in the isolated worker + compare + attribution")
    print(f"{'implementation':<15}{'cases':>6}{'harness case/s':>16}{'step/s':>10}{'bare case/s':>13}{'step/s':>10}"
          f"{'ratio':>8}{'1st-step extra s':>18}{'import s':>10}")
    for r in rows:
        print(f"{r['implementation']:<15}{r['cases']:>6}{r['harness_cases_per_second']:>16.1f}"
              f"{r['harness_steps_per_second']:>10.0f}{r['bare_cases_per_second']:>13.1f}"
              f"{r['bare_steps_per_second']:>10.0f}{r['ratio']:>8.2f}{r['first_step_overhead_seconds']:>18.4f}"
              f"{r['import_seconds']:>10.2f}")
    print(f"peak RSS: this process {own:.0f} MiB, largest worker {workers:.0f} MiB")
    if json_path:
        write_json({"schema": "optim-parity/bench/2", "versions": versions(), "cases": len(drawn),
                    "implementations": rows, "peak_rss_mib": {"harness": own, "largest_worker": workers}}, json_path)
    return 0
