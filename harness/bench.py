"""`optim-parity bench`: the harness against the bare framework loop, per implementation.

Each implementation runs N generated cases (fixed seed, 1-50 steps) two ways:

    harness   what a conformance check costs for that implementation: recording in its
              (isolated) worker with a snapshot after every step, the comparison with the
              spec and, where it leaves tolerance, attribution
    bare      the plain framework calls a user would write: build the optimizer, assign
              the gradients, step, read the parameters back once at the end (in a fresh
              interpreter per implementation, which imports only its framework)

and prints cases/s and steps/s of both, their ratio (harness / bare: the figure to watch,
absolute times on shared machines are noise) split into where the harness's time went
(each part over the bare loop's time: recording = the adapter with its read after every
step, in the worker; isolation = the worker round trip, i.e. the caller's wait beyond
the worker's recording; judge = comparison + attribution), the first step's extra seconds (MindSpore's
graph compile per optimizer instance: first step minus a later one, in the bare loop),
import time (a fresh interpreter, once per module) and peak RSS. Numbers, not assertions.
Every case runs `repeat` times each way and its fastest run counts (timeit's rule: the
least disturbed one): a torch case is about a millisecond, and with one run per case the
ratio of the same code moved by half between two runs on a quiet machine.

The cases are the defaults row's strategy (0-d to 4-d shapes, float32 and float64), except
where that would not exercise what defines the implementation (CASE_SET, from the
records' `bench_cases`): row-sparse gradients for torch-sparse and mindspore-target-cpu
(cases/test_sparse_lazy.py's strategy), per-step lr lists for mindspore-lr-tensor /
-lr-schedule (on a single lr their adapters pass a number, i.e. they are `mindspore`).
Both ways of a row run the same cases, so ratios compare across rows; cases/s only
within a case set.

Everything per implementation is its catalogue record's (harness/catalogue.py): the bare
loop (`bare_loop`, in its framework's wing, harness/adapters/<framework>/bare.py, with
the wing's translation of the case into constructor arguments), the case set, the module
a user imports. This process imports no framework: the harness side runs in the
framework's worker, the bare side in a fresh interpreter.
"""

from __future__ import annotations

import functools
import os
import pickle
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

from harness import catalogue
from harness.adapters import resolve, setup
from harness.attribution import forget_variant_runs
from harness.casefile import Case
from harness.console import Progress, verdict_line
from harness.engine import judge, record_implementation, run_implementation
from harness.results import versions, write_json
from harness.trajectory import reference_trajectory

DEFAULT_CASES = 20
DEFAULT_REPEAT = 3


def bench_cases(count: int, seed: int = 0, case_set: str = "defaults") -> list[Case]:
    from harness.strategies import lr_schedule_cases, row_cases, sparse_cases  # deferred: Hypothesis, only for drawing the bench's cases
    from harness.sweep import draw_cases  # deferred: Hypothesis, only for drawing the bench's cases

    strategies = {"defaults": lambda: row_cases("defaults"), "row-sparse": sparse_cases,
                  "lr-schedule": lr_schedule_cases}
    return draw_cases(strategies[case_set](), count, seed)


# --------------------------------------------------------------------------- bare loops
# Each implementation's bare loop is its wing's (harness/adapters/<framework>/bare.py; the
# spec's: harness/adapters/reference.py), named by its catalogue record (`bare_loop`):
# loop(case, implementation) -> each step's seconds. Only the fresh interpreter that runs
# the loops imports them and their framework (_bare_runs_in_process); this process reads
# the names.

# name -> "module:function" of its bare loop (every name of the catalogue, harness/catalogue.py).
BARE: dict[str, str] = {name: record.bare_loop for name, record in catalogue.IMPLEMENTATIONS.items()
                        if record.bare_loop}

# Every implementation of the catalogue (tests/test_bench.py: each has a bare loop): with
# 20 cases the 15 took 113 s on 2 loaded cores (reference, torch and mindspore alone: 17 s).
DEFAULT_IMPLEMENTATIONS = catalogue.DEFAULT_IMPLEMENTATIONS

# name -> the cases it is benched on (bench_cases), where not "defaults": its record's
# `bench_cases` (row-sparse gradients for SparseAdam, which rejects dense ones, and for
# mindspore-target-cpu, which with dense gradients is mindspore-graph; per-step lr lists
# for mindspore-lr-tensor / -lr-schedule, which with a single lr are mindspore).
CASE_SET = {name: record.bench_cases for name, record in catalogue.IMPLEMENTATIONS.items()
            if record.bench_cases != "defaults"}

# name -> the module a user imports for it (import time): its framework's.
IMPORTS = {name: "reference.adam" if record.framework == "reference" else record.framework
           for name, record in catalogue.IMPLEMENTATIONS.items()}


