"""The torch implementations: each is a named, described torch adapter that `replay
--impl NAME` runs; what each cannot express is `no-counterpart` with torch's own error."""

import json

import pytest

from harness.adapters import load_adapter
from harness.casefile import case_from_dict
from harness.catalogue import IMPLEMENTATIONS, framework_of, outside
from harness.cli import main
from harness.conformance import check_case
from harness.engine import KNOWN, NO_COUNTERPART, PASS, run_case

TORCH_IMPLEMENTATIONS = ("torch", "torch-foreach", "torch-fused", "torch-adamw", "torch-tensor-lr",
                         "torch-differentiable")

CASE = {
    "schema": "optim-parity/case/1", "dtype": "float32",
    "hyperparameters": {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True, "maximize": True},
    "params": [{"name": "w", "shape": [2], "value": [0.5, -1.0]}],
    "grads": [[[0.1, -0.2]], [[0.1, 0.3]]],
}


@pytest.mark.parametrize("name", TORCH_IMPLEMENTATIONS)
def test_every_torch_implementation_is_declared_and_replayable(name, tmp_path, capsys):
    adapter = load_adapter(name)
    assert name in IMPLEMENTATIONS and adapter.name == name and framework_of(name) == "torch"
    assert adapter.description and outside(name, case_from_dict(CASE)) is None
    path = tmp_path / "case.json"
    path.write_text(json.dumps(CASE))
    assert main(["replay", str(path), "--impl", "reference", name]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[:2] == [name, PASS]


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_every_torch_implementation_runs_every_dtype(dtype):
    case = case_from_dict(dict(CASE, dtype=dtype))
    results = check_case(case, ["reference", *TORCH_IMPLEMENTATIONS])
    assert all(r.status in (PASS, KNOWN) for r in results), [(r.implementation, r.status, r.rows) for r in results]
    # float32 bias corrections of differentiable=True show in float64 (1 - fl32(0.999) is 1.3e-5 off)
    differentiable = results[-1]
    assert (differentiable.divergence == ["torch-differentiable-float32-bias-correction"]) == (dtype == "float64")


def test_adamw_rejects_l2_weight_decay_and_mindspore_rejects_decoupled():
    l2 = case_from_dict(dict(CASE, hyperparameters={"weight_decay": 0.1}))
    adamw = run_case(l2, ["torch-adamw"]).results[0]
    assert adamw.status == NO_COUNTERPART and "decoupled_weight_decay" in adamw.message
    mindspore = run_case(case_from_dict(dict(CASE, hyperparameters={"weight_decay": 0.1, "decoupled_weight_decay": True})),
                         ["mindspore"]).results[0]
    assert mindspore.status == NO_COUNTERPART and "decoupled_weight_decay=True: nn.Adam" in mindspore.message
    assert "KeyError" in mindspore.message  # MindSpore's own error: nn.Adam takes kwargs use_lazy, use_offload only


def _history_cases():
    from harness.bench import bench_cases
    from harness.strategies import lr_schedule_cases, missing_gradient_cases, sparse_cases, torch_implementation_cases
    from harness.sweep import draw_cases

    # dtypes, amsgrad, groups, maximize (torch's options); gradients missing for some
    # steps (state created late); lr lists; row-sparse gradients (SparseAdam).
    return (bench_cases(6, seed=4) + draw_cases(torch_implementation_cases(), 12, 5)
            + draw_cases(missing_gradient_cases(), 8, 6) + draw_cases(lr_schedule_cases(), 4, 7)
            + draw_cases(sparse_cases(), 24, 8))


@pytest.mark.parametrize("separate", [False, True], ids=["one-buffer", "an-array-per-quantity"])
@pytest.mark.parametrize("name", [*TORCH_IMPLEMENTATIONS, "torch-lr-scheduler", "torch-sparse"])
def test_a_torch_history_records_what_a_snapshot_after_every_step_records(name, separate, monkeypatch):
    """TorchHistory (one concatenation per step into a shared buffer, or, as for large
    tensors, a copy per quantity into its own array) against the adapter's snapshot()
    after every step: the same quantities, bit for bit, on every case the implementation
    runs (moments created late, amsgrad, every dtype, groups)."""
    from history_checks import history_matches_snapshots

    from harness.adapters.torch.adam import TorchHistory

    if separate:
        monkeypatch.setattr(TorchHistory, "SEPARATE_ARRAYS_ELEMENTS", 1)
    adapter_cls = load_adapter(name)
    compared = sum(history_matches_snapshots(adapter_cls, case) for case in _history_cases()
                   if outside(name, case) is None)
    assert compared >= 6


def test_the_lr_scheduler_form_runs_a_single_lr_of_zero():
    """A single lr is a LambdaLR factor of 1; it was lr / lr, a ZeroDivisionError (reported
    as torch-lr-scheduler crashing) at lr = 0, which torch accepts."""
    case = case_from_dict(dict(CASE, hyperparameters={"lr": 0.0}))
    results = check_case(case, ["reference", "torch-lr-scheduler"])
    assert [r.status for r in results] == [PASS, PASS], results[1].message
