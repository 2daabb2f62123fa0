"""Large trajectories kept in files (harness/trajectory_files.py): a RowFile reads back
what was written, by rows, blocks of columns and index arrays; the framework histories
that keep a quantity in a file record what they record in memory, bit for bit; and a
case recorded through isolated workers with its trajectories in files gets the verdict
it gets in memory."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from harness import trajectory_files
from harness.trajectory_files import TRAJECTORY_DIR_ENV, RowFile, release, row_store


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_a_row_file_reads_back_what_was_written(tmp_path, dtype):
    rng = np.random.default_rng(0)
    values = rng.standard_normal((7, 13)).astype(dtype)
    stored = RowFile.create(str(tmp_path), values.shape, dtype)
    assert np.array_equal(stored[:, :], np.zeros_like(values))  # zeros until written
    for t, row in enumerate(values):
        stored[t] = row
    again = pickle.loads(pickle.dumps(stored))  # as a recording carries it: path, shape, dtype
    for reader in (stored, again):
        assert reader.shape == values.shape and reader.dtype == values.dtype and reader.ndim == 2
        for key in [(slice(None), slice(None)), (slice(1, 6), slice(3, 9)), (slice(2, 3), slice(0, 13)),
                    (slice(None), np.array([0, 5, 12])), (slice(1, None), slice(12, 20)), (slice(0, 0), slice(None))]:
            assert np.array_equal(reader[key], values[key]), key
        assert np.array_equal(reader[3], values[3]) and np.array_equal(reader[-1], values[-1])
        assert all(np.array_equal(a, b) for a, b in zip(reader, values)) and len(reader) == 7
        assert np.array_equal(np.asarray(reader), values)
    stored[0] = values[0].astype(np.float64)  # written in the file's dtype
    release({"w": {"param": stored, "step": np.zeros(7)}})
    assert not list(tmp_path.iterdir())


def test_only_a_large_quantity_in_a_named_directory_goes_to_a_file(tmp_path, monkeypatch):
    monkeypatch.delenv(TRAJECTORY_DIR_ENV, raising=False)
    assert isinstance(row_store(10, 10**6, np.float32), np.ndarray)  # no directory: memory
    monkeypatch.setenv(TRAJECTORY_DIR_ENV, str(tmp_path))
    assert isinstance(row_store(2, 100, np.float32), np.ndarray)
    assert isinstance(row_store(5, trajectory_files.FILE_ELEMENT_STEPS, np.float32), RowFile)


@pytest.mark.parametrize("name", ["torch", "torch-foreach", "mindspore", "mindspore-mint"])
def test_a_history_in_files_records_what_it_records_in_memory(name, tmp_path, monkeypatch):
    from harness.adapters import load_adapter
    from harness.adapters.torch.adam import TorchHistory
    from harness.casefile import case_from_dict
    from harness.trajectory import record

    rng = np.random.default_rng(1)
    n = 3000
    case = case_from_dict({
        "schema": "optim-parity/case/1", "dtype": "float32", "hyperparameters": {"amsgrad": True, "lr": 0.01},
        "params": [{"name": "w", "shape": [n], "value": rng.standard_normal(n).astype(np.float32).tolist()},
                   {"name": "b", "shape": [3], "value": [0.5, -1.0, 2.0]}],
        "grads": [[rng.standard_normal(n).astype(np.float32).tolist(), [0.1, 0.2, -0.3]] for _ in range(4)]})
    adapter_cls = load_adapter(name)
    monkeypatch.delenv(TRAJECTORY_DIR_ENV, raising=False)
    in_memory = record(adapter_cls(case), case)[0]
    monkeypatch.setenv(TRAJECTORY_DIR_ENV, str(tmp_path))
    monkeypatch.setattr(trajectory_files, "FILE_ELEMENT_STEPS", 100)  # w's quantities (5 x 3000) in files
    monkeypatch.setattr(TorchHistory, "SEPARATE_ARRAYS_ELEMENTS", 1)
    in_files = record(adapter_cls(case), case)[0]
    assert any(isinstance(values, RowFile) for values in in_files.data["w"].values())
    assert not any(isinstance(values, RowFile) for values in in_files.data["b"].values())
    for parameter, quantities in in_memory.data.items():
        assert quantities.keys() == in_files.data[parameter].keys()
        for quantity, values in quantities.items():
            kept = in_files.data[parameter][quantity]
            assert kept.dtype == values.dtype and np.array_equal(np.asarray(kept), values), (parameter, quantity)
    release(in_files.data)
    assert not list(tmp_path.iterdir())


def test_a_large_case_through_workers_keeps_its_trajectories_in_files_and_its_verdicts(monkeypatch):
    """A case past FILE_ELEMENT_STEPS a quantity (1.05e6 elements x 4 steps) recorded in
    the isolated workers, its trajectories in files, judged against the spec made by
    column blocks: the verdicts of recording it in this process, in memory; and nothing
    is left in the workers' directory once `run_case` has judged it."""
    import os

    from harness import isolation
    from harness.casefile import Case, ParamSpec
    from harness.engine import record_implementation, run_case

    rng = np.random.default_rng(2)
    n, steps = 1_050_000, 4
    case = Case("float32", {"weight_decay": 0.01},
                (ParamSpec("embedding.weight", (n,), rng.standard_normal(n).astype(np.float32)),),
                tuple((rng.standard_normal(n).astype(np.float32),) for _ in range(steps)))
    names = ["reference", "torch", "mindspore"]

    def verdicts(run):
        return [(r.implementation, r.status, r.rows, r.worst_ratio, r.worst.key if r.worst else None,
                 r.violation_count) for r in run.results]

    monkeypatch.setenv("OPTIM_PARITY_CASE_BUDGET", str(10**8))
    for name in names[1:]:  # what comes back from a worker: file names, not arrays
        recording = record_implementation(name, case)
        assert all(isinstance(recording.trajectory.data["embedding.weight"][quantity], RowFile)
                   for quantity in ("param", "exp_avg", "exp_avg_sq")), name
        release(recording.trajectory.data)
    in_files = run_case(case, names, keep_trajectories=False)
    directory = isolation.pool().trajectory_directory()
    assert not os.listdir(directory)
    monkeypatch.setenv("OPTIM_PARITY_ISOLATION", "0")
    in_memory = run_case(case, names, keep_trajectories=False)
    assert verdicts(in_files) == verdicts(in_memory)
    assert verdicts(in_files)[2][1] in ("violation", "known") and verdicts(in_files)[2][5] > 10**6
