"""`optim-parity bench --sizes 1e3,1e5,1e6`: how the harness's cost grows with tensor size.

Per size, one float32 parameter of that many elements stepped N times (default 20) with
the default hyperparameters; its values and gradients are standard normal draws of
numpy's default_rng(0), cast to float32 (size_case). Per implementation and size, each
measurement runs `repeat` times (default 3) and its median counts:

    harness   the whole process, as a user meets it: `optim-parity replay CASE --impl
              reference NAME` in a fresh interpreter (the case in a temporary directory,
              as .npz): wall time and peak RSS
    bare proc the bare process (harness/bare_process.py): a fresh interpreter that
              imports the framework and runs the bare loop once; ratio = harness / this
    bare      the implementation's bare loop (harness/bench.py's, in a fresh interpreter
              per implementation and size: one warm-up run, then `repeat` runs) plus the
              import time of its framework (a fresh interpreter)
    parts     where the harness's time goes, in nanoseconds per element-step (elements x
              steps), measured in a fresh interpreter per implementation and size the way
              bench.py's harness runs are: record (the adapter with its read after every
              step, timed inside the worker), transfer (the caller's wait beyond that:
              pickling and moving the trajectory), spec (the reference trajectory),
              compare and attribution (harness/engine.py judge's timing); beside them the
              bare loop's seconds per element-step

Peak RSS is the largest single process of a run's tree: a small wrapper interpreter runs
the command as its child and reads RUSAGE_CHILDREN (the child and the descendants it
waited for: the replay's caller or its framework worker, whichever is larger; the
harness waits for its workers at exit). A child's ru_maxrss starts at the peak of the
process it forked from, hence the wrapper, not the bench's process that holds the cases.
The JSON also has the tree's summed RSS, sampled every POLL_SECONDS.

Every run is guarded: past `timeout` seconds or over `memory_cap_mib` of summed RSS its
session is killed and the row says so ("timed out", "over N MiB") instead of a figure;
the rest of that measurement's repeats are skipped. A size over the case budget (OPTIM_PARITY_CASE_BUDGET, harness/settings.py)
gets a larger one in its subprocesses' environment, and the output says so.
Figures, not assertions: the command exits 0.
"""

from __future__ import annotations

import argparse
import os
import pickle
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np

from harness.adapters.reference import ReferenceAdapter
from harness.attribution import forget_variant_runs
from harness.bench import BARE, IMPORTS, bare_runs, import_seconds
from harness.casefile import Case, ParamSpec, save_case
from harness.console import Progress, verdict_line
from harness.engine import judge, record_implementation
from harness.recording import Recording
from harness.results import versions, write_json
from harness.settings import CASE_BUDGET_ENV, CASE_TIMEOUT_ENV, case_budget
from harness.trajectory import reference_trajectory

DEFAULT_IMPLEMENTATIONS = ("reference", "torch", "mindspore")
DEFAULT_STEPS = 20
DEFAULT_REPEAT = 3
RUN_TIMEOUT_SECONDS = 300.0
RUN_MEMORY_CAP_MIB = 8192
POLL_SECONDS = 0.05
PARTS = ("record", "transfer", "spec", "compare", "attribution")
SCHEMA = "optim-parity/bench-sizes/1"

_SIZE = re.compile(r"\d+(\.\d+)?([eE]\+?\d{1,2})?")


def parse_sizes(text: str) -> list[int]:
    """"1e3,1e5,100000" -> [1000, 100000] (ascending, each once): positive whole numbers
    of elements, written as digits or in e-notation. An argparse type: a bad value is
    argparse's one-line error."""
    sizes = []
    for item in text.split(","):
        item = item.strip()
        value = Decimal(item) if _SIZE.fullmatch(item) else None
        if value is None or value <= 0 or value != value.to_integral_value():
            raise argparse.ArgumentTypeError(f"{item!r} is not a positive whole number of elements (e.g. 1e5 or 100000)")
        sizes.append(int(value))
    return sorted(set(sizes))


