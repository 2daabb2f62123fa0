"""The Keras implementations (Keras 3, jax backend, CPU, eager):

    keras-adam    keras.optimizers.Adam, stepped with apply_gradients(zip(grads, variables))
    keras-adamw   keras.optimizers.AdamW, the same

Each is checked against the spec on generated cases in which any row's option is
varied (and the shared options with it), like the per-row modules do for `mindspore`;
cases outside their space (L2 weight decay, maximize, float64 without jax_enable_x64,
...) come out no-counterpart or unsupported with Keras's own error. The generated cases
draw float32 and the 16-bit dtypes (the row strategies' float64 is unsupported here),
and missing gradients have their own test. What leaves tolerance is registered
(cases/known_divergences.toml, keras-*): eps added before the bias correction, the
betas cast to the variable's dtype before the power, float16/bfloat16 state and
arithmetic, the loss scale as a float16 number, a missing gradient's global step.
Long runs (1,000-10,000 steps) are not drawn: Keras's eager steps take 4-5 ms each
here, 40-50 s a case (measured conforming: known or pass).
"""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.casefile import Case, ParamSpec
from harness.conformance import assert_conforms, check_case
from harness.pytest_plugin import scaled
from harness.strategies import SEED_TABLE_ROWS, missing_gradient_cases, row_cases

IMPLEMENTATIONS = ("keras-adam", "keras-adamw")
# float64 is unsupported (jax_enable_x64 off: test_float64_is_unsupported_with_jax_s_own_warning);
# the generated cases run Keras's float32 and its 16-bit dtypes.
DTYPES = ("float32", "float32", "float16", "bfloat16")


@st.composite
def any_row_cases(draw):
    """(row, case): a row of the difference table, then a case generated for it."""
    row = draw(st.sampled_from(SEED_TABLE_ROWS))
    return row, draw(row_cases(row, dtypes=st.sampled_from(DTYPES)))


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@settings(max_examples=scaled(20))
@given(drawn=any_row_cases())
def test_implementation_conforms(implementation, drawn):
    row, case = drawn
    assert_conforms(case, row, f"test_keras_implementations_{implementation}",
                    implementations=["reference", implementation])


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@settings(max_examples=scaled(6))
@given(case=missing_gradient_cases())
def test_missing_gradients_conform(implementation, case):
    """A None gradient: Keras skips the variable, but its bias correction follows the
    optimizer's global iterations (registry keras-missing-gradient-global-step); a step
    at which every gradient is None raises (unsupported)."""
    assert_conforms(case, "params", f"test_keras_implementations_missing_{implementation}",
                    implementations=["reference", implementation])


def _case(hyperparameters: dict, dtype: str = "float32", **fields) -> Case:
    params = (ParamSpec("w", (2,), np.array([0.5, -1.0])), ParamSpec("b", (1,), np.array([2.0])))
    grads = tuple((np.array([0.1, -0.3]), np.array([1e-3])) for _ in range(3))
    case = Case("float32", hyperparameters, params, grads)
    return dataclasses.replace(case, **fields) if fields else case


@pytest.mark.parametrize("hyperparameters, reason, error", [
    ({"weight_decay": 0.1}, "L2 weight decay", "{'decoupled_weight_decay': False}"),
    ({"maximize": True}, "maximize=True", "{'maximize': True}"),
    ({"use_nesterov": True}, "use_nesterov=True", "{'use_nesterov': True}"),
    ({"eps_root": 1e-8}, "eps_root > 0", "{'eps_root':"),
])
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_keras_rejects_what_it_cannot_express(implementation, hyperparameters, reason, error):
    """No counterpart, with Keras's own error (BaseOptimizer's unrecognized keyword), not a
    crash and not a silently dropped option."""
    result = check_case(_case(hyperparameters), ["reference", implementation])[1]
    assert result.status == "no-counterpart", result.message
    # Keras's error: from this case, or from an earlier case of the same kind in the worker.
    assert reason in result.message and "Argument(s) not recognized: " + error in result.message


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_float64_is_unsupported_with_jax_s_own_warning(implementation):
    """jax_enable_x64 off (JAX's default): keras.Variable(dtype="float64") holds float32;
    JAX's warning is the reported error, not float32 numbers judged as float64 ones."""
    case = _case({})
    case = Case("float64", {}, case.params, case.grads)
    result = check_case(case, ["reference", implementation])[1]
    assert result.status == "unsupported", result.message
    assert "Explicitly requested dtype float64" in result.message
