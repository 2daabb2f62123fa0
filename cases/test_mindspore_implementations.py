"""The MindSpore implementations beside `mindspore` (nn.Adam, PyNative):

    mindspore-graph        nn.Adam built and stepped under GRAPH_MODE
    mindspore-mint         mint.optim.Adam, the torch-style API (lr, betas, amsgrad,
                           maximize), in PyNative as its users call it
    mindspore-mint-graph   the same under GRAPH_MODE

Each is checked against the spec on generated cases in which any row's option is
varied (and the shared options with it), like the per-row modules do for `mindspore`.
The module also pins the measured facts the adapters rely on.
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

IMPLEMENTATIONS = ("mindspore-graph", "mindspore-mint", "mindspore-mint-graph")
DATA = Path(__file__).resolve().parent.parent / "tests" / "data"


@st.composite
def any_row_cases(draw, long_runs: bool = False):
    """(row, case): a row of the difference table, then a case generated for it."""
    row = draw(st.sampled_from(SEED_TABLE_ROWS))
    return row, draw(row_cases(row, long_runs=long_runs))


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@settings(max_examples=scaled(40))
@given(drawn=any_row_cases())
def test_implementation_conforms(implementation, drawn):
    row, case = drawn
    assert_conforms(case, row, f"test_mindspore_implementations_{implementation}",
                    implementations=["reference", implementation])


def test_parameter_groups_in_another_order_than_params():
    """Optimizers take gradients (and hold moments) in group order; the adapters map
    them by name (they used to pass params order and crashed on this case)."""
    case = load_case(DATA / "mindspore-groups-out-of-order.json")
    assert_conforms(case, "params", "test_parameter_groups_in_another_order_than_params",
                    implementations=["reference", "mindspore", *IMPLEMENTATIONS])


def test_graph_mode_is_left_behind_only_inside_its_adapter():
    """mindspore-graph switches to GRAPH_MODE per call and back: the process (and the
    `mindspore` adapter that runs after it) stays in PyNative."""
    import mindspore as ms

    case = load_case(DATA / "mindspore-groups-out-of-order.json")
    check_case(case, ["reference", "mindspore-graph"])
    assert ms.get_context("mode") == ms.PYNATIVE_MODE


@pytest.mark.parametrize("hyperparameters, reason", [
    ({"use_nesterov": True}, "use_nesterov=True: a MindSpore nn.Adam option"),
    ({"loss_scale": 128.0}, "loss_scale: a MindSpore nn.Adam option"),
    ({"lr": [0.1, 0.01]}, "per-step lr list"),
    ({"decoupled_weight_decay": True, "weight_decay": 0.1}, "decoupled_weight_decay=True"),
])
@pytest.mark.parametrize("implementation", ("mindspore-mint", "mindspore-mint-graph"))
def test_mint_rejects_what_it_cannot_express(implementation, hyperparameters, reason):
    """No counterpart, with mint's own error (it takes neither nn.Adam's MindSpore-only
    keywords, nor torch's decoupled_weight_decay, nor an lr list), not a crash and not a
    silently dropped option."""
    case = load_case(DATA / "mindspore-groups-out-of-order.json")
    case = dataclasses.replace(case, hyperparameters=hyperparameters, param_groups=())
    result = check_case(case, ["reference", implementation])[1]
    assert result.status == "no-counterpart", result.message
    assert reason in result.message and "TypeError" in result.message


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@settings(max_examples=scaled(3))
# 1,000-10,000 steps, where float32 rounding accumulates; at least 1-d parameters
# (mint rejects 0-d ones, which the short runs cover).
@given(drawn=any_row_cases(long_runs=True).filter(lambda drawn: all(p.shape for p in drawn[1].params)))
def test_implementation_conforms_long_runs(implementation, drawn):
    row, case = drawn
    assert_conforms(case, row, f"test_mindspore_implementations_long_{implementation}",
                    implementations=["reference", implementation])
