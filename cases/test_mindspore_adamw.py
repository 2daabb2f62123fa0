"""MindSpore's AdamW classes against the spec under AdamW semantics (decoupled weight decay):

    mindspore-adamweightdecay      nn.AdamWeightDecay(params, learning_rate, beta1, beta2, eps,
                                   weight_decay), PyNative
    mindspore-experimental-adamw   experimental.optim.AdamW(params, lr, betas, eps,
                                   weight_decay, amsgrad, maximize=), PyNative
    mindspore-mint-adamw           mint.optim.AdamW(...), PyNative: no CPU kernel

Each runnable class is checked on generated cases of every row of the difference table
with decoupled_weight_decay=True (float32, float64 and float16), as the per-row modules
check `mindspore`; what a class cannot express comes out no-counterpart with its own error,
and mint.optim.AdamW comes out unsupported with MindSpore's error.
"""

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.casefile import load_case
from harness.conformance import assert_conforms, check_case
from harness.pytest_plugin import scaled
from harness.strategies import SEED_TABLE_ROWS, row_cases

RUNNABLE = ("mindspore-adamweightdecay", "mindspore-experimental-adamw")
REPRODUCERS = Path(__file__).resolve().parent / "reproducers"
DTYPES = st.sampled_from(["float32", "float64", "float16"])


def _adamw(case):
    """The case with decoupled weight decay (AdamW's), everything else as drawn."""
    return dataclasses.replace(case, hyperparameters={**case.hyperparameters, "decoupled_weight_decay": True})


@st.composite
def adamw_row_cases(draw, long_runs: bool = False):
    """(row, case): a row of the difference table, then a case generated for it, made AdamW."""
    row = draw(st.sampled_from(SEED_TABLE_ROWS))
    return row, _adamw(draw(row_cases(row, long_runs=long_runs, dtypes=DTYPES)))


@pytest.mark.parametrize("implementation", RUNNABLE)
@settings(max_examples=scaled(30))
@given(drawn=adamw_row_cases())
def test_adamw_conforms(implementation, drawn):
    row, case = drawn
    assert_conforms(case, row, f"test_mindspore_adamw_{implementation}", implementations=["reference", implementation])


@pytest.mark.parametrize("implementation", RUNNABLE)
@settings(max_examples=scaled(1))
# 1,000-10,000 steps: where nn.AdamWeightDecay's missing bias correction has faded (its
# update ratio tends to 1) and float32 rounding accumulates.
@given(drawn=adamw_row_cases(long_runs=True))
def test_adamw_conforms_long_runs(implementation, drawn):
    row, case = drawn
    assert_conforms(case, row, f"test_mindspore_adamw_long_{implementation}",
                    implementations=["reference", implementation])


def _default_case(**hyperparameters):
    case = load_case(REPRODUCERS / "mindspore-adamweightdecay-no-bias-correction.json")
    return dataclasses.replace(case, hyperparameters=hyperparameters)


@pytest.mark.parametrize("implementation, hyperparameters, error", [
    ("mindspore-adamweightdecay", {"amsgrad": True}, "unexpected keyword argument 'use_amsgrad'"),
    ("mindspore-adamweightdecay", {"maximize": True}, "unexpected keyword argument 'maximize'"),
    ("mindspore-adamweightdecay", {"weight_decay": 0.1}, "unexpected keyword argument 'decoupled_weight_decay'"),
    ("mindspore-adamweightdecay", {"loss_scale": 128.0}, "unexpected keyword argument 'loss_scale'"),
    ("mindspore-experimental-adamw", {"weight_decay": 0.1}, "unexpected keyword argument 'decoupled_weight_decay'"),
    ("mindspore-experimental-adamw", {"lr": [0.1, 0.01]}, "'<' not supported"),
    ("mindspore-experimental-adamw", {"use_nesterov": True}, "unexpected keyword argument 'use_nesterov'"),
])
def test_what_a_class_cannot_express_is_no_counterpart_with_its_own_error(implementation, hyperparameters, error):
    """L2 weight decay (decoupled_weight_decay=False with a decay), amsgrad/maximize for
    nn.AdamWeightDecay, nn.Adam's MindSpore-only options, an lr list for the
    experimental class: no-counterpart, with MindSpore's own TypeError."""
    result = check_case(_default_case(**hyperparameters), ["reference", implementation])[1]
    assert result.status == "no-counterpart", result.message
    assert error in result.message and "TypeError" in result.message


def test_mint_adamw_has_no_cpu_kernel():
    """mint.optim.AdamW builds, and its first step raises MindSpore's own error: gen.AdamW
    has no CPU kernel (the class documents Ascend only)."""
    result = check_case(_default_case(decoupled_weight_decay=True, weight_decay=0.01),
                        ["reference", "mindspore-mint-adamw"])[1]
    assert result.status == "unsupported", result.message
    assert "The kernel AdamW unregistered" in result.message
