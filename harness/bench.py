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
where that would not exercise what defines the implementation (CASE_SET): row-sparse
gradients for torch-sparse and mindspore-target-cpu (cases/test_sparse_lazy.py's
strategy), per-step lr lists for mindspore-lr-tensor / -lr-schedule (on a single lr
their adapters pass a number, i.e. they are `mindspore`). Both ways of a row run the same
cases, so ratios compare across rows; cases/s only within a case set.
"""

from __future__ import annotations

import functools
import importlib
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

import numpy as np

from harness import catalogue
from harness.casefile import Case
from harness.results import versions, write_json

DEFAULT_CASES = 20
DEFAULT_REPEAT = 3


def bench_cases(count: int, seed: int = 0, case_set: str = "defaults") -> list[Case]:
    from harness.strategies import lr_schedule_cases, row_cases, sparse_cases
    from harness.sweep import draw_cases

    strategies = {"defaults": lambda: row_cases("defaults"), "row-sparse": sparse_cases,
                  "lr-schedule": lr_schedule_cases}
    return draw_cases(strategies[case_set](), count, seed)


# --------------------------------------------------------------------------- bare loops
# One step = assign the gradients + optimizer step, timed; the first one carries
# first-use costs (MindSpore's graph compile). Cases with param_groups are not drawn by
# any case set, so the bare loops pass the parameters as one group.

def _bare_reference(case: Case) -> list[float]:
    """The spec's own calls for the case: adam_step per parameter per step, in the case's
    storage dtype (values beyond its range are inf, reference/adam.py storage_dtype)."""
    from reference.adam import adam_step, init_state

    states = [init_state(p.value.astype(np.float64)) for p in case.params]
    beta1, beta2 = case.hp("betas")
    for grads in case.grads:
        states = [adam_step(s, g.astype(np.float64), lr=case.hp("lr"), beta1=beta1, beta2=beta2, eps=case.hp("eps"),
                            storage_dtype=case.dtype)
                  for s, g in zip(states, grads)]
    return [0.0] * len(case.grads)


def _bare_torch(case: Case, optimizer_class: str = "Adam", tensor_lr: bool = False, lr_scheduler: bool = False,
                **options) -> list[float]:
    """torch.optim.<optimizer_class>(..., **options): foreach / fused / differentiable.
    tensor_lr: lr as a float64 0-d Tensor (holds the case's lr exactly, as the adapter);
    lr_scheduler: LambdaLR stepped after every optimizer step, factor lr[k] / lr[0]."""
    import torch

    def parameter(p):
        value = torch.from_numpy(p.value.reshape(p.shape).copy())
        if options.get("differentiable"):
            # torch refuses in-place updates of leaves that require grad under autograd.
            tensor = value.requires_grad_(True).clone()
            tensor.retain_grad()
            return tensor
        return torch.nn.Parameter(value)

    tensors = [parameter(p) for p in case.params]
    # A per-step lr list reaches torch only through the scheduler here (CASE_SET draws
    # no lr lists for the other torch forms).
    lrs = case.hp("lr") if isinstance(case.hp("lr"), list) else [case.hp("lr")]
    optimizer = getattr(torch.optim, optimizer_class)(
        tensors, lr=torch.tensor(lrs[0], dtype=torch.float64) if tensor_lr else lrs[0],
        betas=tuple(case.hp("betas")), eps=case.hp("eps"), weight_decay=case.hp("weight_decay"),
        amsgrad=case.hp("amsgrad"), **options)
    scheduler = (torch.optim.lr_scheduler.LambdaLR(optimizer, lambda k: lrs[min(k, len(lrs) - 1)] / lrs[0])
                 if lr_scheduler else None)
    step_seconds = []
    for grads in case.grads:
        start = time.perf_counter()
        for tensor, grad in zip(tensors, grads):
            tensor.grad = torch.from_numpy(grad.reshape(tensor.shape).copy())
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        step_seconds.append(time.perf_counter() - start)
    [t.detach().numpy().copy() for t in tensors]
    return step_seconds


def _bare_torch_sparse(case: Case) -> list[float]:
    """torch.optim.SparseAdam fed sparse COO gradients (the case's listed rows)."""
    import torch

    from harness.row_sparse import row_sparse

    tensors = [torch.nn.Parameter(torch.from_numpy(p.value.reshape(p.shape).copy())) for p in case.params]
    optimizer = torch.optim.SparseAdam(tensors, lr=case.hp("lr"), betas=tuple(case.hp("betas")), eps=case.hp("eps"))
    step_seconds = []
    for step, grads in enumerate(case.grads):
        pieces = [row_sparse(case, step, j, grad) for j, grad in enumerate(grads)]  # what backward would hand over
        start = time.perf_counter()
        for tensor, (indices, values) in zip(tensors, pieces):
            # No invariant check (the adapter's check_invariants=True): row_sparse's indices are in range.
            tensor.grad = torch.sparse_coo_tensor(torch.from_numpy(indices)[None, :], torch.from_numpy(values),
                                                  tensor.shape, check_invariants=False)
        optimizer.step()
        step_seconds.append(time.perf_counter() - start)
    [t.detach().numpy().copy() for t in tensors]
    return step_seconds


def _mindspore_optimizer(case: Case, lr_form: str = "list"):
    """(parameters, nn.Adam), built in the mode the caller set."""
    adapter = importlib.import_module("harness.adapters.mindspore_adam")
    from mindspore import Parameter, Tensor, nn

    parameters = [Parameter(Tensor(p.value.reshape(p.shape).copy()), name=p.name) for p in case.params]
    beta1, beta2 = case.hp("betas")
    lr = case.hp("lr")
    optimizer = nn.Adam(parameters, learning_rate=adapter.LR_FORMS[lr_form](lr) if isinstance(lr, list) else lr,
                        beta1=beta1, beta2=beta2, eps=case.hp("eps"), weight_decay=case.hp("weight_decay"),
                        use_amsgrad=case.hp("amsgrad"), use_lazy=case.hp("use_lazy"))
    return parameters, optimizer


def _timed_mindspore_steps(case: Case, parameters, optimizer) -> list[float]:
    """Step a MindSpore optimizer cell with each step's dense gradients (timed), then read
    the parameters back once."""
    from mindspore import Tensor

    step_seconds = []
    for grads in case.grads:
        start = time.perf_counter()
        optimizer(tuple(Tensor(g.reshape(p.shape)) for g, p in zip(grads, case.params)))
        step_seconds.append(time.perf_counter() - start)
    [p.asnumpy().copy() for p in parameters]
    return step_seconds


def _bare_mindspore(case: Case, graph: bool = False, lr_form: str = "list") -> list[float]:
    """nn.Adam, PyNative or GRAPH_MODE (set for the run, the previous mode restored after,
    as the adapter does); lr_form: how a per-step lr list is passed (list, 1-d Tensor,
    LearningRateSchedule)."""
    # First: the adapter module quiets MindSpore's glog and sets the context (CPU, PyNative).
    adapter = importlib.import_module("harness.adapters.mindspore_adam")
    import mindspore as ms

    with adapter.execution_mode(ms.GRAPH_MODE if graph else ms.PYNATIVE_MODE):
        parameters, optimizer = _mindspore_optimizer(case, lr_form)
        return _timed_mindspore_steps(case, parameters, optimizer)


def _bare_mindspore_target_cpu(case: Case) -> list[float]:
    """nn.Adam(use_lazy=...) under GRAPH_MODE with optimizer.target = 'CPU', fed RowTensor
    gradients; a RowTensor exists only inside a graph, hence the adapter's small cell
    that builds them from (indices, values) and calls the optimizer."""
    # First: the adapter module quiets MindSpore's glog and sets the context (CPU, PyNative).
    adapter = importlib.import_module("harness.adapters.mindspore_adam")
    import mindspore as ms
    from mindspore import Tensor

    from harness.row_sparse import row_sparse

    with adapter.execution_mode(ms.GRAPH_MODE):
        parameters, optimizer = _mindspore_optimizer(case)
        optimizer.target = "CPU"
        sparse_step = adapter._RowSparseStep(optimizer, tuple(tuple(p.shape) for p in parameters))
        step_seconds = []
        for step, grads in enumerate(case.grads):
            pieces = [row_sparse(case, step, j, grad) for j, grad in enumerate(grads)]
            start = time.perf_counter()
            sparse_step(*(tensor for indices, values in pieces
                          for tensor in (Tensor(indices.astype(np.int32)), Tensor(values))))
            step_seconds.append(time.perf_counter() - start)
    [p.asnumpy().copy() for p in parameters]
    return step_seconds


def _bare_mindspore_mint(case: Case, graph: bool = False) -> list[float]:
    """mindspore.mint.optim.Adam in PyNative (as its users call it), or under GRAPH_MODE."""
    # First: the adapter module quiets MindSpore's glog and sets the context (CPU, PyNative).
    adapter = importlib.import_module("harness.adapters.mindspore_adam")
    import mindspore as ms
    from mindspore import Parameter, Tensor, mint

    with adapter.execution_mode(ms.GRAPH_MODE if graph else ms.PYNATIVE_MODE):
        parameters = [Parameter(Tensor(p.value.reshape(p.shape).copy()), name=p.name) for p in case.params]
        optimizer = mint.optim.Adam(parameters, lr=float(case.hp("lr")), betas=tuple(case.hp("betas")),
                                    eps=case.hp("eps"), weight_decay=case.hp("weight_decay"),
                                    amsgrad=case.hp("amsgrad"))
        return _timed_mindspore_steps(case, parameters, optimizer)


# name -> the bare loop of that implementation (every name of the catalogue, harness/catalogue.py).
BARE: dict[str, Callable[[Case], list[float]]] = {
    "reference": _bare_reference,
    "torch": _bare_torch,
    "torch-foreach": functools.partial(_bare_torch, foreach=True),
    "torch-fused": functools.partial(_bare_torch, fused=True),
    "torch-adamw": functools.partial(_bare_torch, optimizer_class="AdamW"),  # weight_decay from the case: 0 here
    "torch-tensor-lr": functools.partial(_bare_torch, tensor_lr=True),
    "torch-differentiable": functools.partial(_bare_torch, differentiable=True),
    "torch-lr-scheduler": functools.partial(_bare_torch, lr_scheduler=True),
    "torch-sparse": _bare_torch_sparse,
    "mindspore": _bare_mindspore,
    "mindspore-graph": functools.partial(_bare_mindspore, graph=True),
    "mindspore-target-cpu": _bare_mindspore_target_cpu,
    "mindspore-mint": _bare_mindspore_mint,
    "mindspore-mint-graph": functools.partial(_bare_mindspore_mint, graph=True),
    "mindspore-lr-tensor": functools.partial(_bare_mindspore, lr_form="tensor"),
    "mindspore-lr-schedule": functools.partial(_bare_mindspore, lr_form="schedule"),
}

# Every implementation of the catalogue (tests/test_bench.py: each has a bare loop): with
# 20 cases the 15 took 113 s on 2 loaded cores (reference, torch and mindspore alone: 17 s).
DEFAULT_IMPLEMENTATIONS = catalogue.DEFAULT_IMPLEMENTATIONS

# name -> the cases it is benched on (bench_cases); absent: "defaults".
CASE_SET = {
    "torch-sparse": "row-sparse",  # SparseAdam rejects dense gradients
    "mindspore-target-cpu": "row-sparse",  # with dense gradients it is mindspore-graph
    "mindspore-lr-tensor": "lr-schedule",  # with a single lr it is mindspore
    "mindspore-lr-schedule": "lr-schedule",
}

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
    from harness.attribution import forget_variant_runs
    from harness.engine import judge, record_implementation
    from harness.trajectory import reference_trajectory

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
def _import_seconds(module: str) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    try:
        return float(run.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return float("nan")


def _bare_runs(name: str, cases: Sequence[Case], repeat: int = 1) -> list[tuple[float, list[float]] | None]:
    """Per case, the bare loop's fastest of `repeat` runs (seconds, per-step seconds), None
    where it raised; run in a fresh interpreter that imports only this implementation's
    framework, as the harness's per-framework workers do. Measured: in a process that has
    run torch, MindSpore's GRAPH_MODE compile takes twice as long (0.14 -> 0.29 s per optimizer)."""
    with tempfile.TemporaryDirectory() as directory:
        exchange = Path(directory) / "bare.pickle"
        exchange.write_bytes(pickle.dumps((name, list(cases), repeat)))
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))  # the same harness
        code = "import sys; from harness.bench import _bare_runs_in_process; _bare_runs_in_process(sys.argv[1])"
        # cwd: where MindSpore leaves its rank_0/ graph dumps
        subprocess.run([sys.executable, "-c", code, str(exchange)], env=env, cwd=directory,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=True)
        return pickle.loads(exchange.read_bytes())


def _bare_runs_in_process(exchange: str) -> None:
    name, cases, repeat = pickle.loads(Path(exchange).read_bytes())
    runs: list[tuple[float, list[float]] | None] = []
    warmed = False
    for case in cases:
        try:
            if not warmed:  # imports and first-use initialisation, on the first case it accepts
                BARE[name](case)
                warmed = True
            fastest = None
            for _ in range(repeat):
                start = time.perf_counter()
                step_seconds = BARE[name](case)
                seconds = time.perf_counter() - start
                if fastest is None or seconds < fastest[0]:
                    fastest = (seconds, step_seconds)
            runs.append(fastest)
        except Exception:  # noqa: BLE001 -- the plain call rejects what the harness ran
            runs.append(None)
    Path(exchange).write_bytes(pickle.dumps(runs))


def measure(name: str, cases: Sequence[Case], repeat: int = 1) -> dict:
    from harness.engine import run_implementation
    from harness.trajectory import reference_trajectory

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
    bare_runs = _bare_runs(name, [case for case, _ in harnessed], repeat)
    runnable, harness_seconds, bare_seconds, compile_seconds, steps = [], 0.0, 0.0, [], 0
    parts = dict.fromkeys(("record", "isolation", "judge"), 0.0)
    for (case, run), bare in zip(harnessed, bare_runs):
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
        "import_seconds": _import_seconds(IMPORTS[name]),
        "repeat": repeat,
    }
    return row


def run_bench(cases: int = DEFAULT_CASES, implementations: Sequence[str] = DEFAULT_IMPLEMENTATIONS,
              json_path: str | None = None, repeat: int = DEFAULT_REPEAT) -> int:
    from harness.console import Progress, verdict_line

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
