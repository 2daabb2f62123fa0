"""The tolerance rule (README "Tolerance rule"): float32 rounding passes, a 1% error in the update never does."""

from pathlib import Path

import numpy as np
import pytest

from harness.casefile import case_from_dict, case_to_dict
from harness.trajectory_comparison import compare
from harness.tolerance import param_tolerance, rtol_per_step, unit_roundoff
from harness.trajectory import Trajectory, reference_trajectory


def _case(dtype="float32", steps=20, value=0.5, grads=None, lr=1e-3):
    grads = grads or [0.1 * (-1) ** t for t in range(steps)]
    return case_from_dict({
        "schema": "optim-parity/case/1", "dtype": dtype, "hyperparameters": {"lr": lr},
        "params": [{"name": "w", "shape": [1], "value": [value]}],
        "grads": [[[g]] for g in grads],
    })


def _scaled_trajectory(case, factor):
    """The reference with every update scaled by `factor`, rounded to the case dtype like a real implementation."""
    ref = reference_trajectory(case)
    w = ref.data["w"]["param"]
    updates = np.diff(w, axis=0) * factor
    out = np.empty_like(w)
    out[0] = w[0]
    for t in range(len(updates)):
        out[t + 1] = (out[t] + updates[t]).astype(case.np_dtype)
    return Trajectory({"w": {"param": out}}, ref.completed_steps), ref


def test_rtol_matches_the_derivation():
    rtol = rtol_per_step(10_000, np.float32, 0.9, 0.999)
    u = unit_roundoff(np.float32)
    assert rtol[0, 0] == pytest.approx(4 * u * 10)
    assert rtol[-1, 0] == pytest.approx(4 * u * (8 + 10 + 1000))
    assert rtol_per_step(10_000, np.float32, 0.999999, 0.999999)[-1, 0] < 5e-3  # < 1% at 10k steps


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("value", [0.5, 3.0, 50.0])
def test_one_percent_error_in_the_update_is_caught(dtype, value):
    """Sign-flipping gradients, so only the per-step error counts, never accumulation.
    lr=1e-3 on |w|=50 is 262 ulp in float32, above the 150-ulp resolution in README."""
    case = _case(dtype, value=value)
    wrong, ref = _scaled_trajectory(case, 1.01)
    assert compare(case, ref, wrong).violations


@pytest.mark.parametrize("value", [0.5, 3.0, 1e4])
def test_float32_storage_rounding_is_not_flagged(value):
    case = _case("float32", steps=200, value=value, grads=[0.1] * 200)
    rounded, ref = _scaled_trajectory(case, 1.0)
    assert not compare(case, ref, rounded).violations


def test_below_float32_resolution_a_one_percent_error_is_not_claimed():
    """lr=1e-3 on |w|=100 is 131 ulp in float32: a 1% error is 1.3 ulp, and rounding the
    stored value leaves less than the one-ulp floor. README states this limit."""
    case = _case("float32", value=100.0)
    wrong, ref = _scaled_trajectory(case, 1.01)
    assert not compare(case, ref, wrong).violations


def test_tolerance_grows_with_path_length_not_net_displacement():
    traj = np.array([[0.0], [1.0], [0.0], [1.0], [0.0]])
    tol = param_tolerance(traj, np.float64, rtol_per_step(4, np.float64, 0.9, 0.999))
    assert np.all(np.diff(tol[:, 0]) > 0)  # keeps growing although w returns to 0


def test_a_lazy_step_keeps_the_moment_scale_of_rows_it_does_not_list():
    """Thorough finding: with use_lazy, w[1] is not listed at step 2 and keeps
    exp_avg = -0.999 (float32: -0.99900001); its tolerance scale decayed as if its gradient
    were 0 (to 0.001 with beta1 = 0.001), below float32's half ulp of 0.999, and the stored
    value was a violation. The scale now stays where the moment stays."""
    from harness.casefile import load_case
    from harness.trajectory_comparison import lazy_updates, tolerances_of
    from harness.conformance import check_case
    from harness.engine import PASS

    case = load_case(Path(__file__).resolve().parent / "data" / "lazy-untouched-row-tolerance.json")
    updated = lazy_updates(case, 0, case.num_steps)
    assert updated.tolist() == [[True, True], [True, False]]
    first_scale = tolerances_of(case, reference_trajectory(case), case.num_steps)["w"]["exp_avg"][1]
    assert first_scale[1, 1] == first_scale[0, 1]  # untouched at step 2: the scale of step 1
    dense = case_from_dict({**case_to_dict(case), "sparse_rows": None})
    assert lazy_updates(dense, 0, case.num_steps) is None  # dense steps update every element
    for implementation in ("mindspore-target-cpu", "mindspore-graph"):
        assert check_case(case, ["reference", implementation])[1].status == PASS


def test_a_step_without_a_gradient_keeps_the_moment_scale_and_a_zero_gradient_decays_it():
    """The spec skips a parameter without a gradient (its moments and step count stay),
    so its tolerance scale stays too; the variant that feeds it zeros (what an
    implementation without "no gradient" does) counts the step and decays moments and
    scale alike. The scale follows the reference it is derived from."""
    from harness.trajectory_comparison import tolerances_of

    case = case_from_dict({
        "schema": "optim-parity/case/1", "dtype": "float32", "hyperparameters": {"betas": [0.5, 0.999]},
        "params": [{"name": "w", "shape": [2], "value": [0.5, -1.0]}],
        "grads": [[[0.1, -0.2]], [None], [[0.3, 0.4]]],
    })
    held = tolerances_of(case, reference_trajectory(case), case.num_steps)["w"]["exp_avg"][1]
    assert np.array_equal(held[1], held[0])  # no gradient at step 2: the scale of step 1
    assert np.all(held[2] != held[1])
    zeros = tolerances_of(case, reference_trajectory(case, {"missing_gradient": "zero"}), case.num_steps)
    decayed = zeros["w"]["exp_avg"][1]
    assert np.array_equal(decayed[1], 0.5 * decayed[0])  # beta1 * scale + (1 - beta1) * 0


def test_the_moment_scale_ema_is_the_step_by_step_recurrence_bit_for_bit():
    """_ema computes in place row by row (speed); it must stay the recurrence
    out[t] = beta * out[t-1] + (1 - beta) * x[t] evaluated in that order, with held
    elements keeping their value, on every magnitude and beta the strategies draw."""
    from harness.tolerance import _ema

    def recurrence(values, beta, updated=None):
        out, state = np.empty_like(values), np.zeros(values.shape[1:])
        for t in range(values.shape[0]):
            decayed = beta * state + (1.0 - beta) * values[t]
            state = decayed if updated is None else np.where(updated[t], decayed, state)
            out[t] = state
        return out

    rng = np.random.default_rng(0)
    for trial in range(200):
        steps, size = rng.integers(1, 60), rng.integers(1, 30)
        values = np.abs(rng.standard_normal((steps, size))) * 10.0 ** rng.integers(-30, 30, size=(steps, size))
        beta = float(rng.choice([0.0, 1e-3, 0.5, 0.9, 0.999, 1.0, rng.random()]))
        updated = rng.random((steps, size)) > 0.3 if trial % 2 else None
        np.testing.assert_array_equal(_ema(values, beta, updated), recurrence(values, beta, updated))
