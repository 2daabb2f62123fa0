"""The registry file: malformed entries are one-line errors; conditions mean what they say."""

import pytest

from harness.casefile import case_from_dict
from harness.conformance import default_registry
from harness.registry import RegistryError, load_registry

GOOD = """
[[divergence]]
id = "x"
row = "eps"
implementation = "mindspore"
when = { always = true }
mechanism = "m"
source = "s"
bound = "b"
max_relative_error = 1.0
reproducer = "cases/reproducers/mindspore-eps-before-bias-correction.json"
"""


@pytest.mark.parametrize(
    "text, message",
    [
        ("[[divergence]\n", "not valid TOML"),
        (GOOD.replace('row = "eps"', 'row = "momentum"'), 'row: expected one of'),
        (GOOD.replace("always = true", "sometimes = true"), "when: unknown key(s) ['\"sometimes\"']"),
        (GOOD.replace('bound = "b"\n', ""), "missing key(s) ['bound']"),
        (GOOD + GOOD, "duplicate id"),
        (GOOD + 'versions = { paddle = ">=1" }\n', 'versions names "paddle"'),
        # Every field is checked for its type before use (each of these was a traceback).
        (GOOD.replace('row = "eps"', 'row = ["eps"]'), 'row: expected a non-empty string, got ["eps"]'),
        (GOOD.replace('id = "x"', "id = 3"), "id: expected lower-case letters"),
        (GOOD.replace('implementation = "mindspore"', 'implementation = "mindspore-nope"'),
         "implementation[0]: expected one of"),
        (GOOD.replace('implementation = "mindspore"', "implementation = [1]"), "implementation[0]: expected a"),
        (GOOD.replace("always = true", 'always = "yes"'), 'when.always: expected true or false, got "yes"'),
        (GOOD.replace("always = true", 'dtype_in = "float32"'), "when.dtype_in: expected a list"),
        (GOOD.replace("always = true", 'dtype_in = ["float8"]'), "when.dtype_in[0]: expected one of"),
        (GOOD.replace("always = true", 'param_name_matches = "(["'), "not a regular expression"),
        (GOOD.replace("always = true", "gradient_above = [1]"), "when.gradient_above: expected a number"),
        (GOOD.replace("when = { always = true }", "when = 1"), "when: expected an object"),
        (GOOD.replace('mechanism = "m"', "mechanism = 1.5"), "mechanism: expected a non-empty string, got 1.5"),
        (GOOD.replace("max_relative_error = 1.0", 'max_relative_error = "big"'), "max_relative_error: expected a"),
        (GOOD.replace("max_relative_error = 1.0", "max_relative_error = -1.0"), "expected a number >= 0"),
        (GOOD.replace('reproducer = "cases/', 'reproducer = "/etc/../cases/'), "reproducer: expected a .json path"),
        (GOOD.replace('reproducer = "cases/reproducers/mindspore-eps-before-bias-correction.json"', "reproducer = 7"),
         "reproducer: expected a non-empty string"),
        ('divergence = 3\n', "divergence: expected a list"),
        ('[[rule]]\n', "unknown key(s)"),
        ("x = " + "[" * 5000 + "]" * 5000 + "\n", "not usable TOML"),
        ('[[divergence]]\nid = "\\ud800"\n', "not valid TOML"),
        (GOOD + 'versions = { mindspore = "at least 2.10" }\n', "is not a PEP 440 specifier"),
        (GOOD + 'versions = { mindspore = 2 }\n', "is not a PEP 440 specifier"),
        (GOOD + 'versions = ">=2.10"\n', "versions must be a table"),
    ],
)
def test_malformed_registry_is_one_line_error(tmp_path, text, message):
    path = tmp_path / "r.toml"
    path.write_text(text)
    with pytest.raises(RegistryError) as info:
        load_registry(path)
    assert message in str(info.value) and "\n" not in str(info.value)


def _case(grad=0.5, dtype="float32", **hyper):
    return case_from_dict({
        "schema": "optim-parity/case/1", "dtype": dtype, "hyperparameters": hyper,
        "params": [{"name": "bn.gamma", "shape": [1], "value": [1.0]}], "grads": [[[grad]]],
    })


