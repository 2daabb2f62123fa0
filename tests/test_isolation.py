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
