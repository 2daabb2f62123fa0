"""Crash isolation with real processes that die: an aborting and a hanging implementation
are recorded as `crash` (signal / timeout) while the other implementations' verdicts for
the same case still arrive, and the next case runs on a fresh worker."""

import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXTRA = (f"crash-abort={HERE / 'crashing_adapters.py'}:AbortAdapter;"
         f"crash-hang={HERE / 'crashing_adapters.py'}:HangAdapter")

SCRIPT = """
import json, sys
from harness.casefile import case_from_dict
from harness.conformance import check_case
case = case_from_dict({"schema": "optim-parity/case/1", "dtype": "float32", "hyperparameters": {},
                       "params": [{"name": "w", "shape": [2], "value": [0.5, -1.0]}],
                       "grads": [[[0.1, -0.2]], [[0.3, 0.1]], [[0.2, 0.2]]]})
out = []
for _ in range(2):  # the second case runs after the workers died: they are restarted
    results = check_case(case, ["reference", "crash-abort", "torch", "crash-hang", "mindspore"])
    out.append([[r.implementation, r.status, r.message.splitlines()[0] if r.message else ""] for r in results])
print(json.dumps(out))
"""


def test_aborting_and_hanging_implementations_are_crashes_and_the_others_still_report():
    env = dict(os.environ, OPTIM_PARITY_EXTRA_IMPLEMENTATIONS=EXTRA, OPTIM_PARITY_CASE_TIMEOUT="8",
               OPTIM_PARITY_ISOLATION="1")
    run = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    for results in json.loads(run.stdout.strip().splitlines()[-1]):
        by_name = {name: (status, message) for name, status, message in results}
        assert by_name["crash-abort"][0] == "crash" and "SIGABRT" in by_name["crash-abort"][1]
        assert by_name["crash-hang"][0] == "crash" and "timeout after 8 s" in by_name["crash-hang"][1]
        assert by_name["reference"][0] == "pass" and by_name["torch"][0] == "pass"
        assert by_name["mindspore"][0] in ("pass", "known")


def test_in_process_mode_is_available_for_debugging():
    env = dict(os.environ, OPTIM_PARITY_ISOLATION="0")
    code = ("from harness import isolation; from harness.casefile import load_case; "
            "from harness.conformance import check_case; assert not isolation.enabled(); "
            "r = check_case(load_case('cases/reproducers/torch-lerp-complement.json'), ['reference', 'torch']); "
            "assert r[1].status == 'known', r[1].status; assert isolation._pool is None; print('ok')")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300,
                         cwd=HERE.parent)
    assert run.stdout.strip() == "ok", run.stderr[-2000:]


# A script as a user writes it: no `if __name__ == "__main__":` guard. Workers are fresh
# interpreters, so nothing re-imports it (multiprocessing's spawn did, and failed).
UNGUARDED_SCRIPT = """
import json
import numpy as np
from harness import isolation
from harness.casefile import case_from_dict
from harness.conformance import check_case
from harness.recording import record_in_process
case = case_from_dict({"schema": "optim-parity/case/1", "dtype": "float32", "hyperparameters": {"amsgrad": True},
                       "params": [{"name": "w", "shape": [2, 3], "value": [0.5, -1.0, 2.0, 0.25, 3.0, -0.5]}],
                       "grads": [[[0.1, -0.2, 0.3, 0.0, 1e-3, -4.0]]] * 4})
results = check_case(case, ["reference", "torch"])
isolated = isolation.pool().record("torch", "torch", case)
in_process = record_in_process("torch", case)
same = all(np.array_equal(values, in_process.trajectory.data["w"][quantity])
           and values.dtype == in_process.trajectory.data["w"][quantity].dtype and values.flags.writeable
           for quantity, values in isolated.trajectory.data["w"].items())
print(json.dumps([[r.implementation, r.status] for r in results] + [same]))
"""


