"""Shared by the adapters' history tests (tests/test_torch_adapters.py,
tests/test_mindspore_adapters.py): an adapter's history() must record what its
snapshot() after every step records, bit for bit."""

from __future__ import annotations

import numpy as np

from harness.trajectory import SnapshotHistory, StepFailure, record


def history_matches_snapshots(adapter_cls, case) -> bool:
    """Record `case` both ways and assert the same quantities, dtypes and values; False
    when the framework rejects the case (nothing recorded either way)."""
    try:
        fast = record(adapter_cls(case), case)[0]
    except (StepFailure, TypeError, ValueError, RuntimeError):
        return False
    adapter = adapter_cls(case)
    adapter.history = lambda steps: SnapshotHistory(adapter, steps)
    plain = record(adapter, case)[0]
    assert fast.data.keys() == plain.data.keys()
    for parameter, quantities in plain.data.items():
        assert quantities.keys() == fast.data[parameter].keys(), (case.comment, parameter)
        for quantity, values in quantities.items():
            assert values.dtype == fast.data[parameter][quantity].dtype
            np.testing.assert_array_equal(fast.data[parameter][quantity], values, err_msg=f"{parameter} {quantity}")
    return True
