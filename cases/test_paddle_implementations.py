"""PaddlePaddle's Adam implementations against the spec (paddle 3.3, dygraph, CPU):

    paddle-adam     paddle.optimizer.Adam (L2 weight decay, amsgrad, lazy_mode)
    paddle-adamw    paddle.optimizer.AdamW (decoupled weight decay)

Each is checked on generated cases of every row of the difference table (the row's
option varied, the shared options with it; for AdamW a case's weight decay is the
decoupled one, the only kind it has), on row-sparse gradients (SelectedRows from a
sparse embedding lookup, lazy_mode and not) and on missing gradients (a parameter left
out of a step's loss). A divergence must be registered (cases/known_divergences.toml).
"""

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.conformance import assert_conforms
from harness.pytest_plugin import scaled
from harness.strategies import SEED_TABLE_ROWS, missing_gradient_cases, row_cases, sparse_cases

IMPLEMENTATIONS = ("paddle-adam", "paddle-adamw")


def _for(implementation: str, case):
    """AdamW has decoupled decay only: a case's weight decay is asked for as that."""
    if implementation == "paddle-adamw":
        return dataclasses.replace(case, hyperparameters={**case.hyperparameters, "decoupled_weight_decay": True})
    return case


@st.composite
def any_row_cases(draw):
    """(row, case): a row of the difference table, then a case generated for it."""
    row = draw(st.sampled_from(SEED_TABLE_ROWS))
    return row, draw(row_cases(row))


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@settings(max_examples=scaled(100))
@given(drawn=any_row_cases())
def test_implementation_conforms(implementation, drawn):
    row, case = drawn
    assert_conforms(_for(implementation, case), row, f"test_paddle_implementations_{implementation}",
                    implementations=["reference", implementation])


@settings(max_examples=scaled(60))
@given(case=sparse_cases(lazy=st.booleans()))
def test_row_sparse_gradients(case):
    """SelectedRows gradients (paddle.nn.functional.embedding(..., sparse=True)), with
    lazy_mode (use_lazy) and without; Adam only (AdamW fails on them: the catalogue)."""
    assert_conforms(case, "use_lazy", "test_paddle_row_sparse", implementations=["reference", "paddle-adam"])


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@settings(max_examples=scaled(30))
# Before a parameter's first gradient paddle skips it (no gradient at all), after it
# clear_grad() leaves zeros: the params row's variant missing_gradient="zero_after_first".
@given(case=missing_gradient_cases())
def test_missing_gradients(implementation, case):
    """A parameter left out of a later step's loss: clear_grad() left zeros, which
    step() uses (registry: paddle-clear-grad-zero-gradient)."""
    assert_conforms(_for(implementation, case), "params", f"test_paddle_missing_gradients_{implementation}",
                    implementations=["reference", implementation])


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@settings(max_examples=scaled(3))
@given(drawn=st.sampled_from(SEED_TABLE_ROWS).flatmap(
    lambda row: row_cases(row, long_runs=True).map(lambda case: (row, case))))
def test_implementation_conforms_long_runs(implementation, drawn):
    """1,000-10,000 steps, where the float32 beta powers' running product accumulates
    its rounding."""
    row, case = drawn
    assert_conforms(_for(implementation, case), row, f"test_paddle_implementations_long_{implementation}",
                    implementations=["reference", implementation])