def test_a_script_without_a_main_guard_runs_isolated(tmp_path):
    script = tmp_path / "check_without_guard.py"
    script.write_text(UNGUARDED_SCRIPT)
    path = os.pathsep.join(filter(None, [str(HERE.parent), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, OPTIM_PARITY_ISOLATION="1", PYTHONPATH=path)
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300,
                         cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    # The trajectory crossed the socket as out-of-band pickle-5 buffers: the same values
    # as recorded in process, in writable arrays.
    assert json.loads(run.stdout.strip().splitlines()[-1]) == [["reference", "pass"], ["torch", "pass"], True]


def test_a_worker_never_starts_workers(monkeypatch):
    """Inside a worker (the variable its parent sets) recording in a worker is refused: a
    caller's script imported there by accident (a file beside it shadowing a standard
    module) must not multiply processes."""
    from harness import isolation
    from harness.casefile import case_from_dict
    from harness.conformance import check_case

    monkeypatch.setenv("OPTIM_PARITY_ISOLATION", "1")
    monkeypatch.setenv(isolation.INSIDE_WORKER_ENV, "1")
    case = case_from_dict({"schema": "optim-parity/case/1", "dtype": "float32", "hyperparameters": {},
                           "params": [{"name": "w", "shape": [1], "value": [0.5]}], "grads": [[[0.1]]]})
    before = dict(isolation.pool().workers)  # other tests in this process may have started some
    [result] = check_case(case, ["torch"])
    assert result.status == "crash" and "may not start workers" in result.message
    assert isolation.pool().workers == before


CONCURRENT_SCRIPT = """
import json
import numpy as np
from harness import isolation
from harness.casefile import case_from_dict
from harness.engine import run_case, run_implementation
from harness.recording import record_in_process
from harness.trajectory import reference_trajectory

def case(values, grads):
    return case_from_dict({"schema": "optim-parity/case/1", "dtype": "float32", "hyperparameters": {"amsgrad": True},
                           "params": [{"name": "w", "shape": [len(values)], "value": values}], "grads": grads})

def same(a, b):
    return a.data.keys() == b.data.keys() and all(
        np.array_equal(a.data[p][q], b.data[p][q]) for p in a.data for q in a.data[p])

first = case([0.5, -1.0], [[[0.1, -0.2]], [[0.3, 0.1]]])
second = case([2.0, 3.0, 4.0], [[[1e-3, 0.0, -4.0]]] * 5)
# A case submitted and never collected (the caller failed before collecting): the next
# submission to that worker must get its own recording, not the abandoned one's.
workers = isolation.pool()
workers.submit("torch", "torch", first)
abandoned_ok = same(workers.collect(workers.submit("torch", "torch", second)).trajectory,
                    record_in_process("torch", second).trajectory)
# The frameworks' workers record at once in run_case; every result is what running the
# implementations one after another gives.
names = ["reference", "torch", "mindspore", "torch-foreach", "mindspore-graph", "torch-fused"]
together = run_case(second, names)
reference = reference_trajectory(second)
one_by_one = [run_implementation(name, second, reference) for name in names]
identical = [r.implementation == name and r.status == alone.status and r.message == alone.message
             and r.worst_ratio == alone.worst_ratio
             and (t is None) == (name not in together.trajectories)
             and (t is None or same(together.trajectories[name], t))
             for name, r, (alone, t) in zip(names, together.results, one_by_one)]
print(json.dumps([abandoned_ok, identical]))
"""


def test_concurrent_recordings_are_the_sequential_ones_and_an_abandoned_submission_is_drained():
    env = dict(os.environ, OPTIM_PARITY_ISOLATION="1")
    run = subprocess.run([sys.executable, "-c", CONCURRENT_SCRIPT], capture_output=True, text=True, env=env,
                         timeout=600, cwd=HERE.parent)
    assert run.returncode == 0, run.stderr[-3000:]
    abandoned_ok, identical = json.loads(run.stdout.strip().splitlines()[-1])
    assert abandoned_ok
    assert identical == [True] * 6


FRAMEWORKS_MEET = """
import json
from harness.casefile import case_from_dict
from harness.conformance import check_case
case = case_from_dict({"schema": "optim-parity/case/1", "dtype": "float32", "hyperparameters": {},
                       "params": [{"name": "w", "shape": [2], "value": [0.5, -1.0]}],
                       "grads": [[[0.1, -0.2]], [[0.3, 0.1]], [[0.2, 0.2]]]})
# paddle's worker first, MindSpore's after it: in one process this order fails.
results = check_case(case, ["reference", "paddle-adam", "mindspore", "optax-adam", "keras-adam", "torch"])
print(json.dumps([[r.implementation, r.status, (r.message or "").splitlines()[:1]] for r in results]))
"""


def test_frameworks_meet_only_in_their_own_workers():
    """Measured (paddle 3.3.1, MindSpore 2.10.0): importing paddle before mindspore makes
    mindspore's import fail (an undefined oneDNN symbol); the harness runs each framework
    in its own worker, so one case runs through paddle, then MindSpore, optax, Keras and
    torch, and none crashes. When the first part stops failing, the reason for the order
    rule is gone (the README says so): this test fails to say it."""
    from harness.catalogue import framework_available

    if not all(framework_available(f) for f in ("paddle", "mindspore", "optax", "keras")):
        import pytest

        pytest.skip("the optional 'family' extra is not installed")
    env = dict(os.environ, GLOG_v="4", GLOG_minloglevel="2")
    clash = subprocess.run([sys.executable, "-c", "import paddle; import mindspore"], capture_output=True,
                           text=True, env=env, timeout=300)
    assert clash.returncode != 0 and "undefined symbol" in clash.stderr, clash.stderr[-2000:]
    run = subprocess.run([sys.executable, "-c", FRAMEWORKS_MEET], capture_output=True, text=True,
                         env=dict(env, OPTIM_PARITY_ISOLATION="1"), timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    statuses = {name: status for name, status, _ in json.loads(run.stdout.strip().splitlines()[-1])}
    assert statuses == {"reference": "pass", "paddle-adam": statuses["paddle-adam"], "mindspore": statuses["mindspore"],
                        "optax-adam": statuses["optax-adam"], "keras-adam": statuses["keras-adam"], "torch": "pass"}
    assert all(status in ("pass", "known") for status in statuses.values()), statuses


def test_a_dead_worker_on_a_case_declared_unreliable_is_that_declaration_and_otherwise_a_crash():
    """paddle's AdamW with SelectedRows gradients reads a garbage dimension and sometimes
    aborts its process (catalogue: unreliable): the dead worker is what the declaration
    says, `unsupported` (not compared), not a crash. A dead worker anywhere else is a crash,
    declared case or not."""
    from harness.casefile import case_from_dict
    from harness.engine import judge
    from harness.recording import Recording
    from harness.trajectory import reference_trajectory

    raw = {"schema": "optim-parity/case/1", "dtype": "float32", "hyperparameters": {},
           "params": [{"name": "w", "shape": [3, 2], "value": [0.5, -1.0, 0.25, 2.0, -0.5, 1.0]}],
           "grads": [[[0.1, -0.2, 0.0, 0.0, 0.3, 0.1]], [[0.0, 0.0, 0.2, 0.2, 0.0, 0.0]]],
           "sparse_rows": [[[0, 2]], [[1, 2]]]}
    sparse = case_from_dict(raw)
    dead = Recording(failed_step=-1, error="worker died (SIGABRT)")
    result, _ = judge("paddle-adamw", sparse, reference_trajectory(sparse), dead)
    assert result.status == "unsupported" and "garbage dimension" in result.message and "SIGABRT" in result.message
    # inside an implementation's space (paddle-adam, non-lazy rows all listed up to the last)
    result, _ = judge("paddle-adam", sparse, reference_trajectory(sparse), dead)
    assert result.status == "crash"
    # a case without a counterpart (paddle has no maximize): a dead worker is still a crash
    plain = case_from_dict({k: v for k, v in raw.items() if k != "sparse_rows"} | {"hyperparameters": {"maximize": True}})
    result, _ = judge("paddle-adamw", plain, reference_trajectory(plain), dead)
    assert result.status == "crash"
