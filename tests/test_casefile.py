"""The case format: validation errors are one line naming the field; saving round-trips bit for bit."""

import json
import unittest.mock

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness import casefile
from harness.casefile import CaseError, case_from_dict, case_to_dict, dumps_case, load_case, save_case

VALID = {
    "schema": "optim-parity/case/1", "optimizer": "adam", "dtype": "float32",
    "hyperparameters": {"lr": 0.001, "betas": [0.9, 0.999], "eps": 1e-08, "weight_decay": 0.0,
                        "amsgrad": False, "use_nesterov": False, "loss_scale": 1.0},
    "params": [{"name": "w", "shape": [2, 2], "value": [0.5, -1.0, 2.0, 0.25]}],
    "grads": [[[0.1, 0.2, -0.3, 0.0]], [[0.1, 0.2, -0.3, 1e-06]]],
}


def test_issue_example_loads_and_rounds_to_dtype():
    case = case_from_dict(VALID)
    assert case.num_steps == 2 and case.params[0].shape == (2, 2)
    assert case.grads[0][0].dtype == np.float32
    assert case.grads[0][0][0] == np.float32(0.1)
    assert case.hp("maximize") is False  # omitted keys take torch's defaults


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_save_load_round_trips_exactly(tmp_path, dtype):
    rng = np.random.default_rng(0)
    raw = dict(VALID, dtype=dtype)
    raw["params"] = [{"name": "w", "shape": [3], "value": (10.0 ** rng.uniform(-12, 4, 3)).tolist()}]
    raw["grads"] = [[(-(10.0 ** rng.uniform(-12, 4, 3))).tolist()] for _ in range(4)]
    case = case_from_dict(raw)
    path = save_case(case, tmp_path / "c.json")
    again = load_case(path)
    assert dumps_case(again) == dumps_case(case)
    for a, b in zip(case.grads, again.grads):
        assert a[0].tobytes() == b[0].tobytes()


def test_bfloat16_values_are_rounded_to_nearest_even_on_load():
    raw = dict(VALID, dtype="bfloat16")
    raw["params"] = [{"name": "w", "shape": [4], "value": [0.1, 1.0 + 2.0**-8, 1.0 + 3 * 2.0**-8, 1e-40]}]
    raw["grads"] = [[[1.0, 2.0, 3.0, 4.0]]]
    case = case_from_dict(raw)
    assert case.np_dtype == np.float32  # bfloat16 values are held as exact float32s
    assert case.params[0].value.tolist() == [0.10009765625, 1.0, 1.0 + 2.0**-6, 2.0**-133]
    assert "overflows bfloat16" in _error(dict(raw, grads=[[[3.4e38, 0.0, 0.0, 0.0]]]))


def test_decoupled_weight_decay_is_a_canonical_switch():
    raw = json.loads(json.dumps(VALID))
    assert case_from_dict(raw).hp("decoupled_weight_decay") is False
    raw["hyperparameters"]["decoupled_weight_decay"] = True
    assert case_from_dict(raw).hp("decoupled_weight_decay") is True
    raw["hyperparameters"]["decoupled_weight_decay"] = 1
    assert "hyperparameters.decoupled_weight_decay" in _error(raw)


def _error(raw) -> str:
    with pytest.raises(CaseError) as info:
        case_from_dict(raw)
    return str(info.value)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda c: c.update(schema="x"), "schema"),
        (lambda c: c.update(dtype="int8"), "dtype"),
        (lambda c: c["hyperparameters"].update(momentum=0.9), "unknown key"),
        (lambda c: c["hyperparameters"].update(amsgrad=1), "hyperparameters.amsgrad"),
        (lambda c: c["hyperparameters"].update(betas=[0.9]), "hyperparameters.betas"),
        (lambda c: c["params"][0].update(shape=[3]), "params[0].value"),
        (lambda c: c["params"][0].update(shape=[0]), "params[0].shape"),
        (lambda c: c["grads"][1][0].pop(), "grads[1][0]"),
        (lambda c: c["grads"].append([]), "grads[2]"),
        (lambda c: c["grads"][0][0].__setitem__(0, "x"), "grads[0][0][0]"),
        (lambda c: c["params"][0]["value"].__setitem__(0, float("nan")), "finite"),
        (lambda c: c["grads"][0][0].__setitem__(0, "infinity"), "expected a number"),
        (lambda c: c.update(extra=1), "unknown key"),
        (lambda c: c.update(param_groups=[{"params": ["nope"]}]), "param_groups[0].params"),
    ],
)
def test_malformed_cases_give_one_line_errors(mutate, message):
    raw = json.loads(json.dumps(VALID))
    mutate(raw)
    with pytest.raises(CaseError) as info:
        case_from_dict(raw)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_load_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(CaseError, match="bad.json: not valid JSON"):
        load_case(bad)
    with pytest.raises(CaseError, match="cannot read"):
        load_case(tmp_path / "missing.json")