# --------------------------------------------------------------------------- measuring

class HarnessRun(NamedTuple):
    """One case through the harness: its seconds, split into recording (the adapter and
    its per-step reads, in the worker), isolation (the worker round trip: the caller's
    wait beyond the worker's recording) and judging (comparison + attribution)."""

    seconds: float
    record_seconds: float
    isolation_seconds: float
    judge_seconds: float
    status: str


def _harness_run(name: str, case: Case) -> HarnessRun:

    forget_variant_runs()  # a repeat of the case must not reuse the previous run's
    if name == "reference":
        start = time.perf_counter()
        reference_trajectory(case)
        seconds = time.perf_counter() - start
        return HarnessRun(seconds, seconds, 0.0, 0.0, "pass")
    reference = reference_trajectory(case)  # the reference row's cost, not this one's
    start = time.perf_counter()
    recording = record_implementation(name, case)
    recorded = time.perf_counter()
    result, _ = judge(name, case, reference, recording)
    end = time.perf_counter()
    return HarnessRun(end - start, recording.seconds, max(recorded - start - recording.seconds, 0.0), end - recorded,
                      result.status)


@functools.lru_cache(maxsize=None)
def import_seconds(module: str) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    try:
        return float(run.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return float("nan")


def _run_interpreter(command: list[str], env: dict[str, str], cwd: str) -> None:
    subprocess.run(command, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=True)


def bare_runs(name: str, cases: Sequence[Case], repeat: int = 1,
              runner: Callable[[list[str], dict[str, str], str], object] = _run_interpreter,
              env: dict[str, str] | None = None) -> list[tuple[float, list[float]] | None]:
    """Per case, the bare loop's fastest of `repeat` runs (seconds, per-step seconds), None
    where it raised; run in a fresh interpreter that imports only this implementation's
    framework, as the harness's per-framework workers do. Measured: in a process that has
    run torch, MindSpore's GRAPH_MODE compile takes twice as long (0.14 -> 0.29 s per optimizer).
    runner(command, env, cwd) runs that interpreter (the size bench guards its time and
    memory; it raises where the interpreter did not finish); env: its environment (default
    this process's)."""
    with tempfile.TemporaryDirectory() as directory:
        exchange = Path(directory) / "bare.pickle"
        exchange.write_bytes(pickle.dumps((name, list(cases), repeat)))
        env = dict(os.environ if env is None else env,
                   PYTHONPATH=os.pathsep.join(p for p in sys.path if p))  # the same harness
        code = "import sys; from harness.bench import _bare_runs_in_process; _bare_runs_in_process(sys.argv[1])"
        # cwd: where MindSpore leaves its rank_0/ graph dumps
        runner([sys.executable, "-c", code, str(exchange)], env, directory)
        return pickle.loads(exchange.read_bytes())


def _bare_runs_in_process(exchange: str) -> None:

    name, cases, repeat = pickle.loads(Path(exchange).read_bytes())
    # The framework's runtime setup first, as the adapters' loading path makes it (MindSpore:
    # quiet logs, single-threaded dispatch, the CPU device), so both ways run the same dispatch.
    setup(catalogue.framework_of(name))
    loop = resolve(BARE[name])
    runs: list[tuple[float, list[float]] | None] = []
    warmed = False
    for case in cases:
        try:
            if not warmed:  # imports and first-use initialisation, on the first case it accepts
                loop(case, name)
                warmed = True
            fastest = None
            for _ in range(repeat):
                start = time.perf_counter()
                step_seconds = loop(case, name)
                seconds = time.perf_counter() - start
                if fastest is None or seconds < fastest[0]:
                    fastest = (seconds, step_seconds)
            runs.append(fastest)
        except Exception:  # noqa: BLE001 -- the plain call rejects what the harness ran
            runs.append(None)
    Path(exchange).write_bytes(pickle.dumps(runs))


def measure(name: str, cases: Sequence[Case], repeat: int = 1) -> dict:

    # Warm-up on the first case the harness runs (a rejected one, e.g. float64 in
    # MindSpore, reaches no kernel): worker start, imports, first-use initialisation.
    for case in cases:
        if name == "reference" or run_implementation(name, case, reference_trajectory(case))[0].status not in (
                "unsupported", "no-counterpart", "crash"):
            break
    harness_runs = []
    for case in cases:
        runs = [_harness_run(name, case) for _ in range(repeat)]
        harness_runs.append((case, min(runs, key=lambda run: run.seconds)))
    # Neither way runs what the harness marks unsupported (e.g. MindSpore and float64).
    harnessed = [(case, run) for case, run in harness_runs
                 if run.status not in ("unsupported", "no-counterpart", "crash")]
    bared = bare_runs(name, [case for case, _ in harnessed], repeat)
    runnable, harness_seconds, bare_seconds, compile_seconds, steps = [], 0.0, 0.0, [], 0
    parts = dict.fromkeys(("record", "isolation", "judge"), 0.0)
    for (case, run), bare in zip(harnessed, bared):
        if bare is None:
            continue  # the harness ran it, the plain call could not: not comparable
        bare_seconds += bare[0]
        harness_seconds += run.seconds
        parts["record"] += run.record_seconds
        parts["isolation"] += run.isolation_seconds
        parts["judge"] += run.judge_seconds
        runnable.append(case)
        steps += case.num_steps
        step_seconds = bare[1]
        if len(step_seconds) > 1:
            compile_seconds.append(step_seconds[0] - statistics.median(step_seconds[1:]))
    count = len(runnable)
    row = {
        "implementation": name, "case_set": CASE_SET.get(name, "defaults"), "cases": count, "steps": steps,
        "harness_cases_per_second": count / harness_seconds if harness_seconds else float("nan"),
        "harness_steps_per_second": steps / harness_seconds if harness_seconds else float("nan"),
        "bare_cases_per_second": count / bare_seconds if bare_seconds else float("nan"),
        "bare_steps_per_second": steps / bare_seconds if bare_seconds else float("nan"),
        "ratio": harness_seconds / bare_seconds if bare_seconds else float("nan"),
        # The ratio's parts, each over the bare loop's seconds (they add up to the ratio).
        **{f"{part}_over_bare": seconds / bare_seconds if bare_seconds else float("nan")
           for part, seconds in parts.items()},
        "first_step_overhead_seconds": statistics.median(compile_seconds) if compile_seconds else 0.0,
        "import_seconds": import_seconds(IMPORTS[name]),
        "repeat": repeat,
    }
    return row


def run_bench(cases: int = DEFAULT_CASES, implementations: Sequence[str] = DEFAULT_IMPLEMENTATIONS,
              json_path: str | None = None, repeat: int = DEFAULT_REPEAT) -> int:

    case_sets = sorted({CASE_SET.get(name, "defaults") for name in implementations})
    with Progress("bench", total=len(implementations)) as progress:  # on a terminal only
        progress.update(0, "drawing the cases", force=True)
        drawn = {case_set: bench_cases(cases, case_set=case_set) for case_set in case_sets}
        rows = []
        for name in implementations:
            progress.update(len(rows), name, force=True)
            rows.append(measure(name, drawn[CASE_SET.get(name, "defaults")], repeat))
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"{cases} generated cases per case set (seed 0): "
          + ", ".join(f"{case_set} {len(drawn[case_set])}" for case_set in case_sets)
          + "; cases = those neither way rejects; harness = record in the isolated worker + compare + attribution; "
          + f"each case's fastest of {repeat} runs each way")
    print(f"{'implementation':<23}{'case set':<13}{'cases':>6}{'harness case/s':>16}{'step/s':>10}"
          f"{'bare case/s':>13}{'step/s':>10}{'ratio':>8}{'= record':>10}{'+ isolation':>13}{'+ judge':>9}"
          f"{'1st-step extra s':>18}{'import s':>10}")
    for r in rows:
        print(f"{r['implementation']:<23}{r['case_set']:<13}{r['cases']:>6}{r['harness_cases_per_second']:>16.1f}"
              f"{r['harness_steps_per_second']:>10.0f}{r['bare_cases_per_second']:>13.1f}"
              f"{r['bare_steps_per_second']:>10.0f}{r['ratio']:>8.2f}"
              f"{r['record_over_bare']:>10.2f}{r['isolation_over_bare']:>13.2f}{r['judge_over_bare']:>9.2f}"
              f"{r['first_step_overhead_seconds']:>18.4f}"
              f"{r['import_seconds']:>10.2f}")
    print(f"peak RSS: this process {own:.0f} MiB, largest child (harness worker or bare loop) {children:.0f} MiB")
    if json_path:
        write_json({"schema": "optim-parity/bench/5", "versions": versions(), "cases_per_set": cases, "repeat": repeat,
                    "case_sets": {case_set: len(drawn[case_set]) for case_set in case_sets},
                    "implementations": rows, "peak_rss_mib": {"harness": own, "largest_child": children}}, json_path)
    unmeasured = [r["implementation"] for r in rows if not r["cases"]]
    print(verdict_line(0, f"{len(rows) - len(unmeasured)} of {len(rows)} implementation(s) measured (figures, no "
                          f"pass/fail)" + (f"; no case ran both ways on {', '.join(unmeasured)}" if unmeasured else "")))
    return 0
