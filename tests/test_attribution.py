"""Attribution names the row whose mechanism explains a violation, on real frameworks."""

from pathlib import Path

import pytest

from harness.casefile import load_case
from harness.engine import VIOLATION, run_case
from harness.rows import UNEXPLAINED

REPRODUCERS = Path(__file__).resolve().parent.parent / "cases" / "reproducers"
DATA = Path(__file__).resolve().parent / "data"


@pytest.mark.parametrize(
    "case_file, implementation, quantity, expected_row",
    [
        (REPRODUCERS / "mindspore-eps-before-bias-correction.json", "mindspore", "param", "eps"),
        (REPRODUCERS / "mindspore-betas-float32.json", "mindspore", "exp_avg_sq", "betas"),
        (REPRODUCERS / "mindspore-weight-decay-name-filter.json", "mindspore", "param", "weight_decay"),
        (REPRODUCERS / "torch-lerp-complement.json", "torch", "exp_avg", "betas"),
        # dev-profile finding: the lerp complement in float64 (the weight is rounded in
        # the tensor dtype, not always in float32).
        (DATA / "torch-lerp-float64.json", "torch", "exp_avg", "betas"),
        # thorough-profile findings: the foreach path lerps too; differentiable's float32
        # sqrt(1 - beta2) is reproduced to the bit by mint's float32-scalars variant as well
        # (amsgrad row), which must not take a torch implementation's violation.
        (DATA / "torch-foreach-lerp.json", "torch-foreach", "exp_avg", "betas"),
        (DATA / "torch-differentiable-one-step.json", "torch-differentiable", "param", "betas"),
        # float16: every attribution run stores its state in the dtype (the params row), so
        # another row's variant counts as params + that row and must earn its place: the
        # lerp's rounding took torch-fused's runaway on a v stored as 0 (thorough), and eps
        # placement MindSpore's (within float16 tolerance of the stored run).
        (DATA / "torch-fused-float16-v-stored-as-zero.json", "torch-fused", "param", "params"),
        (DATA / "mindspore-float16-v-stored-as-zero.json", "mindspore", "param", "params"),
    ],
)
def test_reproducers_are_attributed_to_their_row(case_file, implementation, quantity, expected_row):
    run = run_case(load_case(case_file), ["reference", implementation])
    result = run.results[1]
    assert result.status == VIOLATION  # run_case alone does not consult the registry
    rows = {row for v in result.violations if v.quantity == quantity for row in v.rows}
    assert expected_row in rows and UNEXPLAINED not in rows


def test_an_implementation_nothing_explains_is_unexplained(monkeypatch):
    """A torch whose updates are 1% too large matches no row's variant. (A test-local
    subclass in tests/, the harness's own tests; cases/ never mocks a framework.)"""
    import torch

    from harness.adapters.torch import adam as torch_adam

    class OnePercentTooFar(torch.optim.Adam):
        def step(self, closure=None):
            before = [p.detach().clone() for g in self.param_groups for p in g["params"]]
            super().step(closure)
            with torch.no_grad():
                for p, b in zip((p for g in self.param_groups for p in g["params"]), before):
                    p.copy_(b + (p - b) * 1.01)

    monkeypatch.setattr(torch_adam.torch.optim, "Adam", OnePercentTooFar)
    monkeypatch.setenv("OPTIM_PARITY_ISOLATION", "0")  # the patch lives in this process
    case = load_case(REPRODUCERS / "mindspore-weight-decay-name-filter.json")
    result = run_case(case, ["torch"]).results[0]
    assert result.status == VIOLATION
    param_violations = [v for v in result.violations if v.quantity == "param"]
    assert param_violations and all(v.rows == [UNEXPLAINED] for v in param_violations)



@pytest.mark.parametrize("case_file, element", [
    # beta1 = 2^-23: Nesterov changes the update only by rounding; eps alone already
    # explained w[2]'s parameter and eps + use_nesterov displaced it.
    ("attribution-near-noop-row.json", ("w", 2)),
    # beta1 = 1e-3: Nesterov moves the first update by 0.1%, about what float32 betas
    # do; eps + use_nesterov fitted b's parameter at step 1 closer than betas + eps.
    ("attribution-coincidental-row.json", ("b", 0)),
    # w = 4994 moved by ~0.5 ulp a step: float32 storage noise left betas + eps at 0.61
    # tolerance until attribution stored its reference runs in the case dtype too.
    ("attribution-storage-noise.json", ("w", 0)),
])
def test_a_coincidental_row_does_not_take_an_element(case_file, element):
    """Regressions from CI: an element's violations are explained by the rows whose
    variant brings all of them inside (betas + eps: float32 betas in exp_avg_sq, eps
    before bias correction in the parameter), not by a row that fits one number."""
    case = load_case(DATA / case_file)
    result = run_case(case, ["reference", "mindspore"]).results[1]
    assert result.status == VIOLATION
    rows = {v.quantity: v.rows for v in result.violations if (v.param, v.index) == element}
    assert rows["param"] == ["betas", "eps"] and rows["exp_avg_sq"] == ["betas", "eps"], rows
    assert all("use_nesterov" not in v.rows for v in result.violations)


def test_variants_model_their_own_framework_only():
    from harness.attribution import candidate_variants

    torch_switches = {k for _, variant in candidate_variants("torch") for k in variant}
    mindspore_switches = {k for _, variant in candidate_variants("mindspore") for k in variant}
    assert "bias_correction_float32" in torch_switches - mindspore_switches
    assert "hyperparameters_float32" in mindspore_switches - torch_switches
    assert "eps_placement" in torch_switches & mindspore_switches  # SparseAdam places eps as MindSpore does
    assert len(candidate_variants("test-only")) == len(candidate_variants())


@pytest.mark.parametrize("case_file, implementation, element", [
    ("lazy-separate-copies-amsgrad-maximum.json", "mindspore-graph", ("b", 1)),
    ("lazy-separate-copies-amsgrad-maximum-fused.json", "mindspore-target-cpu", ("w", 8)),
])
def test_the_separate_copies_variant_keeps_each_rows_amsgrad_maximum(case_file, implementation, element):
    """Thorough-profile findings (repeated rows, use_lazy, amsgrad off): the spec's
    per-copy lazy variant returned the last copy's amsgrad maximum, so with amsgrad toggled
    on, a row that copy did not list kept max_exp_avg_sq = 0 after step 1; the tolerance
    derived from that run grew by lr / eps and "explained" MindSpore's eps effect as
    amsgrad + betas + use_lazy. The element's rows are betas, eps and use_lazy (known)."""
    from harness.conformance import check_case
    from harness.engine import KNOWN

    result = check_case(load_case(DATA / case_file), ["reference", implementation])[1]
    assert result.status == KNOWN, [(v.quantity, v.param, v.index, v.rows) for v in result.violations]
    rows = {v.quantity: v.rows for v in result.violations if (v.param, v.index) == element}
    assert rows["param"] == ["betas", "eps", "use_lazy"], rows
    assert all("amsgrad" not in v.rows for v in result.violations)