def test_overflowing_value_is_rejected():
    raw = json.loads(json.dumps(VALID))
    raw["dtype"] = "float16"
    raw["grads"][0][0][0] = 1e6
    with pytest.raises(CaseError, match="overflows float16"):
        case_from_dict(raw)


def test_gradients_may_be_non_finite_and_round_trip():
    raw = json.loads(json.dumps(VALID))
    raw["grads"][0][0][:3] = ["nan", "inf", "-inf"]
    case = case_from_dict(raw)
    grad = case.grads[0][0]
    assert np.isnan(grad[0]) and grad[1] == np.inf and grad[2] == -np.inf
    assert json.loads(dumps_case(case))["grads"][0][0][:3] == ["nan", "inf", "-inf"]
    assert dumps_case(case_from_dict(json.loads(dumps_case(case)))) == dumps_case(case)


def test_missing_gradients_are_null_in_files_and_zeros_with_a_mark_in_cases(tmp_path):
    raw = {"schema": "optim-parity/case/1", "dtype": "float32", "params": [
        {"name": "w", "shape": [2], "value": [1.0, 2.0]}, {"name": "b", "shape": [1], "value": [0.5]}],
        "grads": [[[0.1, 0.2], None], [None, [0.3]]]}
    case = case_from_dict(raw)
    assert case.missing == (frozenset({1}), frozenset({0}))
    assert not case.has_gradient(0, 1) and case.has_gradient(0, 0)
    assert list(case.grads[0][1]) == [0.0]  # consumers that only read numbers see zeros
    assert case_to_dict(case)["grads"] == [[[float(np.float32(0.1)), float(np.float32(0.2))], None],
                                           [None, [float(np.float32(0.3))]]]
    dense = case_from_dict({**raw, "grads": [[[0.1, 0.2], [0.0]], [[0.0, 0.0], [0.3]]]})
    assert dense.missing == ()  # a zero gradient is not a missing one
    with pytest.raises(CaseError, match="sparse_rows cannot also have missing"):
        case_from_dict({**raw, "sparse_rows": [[[0, 1], [0]], [[0, 1], [0]]]})


def test_a_pickled_case_unpickles_to_the_same_case_bit_for_bit():
    """Cases travel to the isolated workers pickled, each parameter's gradients as one
    array (Case.__reduce__): every field, value and dtype comes back."""
    import pickle

    from harness.bench import bench_cases
    from harness.strategies import missing_gradient_cases, sparse_cases, torch_implementation_cases
    from harness.sweep import draw_cases

    cases = (bench_cases(4, seed=31) + draw_cases(missing_gradient_cases(), 4, 32) + draw_cases(sparse_cases(), 4, 33)
             + draw_cases(torch_implementation_cases(), 4, 34))  # groups, float16 / bfloat16
    for case in cases:
        back = pickle.loads(pickle.dumps(case, protocol=5))
        assert case_to_dict(back) == case_to_dict(case)
        assert (back.missing, back.sparse_rows, back.param_groups) == (case.missing, case.sparse_rows, case.param_groups)
        for step, step_back in zip(case.grads, back.grads, strict=True):
            for grad, grad_back in zip(step, step_back, strict=True):
                assert grad_back.dtype == grad.dtype and np.array_equal(grad_back, grad, equal_nan=True)


@given(st.lists(st.one_of(st.floats(), st.integers(-(10**400), 10**400), st.booleans(), st.sampled_from(["nan", "inf", "-inf", "x"])),
                min_size=1, max_size=12),
       st.sampled_from(["float16", "bfloat16", "float32", "float64"]), st.booleans())
def test_the_one_conversion_of_plain_numbers_equals_checking_them_one_by_one(values, dtype, nonfinite):
    """casefile._array converts a list of plain numbers at once; the values, and the error
    for a list it must refuse, are those of the per-value check."""
    def outcome():
        try:
            return casefile._array(values, len(values), dtype, "v", nonfinite).tobytes()
        except CaseError as exc:
            return str(exc)

    fast = outcome()
    with unittest.mock.patch.object(casefile, "_plain_numbers", lambda values, nonfinite: None):
        assert fast == outcome()
