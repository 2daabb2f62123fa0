"""How the MindSpore adapters are driven and read is the harness's choice of speed, not
of numbers:

- the MindSpore wing's setup() (harness/adapters/mindspore/__init__.py) sets
  MS_DEV_HOST_BLOCKING_RUN=1 (PyNative ops dispatched by the calling thread instead of
  a spinning frontend_queue thread): every MindSpore form records the same
  trajectories, bit for bit, as under the default multi-threaded dispatch;
- MindSporeHistory (the wing's one history of nn.Adam's and mint's state,
  runtime.MindSporeState) reads the tensors through numpy views of their storage: the
  same values, bit for bit, as snapshot() (asnumpy per tensor) after every step.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
IMPLEMENTATIONS = ("mindspore", "mindspore-lr-tensor", "mindspore-lr-schedule", "mindspore-graph")

# In a fresh interpreter (the mode is read at MindSpore's first op): record every case
# on every implementation that does not declare it unsupported (MindSpore spends 3 s in
# a Gather past the end of an lr list), trajectories or the error, pickled to argv[1].
_RECORD = """
import pickle, sys
from harness.catalogue import outside
from harness.engine import record_in_process
from harness.sweep import draw_cases
from harness.bench import bench_cases
from harness.strategies import lr_schedule_cases, missing_gradient_cases
cases = bench_cases(6, seed=11) + draw_cases(lr_schedule_cases(), 4, 12) + draw_cases(missing_gradient_cases(), 4, 13)
out = {}
for i, case in enumerate(cases):
    for name in sys.argv[2].split(","):
        if outside(name, case) is not None:
            continue
        recording = record_in_process(name, case)
        out[(i, name)] = recording.trajectory.data if recording.trajectory else recording.error
pickle.dump(out, open(sys.argv[1], "wb"))
"""


def _recorded(tmp_path: Path, dispatch: str) -> dict:
    path = tmp_path / f"dispatch-{dispatch}.pickle"
    env = dict(os.environ, MS_DEV_HOST_BLOCKING_RUN=dispatch, OPTIM_PARITY_ISOLATION="0",
               PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    subprocess.run([sys.executable, "-c", _RECORD, str(path), ",".join(IMPLEMENTATIONS)], env=env, cwd=tmp_path,
                   check=True, stdin=subprocess.DEVNULL, capture_output=True)
    return pickle.loads(path.read_bytes())


def test_single_threaded_dispatch_records_what_the_default_dispatch_records(tmp_path):
    single, default = _recorded(tmp_path, "1"), _recorded(tmp_path, "0")
    assert single.keys() == default.keys()
    recorded = 0
    for key, data in default.items():
        if isinstance(data, str):  # rejected (e.g. float64): rejected the same way
            assert single[key] == data, key
            continue
        recorded += 1
        assert data.keys() == single[key].keys(), key
        for name, quantities in data.items():
            for quantity, values in quantities.items():
                np.testing.assert_array_equal(single[key][name][quantity], values, err_msg=f"{key} {name} {quantity}")
    assert recorded >= 20


def _history_cases():
    from harness.bench import bench_cases
    from harness.strategies import lr_schedule_cases, missing_gradient_cases, row_cases, sparse_cases
    from harness.sweep import draw_cases

    # float16 / float32, amsgrad (vhat; float64 only there), groups and lr lists,
    # missing gradients, row-sparse gradients (mindspore-graph / -target-cpu).
    return (bench_cases(3, seed=21) + draw_cases(row_cases("amsgrad"), 3, 22) + draw_cases(lr_schedule_cases(), 2, 23)
            + draw_cases(missing_gradient_cases(), 2, 24) + draw_cases(sparse_cases(), 3, 25))


@pytest.mark.parametrize("name", ["mindspore", "mindspore-graph", "mindspore-target-cpu", "mindspore-mint",
                                  "mindspore-mint-graph", "mindspore-lr-tensor", "mindspore-lr-schedule"])
def test_a_mindspore_history_records_what_a_snapshot_after_every_step_records(name):
    from history_checks import history_matches_snapshots

    from harness.adapters import load_adapter
    from harness.catalogue import outside

    adapter_cls = load_adapter(name)
    compared = 0
    for case in _history_cases():
        if outside(name, case) is None:
            assert history_matches_snapshots(adapter_cls, case), case.comment  # accepted cases run
            compared += 1
    assert compared >= 3
