"""Attribution names the row whose mechanism explains a violation, on real frameworks."""

from pathlib import Path

import pytest

from harness.casefile import load_case
from harness.engine import VIOLATION, run_case
from harness.rows import UNEXPLAINED

REPRODUCERS = Path(__file__).resolve().parent.parent / "cases" / "reproducers"


@pytest.mark.parametrize(
    "case_file, implementation, quantity, expected_row",
    [
        ("mindspore-eps-before-bias-correction.json", "mindspore", "param", "eps"),
        ("mindspore-betas-float32.json", "mindspore", "exp_avg_sq", "betas"),
        ("mindspore-weight-decay-name-filter.json", "mindspore", "param", "weight_decay"),
        ("torch-lerp-float32-complement.json", "torch", "exp_avg", "betas"),
    ],
)
def test_reproducers_are_attributed_to_their_row(case_file, implementation, quantity, expected_row):
    run = run_case(load_case(REPRODUCERS / case_file), ["reference", implementation])
    result = run.results[1]
    assert result.status == VIOLATION  # run_case alone does not consult the registry
    rows = {row for v in result.violations if v.quantity == quantity for row in v.rows}
    assert expected_row in rows and UNEXPLAINED not in rows


def test_an_implementation_nothing_explains_is_unexplained(monkeypatch):
    """A torch whose updates are 1% too large matches no row's variant. (A test-local
    subclass in tests/, the harness's own tests; cases/ never mocks a framework.)"""
    import torch

    from harness.adapters import torch_adam

    class OnePercentTooFar(torch.optim.Adam):
        def step(self, closure=None):
            before = [p.detach().clone() for g in self.param_groups for p in g["params"]]
            super().step(closure)
            with torch.no_grad():
                for p, b in zip((p for g in self.param_groups for p in g["params"]), before):
                    p.copy_(b + (p - b) * 1.01)

    monkeypatch.setattr(torch_adam.torch.optim, "Adam", OnePercentTooFar)
    case = load_case(REPRODUCERS / "mindspore-weight-decay-name-filter.json")
    result = run_case(case, ["torch"]).results[0]
    assert result.status == VIOLATION
    param_violations = [v for v in result.violations if v.quantity == "param"]
    assert param_violations and all(v.rows == [UNEXPLAINED] for v in param_violations)


def test_a_confident_explanation_is_not_replaced_by_a_near_noop_combination():
    """Regression from CI: with beta1 = 2^-23 Nesterov changes the update only by rounding,
    and eps + use_nesterov once displaced eps (which alone leaves 0.016 of the tolerance)
    for an element, so a registered divergence read as unregistered."""
    case = load_case(Path(__file__).resolve().parent / "data" / "attribution-near-noop-row.json")
    result = run_case(case, ["reference", "mindspore"]).results[1]
    assert result.status == VIOLATION
    param_rows = {tuple(v.rows) for v in result.violations if v.quantity == "param"}
    assert all("use_nesterov" not in rows for rows in param_rows), param_rows
    assert ("eps",) in param_rows