def test_conditions():
    entries = {e.id: e for e in default_registry()}
    name_filter = entries["mindspore-weight-decay-name-filter"]
    assert name_filter.predicts(_case(weight_decay=0.1)) and not name_filter.predicts(_case())
    eps = entries["mindspore-eps-before-bias-correction"]
    assert not eps.predicts(_case(grad=100.0))  # eps / sqrt(1 - beta2) is 3e-9 of |g|
    assert eps.predicts(_case(grad=0.5))  # 6e-7 of |g|: above 1.6 u32 = 9.5e-8
    # The threshold is in unit roundoffs of the case dtype: float64's tolerance is 5e8x
    # tighter, so 3e-9 of |g| matters there (MindSpore runs float64 with amsgrad).
    assert eps.predicts(_case(grad=100.0, dtype="float64"))
    assert not eps.predicts(_case(grad=1e10, dtype="float64"))  # 3.2e-17 < 1.6 u64 = 1.8e-16
    lerp = entries["torch-lerp-complement"]
    assert lerp.predicts(_case(betas=[0.1, 0.999])) and not lerp.predicts(_case())
    amsgrad = entries["mindspore-amsgrad-float64-float32-hyperparameters"]
    assert not amsgrad.predicts(_case(amsgrad=True))  # float32 case


def test_an_entry_may_cover_several_implementations(tmp_path):
    text = GOOD.replace('implementation = "mindspore"', 'implementation = ["mindspore", "mindspore-graph"]')
    path = tmp_path / "known.toml"
    path.write_text(text)
    (entry,) = load_registry(path)
    assert entry.implementations == ("mindspore", "mindspore-graph")
    assert entry.covers("mindspore-graph") and not entry.covers("torch")


def test_an_empty_implementation_list_is_one_clear_error(tmp_path):
    path = tmp_path / "known.toml"
    path.write_text(GOOD.replace('implementation = "mindspore"', "implementation = []"))
    with pytest.raises(RegistryError, match=r"implementation: expected a non-empty list"):
        load_registry(path)


def test_an_entry_outside_its_versions_is_not_applied(tmp_path, monkeypatch):
    from harness import catalogue
    from harness.engine import KNOWN, VIOLATION, ImplementationResult
    from harness.registry import classify

    path = tmp_path / "r.toml"
    path.write_text(GOOD.replace('row = "eps"', 'row = "eps"\nversions = { mindspore = ">=2.10" }'))
    case = case_from_dict({"schema": "optim-parity/case/1", "params": [{"name": "w", "shape": [], "value": [1.0]}],
                           "grads": [[[0.1]]]})

    def classified(version):
        monkeypatch.setattr(catalogue, "installed_version", lambda package: version)
        (entry,) = load_registry(path)
        violation = _violation()
        result = ImplementationResult("mindspore", VIOLATION, violations=[violation], rows=["eps"])
        classify(result, case, [entry])
        return entry.applies, result.status

    assert classified("2.10.0") == (True, KNOWN)
    assert classified("2.9.0") == (False, VIOLATION)


def _violation():
    from harness.trajectory_comparison import Violation

    return Violation("param", "w", 1, 0, 1.0, 1.1, 0.1, 0.01, 1.0, rows=["eps"])


def test_the_subnormal_condition_streamed_is_the_kept_run(monkeypatch):
    """Beyond KEPT_WHOLE_MAX element-steps `subnormal_values` runs the stored spec
    a step at a time instead of keeping the run attribution shares: the same answer on
    every committed case and test case (float16 ones have subnormal moments)."""
    from pathlib import Path

    from harness import registry, trajectory_comparison
    from harness.attribution import forget_variant_runs
    from harness.casefile import load_case

    root = Path(__file__).resolve().parent.parent
    cases = [load_case(path) for path in sorted((root / "tests" / "data").glob("*.json"))
             + sorted((root / "cases" / "reproducers").glob("*.json"))]
    kept, streamed = [], []
    for case in cases:
        forget_variant_runs()
        kept.append(registry._subnormal_values(None, case, True))
        with monkeypatch.context() as patch:
            patch.setattr(trajectory_comparison, "KEPT_WHOLE_MAX", -1)
            streamed.append(registry._subnormal_values(None, case, True))
    assert kept == streamed and any(kept) and not all(kept)


def test_the_eps_condition_streamed_is_the_kept_run(monkeypatch):
    """`eps_over_gradient_above_roundoffs` on a large case reads the spec's parameters a
    step at a time (trajectory.spec_states) instead of the shared run: the same answer
    on every committed case and test case, at thresholds on both sides of their values."""
    from pathlib import Path

    from harness import registry, trajectory_comparison
    from harness.casefile import load_case

    root = Path(__file__).resolve().parent.parent
    cases = [load_case(path) for path in sorted((root / "tests" / "data").glob("*.json"))
             + sorted((root / "cases" / "reproducers").glob("*.json"))]
    answers = []
    for case in cases:
        for roundoffs in (0.0, 1.0, 1e3, 1e6):
            kept = registry._eps_over_gradient_above_roundoffs(None, case, roundoffs)
            with monkeypatch.context() as patch:
                patch.setattr(trajectory_comparison, "KEPT_WHOLE_MAX", -1)
                assert registry._eps_over_gradient_above_roundoffs(None, case, roundoffs) == kept
            answers.append(kept)
    assert any(answers) and not all(answers)