def size_case(elements: int, steps: int) -> Case:
    """One float32 parameter of `elements` values, `steps` gradients, default hyperparameters;
    values then gradients drawn standard normal from default_rng(0), cast to float32."""
    rng = np.random.default_rng(0)
    value = rng.standard_normal(elements).astype(np.float32)
    grads = tuple((rng.standard_normal(elements).astype(np.float32),) for _ in range(steps))
    return Case(dtype="float32", hyperparameters={}, params=(ParamSpec("w", (elements,), value),), grads=grads,
                comment=f"bench --sizes: {elements} elements x {steps} steps, default_rng(0)")


def write_case(case: Case, directory: Path) -> tuple[Path, str]:
    """The case file the replays read, in the binary form (harness/casefile_npz.py).
    Returns (path, its form)."""
    return save_case(case, directory / "case.npz"), "npz"


# --------------------------------------------------------------------------- guarded runs

class Guarded(NamedTuple):
    seconds: float
    returncode: int
    peak_rss_mib: float  # the largest process of the tree (RUSAGE_CHILDREN of a wrapper); 0 if stopped
    tree_rss_mib: float  # the tree's summed RSS, sampled
    stopped: str  # "" or why the bench stopped it
    output: str


def _session_rss_mib(session: int) -> float:
    """The summed RSS of the processes of a session (the run's tree: its leader started one)."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fields = Path(entry.path, "stat").read_text().rpartition(")")[2].split()
        except OSError:  # ended meanwhile
            continue
        if int(fields[3]) == session:
            total += int(fields[21])  # rss, pages
    return total * os.sysconf("SC_PAGE_SIZE") / 2**20


# Runs the command as its child and writes its wall seconds, its tree's largest RSS
# (RUSAGE_CHILDREN: the child and the descendants it waited for) and its exit code to
# argv[1]. A child's ru_maxrss starts at its parent's peak (the memory it forked from), so
# the child of this small interpreter is measured, not a child of the bench's process,
# which holds the cases.
_WRAPPER = ("import resource, subprocess, sys, time; start = time.perf_counter(); code = subprocess.call(sys.argv[2:]); "
            "seconds = time.perf_counter() - start; open(sys.argv[1], 'w').write("
            "f'{seconds} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss} {code}'); "
            "sys.exit(code if code >= 0 else 128 - code)")


def run_guarded(command: list[str], env: dict[str, str], cwd: str, timeout: float, memory_cap_mib: float) -> Guarded:
    """Run a command in its own session, killing the session past `timeout` seconds or
    over `memory_cap_mib` of summed RSS; output (stdout and stderr) kept in a file in cwd."""
    output = Path(tempfile.mkstemp(dir=cwd, suffix=".out")[1])
    report = Path(tempfile.mkstemp(dir=cwd, suffix=".rusage")[1])
    with output.open("wb") as sink:
        start = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-c", _WRAPPER, str(report), *command], env=env, cwd=cwd,
                                   stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    stopped, tree_peak = "", 0.0
    try:
        while process.poll() is None:
            tree = _session_rss_mib(process.pid)
            tree_peak = max(tree_peak, tree)
            if time.perf_counter() - start > timeout:
                stopped = f"timed out after {timeout:g} s"
            elif tree > memory_cap_mib:
                stopped = f"over {memory_cap_mib:g} MiB"
            if stopped:
                break
            time.sleep(POLL_SECONDS)
        seconds = time.perf_counter() - start
    finally:
        try:  # the whole session: a stopped run, or what is left of one (Ctrl-C here)
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        process.wait()
    measured = report.read_text().split()
    peak_mib, returncode = 0.0, process.returncode
    if len(measured) == 3 and not stopped:  # the wrapper's own figures: no interpreter start in them
        seconds, peak_mib, returncode = float(measured[0]), int(measured[1]) / 1024, int(measured[2])
    text = output.read_text(errors="replace")
    output.unlink()
    report.unlink()
    return Guarded(seconds, returncode, peak_mib, tree_peak, stopped, text)


class Unfinished(Exception):
    def __init__(self, run: Guarded) -> None:
        super().__init__(run.stopped or f"exit {run.returncode}")
        self.run = run


def _why(run: Guarded) -> str:
    lines = [line for line in run.output.splitlines() if line.strip()]
    return run.stopped or f"exit {run.returncode}: {lines[-1][:120] if lines else 'no output'}"


# --------------------------------------------------------------------------- measuring

def _parts_in_process(exchange: str) -> None:
    """In a fresh interpreter: the per-part seconds of `repeat` harness runs of the case,
    written to the exchange file after every phase (a run stopped midway leaves those done)."""
    name, case, repeat = pickle.loads(Path(exchange).read_bytes())
    parts: dict[str, list[float]] = {part: [] for part in PARTS}
    status = ""

    def keep() -> None:
        Path(exchange + ".tmp").write_bytes(pickle.dumps((parts, status)))
        os.replace(exchange + ".tmp", exchange + ".out")

    if name != "reference":  # the worker's start and its framework's import, on a one-element case
        record_implementation(name, size_case(1, 1))
    for _ in range(repeat):
        forget_variant_runs()  # a repeat must not reuse the previous run's attribution
        start = time.perf_counter()
        reference = reference_trajectory(case)
        parts["spec"].append(time.perf_counter() - start)
        if name == "reference":  # as run_case: the spec's run is its recording
            recording = Recording(description=ReferenceAdapter.description, trajectory=reference)
            parts["record"].append(0.0)
            parts["transfer"].append(0.0)
        else:
            start = time.perf_counter()
            recording = record_implementation(name, case)
            waited = time.perf_counter() - start
            parts["record"].append(recording.seconds)
            parts["transfer"].append(max(waited - recording.seconds, 0.0))
        keep()
        result, _ = judge(name, case, reference, recording)
        parts["compare"].append(result.timing.compare_seconds)
        parts["attribution"].append(result.timing.attribution_seconds)
        status = result.status
        keep()
        del reference, recording, result


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def measure_size(name: str, case: Case, case_path: Path, env: dict[str, str], directory: str, repeat: int,
                 timeout: float, memory_cap_mib: float) -> dict:
    elements, steps = case.params[0].value.size, case.num_steps
    stopped: dict[str, str] = {}

    def guarded(command: list[str], run_env: dict[str, str], cwd: str) -> Guarded:
        run = run_guarded(command, run_env, cwd, timeout, memory_cap_mib)
        if run.stopped or run.returncode != 0:
            raise Unfinished(run)
        return run

    # The whole process, `repeat` fresh replays (exit 1: a violation, still a whole run).
    replays: list[Guarded] = []
    status = ""
    for _ in range(repeat):
        run = run_guarded([sys.executable, "-m", "harness", "replay", str(case_path), "--impl",
                           *dict.fromkeys(["reference", name])], env, directory, timeout, memory_cap_mib)
        if run.stopped or run.returncode not in (0, 1):
            stopped["harness"] = _why(run)
            break
        replays.append(run)
        status = next((line.split()[1] for line in run.output.splitlines()
                       if line.split()[:1] == [name] and len(line.split()) > 1), status)
    # The bare loop: one fresh interpreter, a warm-up and `repeat` runs of the case.
    bare_rss = None
    try:
        held: list[Guarded] = []
        runs = bare_runs(name, [case] * repeat, 1, runner=lambda *a: held.append(guarded(*a)), env=env)
        bare_rss = held[0].peak_rss_mib
        bare_seconds = [run[0] for run in runs if run is not None]
        if not bare_seconds:
            stopped["bare"] = "the bare loop raised"
    except Unfinished as unfinished:
        stopped["bare"], bare_seconds = _why(unfinished.run), []
    # The bare process: a fresh interpreter that imports the framework and runs the bare
    # loop once, as a user's script would (its first step's lazy initialisation included:
    # torch's first Adam step in a process takes about a second), `repeat` times.
    bare_process: list[float] = []
    exchange = Path(tempfile.mkstemp(dir=directory, suffix=".bare")[1])
    exchange.write_bytes(pickle.dumps((name, case)))
    try:
        for _ in range(repeat):
            bare_process.append(guarded([sys.executable, "-m", "harness.bare_process", str(exchange)], env,
                                        directory).seconds)
    except Unfinished as unfinished:
        stopped["bare process"] = _why(unfinished.run)
    exchange.unlink()
    # The parts: one fresh interpreter, the harness's phases `repeat` times.
    parts: dict[str, list[float]] = {part: [] for part in PARTS}
    exchange = Path(tempfile.mkstemp(dir=directory, suffix=".parts")[1])
    exchange.write_bytes(pickle.dumps((name, case, repeat)))
    code = "import sys; from harness.bench_sizes import _parts_in_process; _parts_in_process(sys.argv[1])"
    try:
        guarded([sys.executable, "-c", code, str(exchange)], env, directory)
    except Unfinished as unfinished:
        stopped["parts"] = _why(unfinished.run)
    done = Path(f"{exchange}.out")
    if done.exists():
        parts, parts_status = pickle.loads(done.read_bytes())
        status = status or parts_status
        done.unlink()
    exchange.unlink()

    harness_seconds, bare_loop = _median([r.seconds for r in replays]), _median(bare_seconds)
    bare_whole = _median(bare_process)
    imported = import_seconds(IMPORTS[name])
    per = 1e9 / (elements * steps)
    ns = {part: (None if _median(values) is None else _median(values) * per) for part, values in parts.items()}
    ns["bare"] = None if bare_loop is None else bare_loop * per
    return {
        "implementation": name, "elements": elements, "steps": steps, "element_steps": elements * steps,
        "status": status, "harness_seconds": harness_seconds, "harness_runs": [r.seconds for r in replays],
        "bare_seconds": bare_loop, "bare_runs": bare_seconds, "import_seconds": imported,
        "bare_process_seconds": bare_whole, "bare_process_runs": bare_process,
        # The figure: the whole replay over the whole bare process.
        "ratio": (harness_seconds / bare_whole if harness_seconds is not None and bare_whole else None),
        "ratio_to_loop_and_import": (harness_seconds / (bare_loop + imported)
                                     if harness_seconds is not None and bare_loop is not None else None),
        "harness_peak_rss_mib": max((r.peak_rss_mib for r in replays), default=None),
        "harness_tree_rss_mib": max((r.tree_rss_mib for r in replays), default=None),
        "bare_peak_rss_mib": bare_rss,
        "ns_per_element_step": ns, "part_runs": parts, "stopped": stopped,
    }


# --------------------------------------------------------------------------- the command

def _cell(x: float | None, width: int) -> str:
    """A figure to about 3 significant digits, never in e-notation; "-" where there is none."""
    if x is None:
        return f"{'-':>{width}}"
    text = f"{x:.0f}" if abs(x) >= 100 else f"{x:.1f}" if abs(x) >= 10 else \
        np.format_float_positional(x, precision=3 if abs(x) >= 0.001 else 2, fractional=False, trim="-")
    return f"{text:>{width}}"


def format_rows(rows: Sequence[dict]) -> list[str]:
    width = max([len("implementation"), *(len(r["implementation"]) for r in rows)]) + 2
    lines = [f"{'':<{width}}{'':>9}{'':>6}{'seconds (median)':>39}{'':>7}{'peak RSS MiB':>15}"
             f"{'ns per element-step (median)':>52}",
             f"{'implementation':<{width}}{'elements':>9}{'steps':>6}{'harness':>10}{'bare proc':>10}"
             f"{'bare loop':>10}{'+ import':>9}{'ratio':>7}{'harness':>9}{'bare':>6}{'record':>9}{'transfer':>9}"
             f"{'spec':>8}{'compare':>9}{'attrib.':>9}{'bare':>8}  status"]
    for r in rows:
        ns = r["ns_per_element_step"]
        note = "; ".join(f"{what}: {why}" for what, why in r["stopped"].items())
        lines.append(
            f"{r['implementation']:<{width}}{r['elements']:>9}{r['steps']:>6}{_cell(r['harness_seconds'], 10)}"
            f"{_cell(r['bare_process_seconds'], 10)}{_cell(r['bare_seconds'], 10)}{_cell(r['import_seconds'], 9)}"
            f"{_cell(r['ratio'], 7)}"
            f"{_cell(r['harness_peak_rss_mib'], 9)}{_cell(r['bare_peak_rss_mib'], 6)}{_cell(ns['record'], 9)}"
            f"{_cell(ns['transfer'], 9)}{_cell(ns['spec'], 8)}{_cell(ns['compare'], 9)}"
            f"{_cell(ns['attribution'], 9)}{_cell(ns['bare'], 8)}  {r['status'] or '-'}"
            + (f" ({note})" if note else ""))
    return lines


def _measure_all(sizes: Sequence[int], implementations: Sequence[str], steps: int, env: dict[str, str], repeat: int,
                 timeout: float, memory_cap_mib: float) -> tuple[list[dict], dict[int, str]]:
    rows, formats = [], {}
    with tempfile.TemporaryDirectory(prefix="optim-parity-bench-sizes-") as directory, \
            Progress("bench", total=len(sizes) * len(implementations)) as progress:
        for size in sizes:
            progress.update(len(rows), f"{size} elements: writing the case", force=True)
            case = size_case(size, steps)
            case_path, formats[size] = write_case(case, Path(directory))
            for name in implementations:
                progress.update(len(rows), f"{name}, {size} elements", force=True)
                rows.append(measure_size(name, case, case_path, env, directory, repeat, timeout, memory_cap_mib))
            case_path.unlink()
            del case
    return rows, formats


def run_size_bench(sizes: Sequence[int], implementations: Sequence[str] = DEFAULT_IMPLEMENTATIONS,
                   steps: int = DEFAULT_STEPS, json_path: str | None = None, repeat: int = DEFAULT_REPEAT,
                   timeout: float = RUN_TIMEOUT_SECONDS, memory_cap_mib: float = RUN_MEMORY_CAP_MIB) -> int:
    sizes = sorted(set(sizes))
    unknown = [name for name in implementations if name not in BARE]
    if unknown:
        raise ValueError(f"no bare loop for {', '.join(unknown)}")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p),  # the same harness
               **{CASE_TIMEOUT_ENV: f"{timeout:g}"})  # the bench's guard, not the worker's timeout, stops a run
    notes = [f"per run: stopped past {timeout:g} s or over {memory_cap_mib:g} MiB (summed RSS of its processes)"]
    needed, budget = max(sizes) * steps, case_budget()
    if needed > budget:
        env[CASE_BUDGET_ENV] = str(needed + needed // 10)
        notes.append(f"{CASE_BUDGET_ENV}={env[CASE_BUDGET_ENV]} set for the runs and this process ({max(sizes)} "
                     f"elements x {steps} steps is over the budget of {budget})")
    previous = os.environ.get(CASE_BUDGET_ENV)
    os.environ[CASE_BUDGET_ENV] = env.get(CASE_BUDGET_ENV, str(budget))  # as the replays have it
    try:
        rows, formats = _measure_all(sizes, implementations, steps, env, repeat, timeout, memory_cap_mib)
    finally:
        if previous is None:
            del os.environ[CASE_BUDGET_ENV]
        else:
            os.environ[CASE_BUDGET_ENV] = previous
    print(f"{len(sizes)} size(s), one float32 parameter each, {steps} steps, default hyperparameters, values and "
          f"gradients standard normal (default_rng(0)); median of {repeat} run(s) of each measurement")
    print("harness = `optim-parity replay CASE --impl reference NAME`, whole process (case file: "
          + ", ".join(sorted(set(formats.values()))) + "); bare proc = a fresh interpreter that imports the "
          "framework and runs the bare loop once (first-use initialisation included); ratio = harness / bare proc; "
          "bare loop = the loop alone after a warm-up, + import = its framework's import; peak RSS = the run's "
          "largest process (the replay's caller or its worker); parts timed in a fresh interpreter, as bench's "
          "harness runs")
    for line in format_rows(rows):
        print(line)
    for note in notes:
        print(f"note: {note}")
    if json_path:
        write_json({"schema": SCHEMA, "versions": versions(), "sizes": sizes, "steps": steps, "repeat": repeat,
                    "case_format": formats, "timeout_seconds": timeout, "memory_cap_mib": memory_cap_mib,
                    "case_budget": int(env.get(CASE_BUDGET_ENV, case_budget())), "rows": rows}, json_path)
    stopped = [f"{r['implementation']} {r['elements']} ({', '.join(r['stopped'])})" for r in rows if r["stopped"]]
    print(verdict_line(0, f"{len(rows) - len(stopped)} of {len(rows)} implementation x size row(s) measured in full "
                          f"(figures, no pass/fail)" + (f"; not in full: {'; '.join(stopped)}" if stopped else "")))
    return 0
