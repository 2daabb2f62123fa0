"""Beyond the table: every dtype for the MindSpore implementations.

The per-row modules draw float32 and float64; torch's implementations run float16,
bfloat16, float32 and float64 in test_torch_implementations.py. Here `mindspore`,
`mindspore-graph`, `mindspore-mint` and `mindspore-mint-graph` run cases of every row in float16 and bfloat16 (a dtype an implementation rejects is `unsupported` with MindSpore's own error;
the tolerance scales with the dtype's unit roundoff, harness/tolerance.py).
"""

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from harness.casefile import case_from_dict
from harness.conformance import assert_conforms
from harness.pytest_plugin import scaled
from harness.strategies import SEED_TABLE_ROWS, row_cases

# nn.Adam and mint.optim.Adam in each mode users call them (target-cpu and the lr forms
# run nn.Adam's dense kernels in the same modes).
IMPLEMENTATIONS = ("mindspore", "mindspore-graph", "mindspore-mint", "mindspore-mint-graph")
# float32 and float64 are every other module's; bfloat16 is rejected by all three
# (measured), so a quarter of the draws pin that and the rest probe float16.
DTYPES = ("float16", "float16", "float16", "bfloat16")


@st.composite
def any_dtype_cases(draw):
    """(row, case): a row of the difference table, then a case for it in float16 or bfloat16."""
    row = draw(st.sampled_from(SEED_TABLE_ROWS))
    return row, draw(row_cases(row, dtypes=st.sampled_from(DTYPES)))


# The thorough profile's finding, in the MindSpore adapter: it formed g * fl16(loss_scale),
# and fl16(65536) is inf, so every gradient became +-inf. A float16 loss scale must not
# overflow while g * L stays in range (and where g * L itself overflows, MindSpore gets inf).
LOSS_SCALE_BEYOND_FLOAT16 = ("loss_scale", case_from_dict({
    "schema": "optim-parity/case/1", "dtype": "float16", "hyperparameters": {"loss_scale": 65536.0},
    "params": [{"name": "w", "shape": [], "value": [0.0]}, {"name": "b", "shape": [], "value": [70.875]}],
    "grads": [[[-0.000116467], [0.5]], [[0.179], [2.29e-05]]]}))


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@settings(max_examples=scaled(30))
@given(drawn=any_dtype_cases())
@example(drawn=LOSS_SCALE_BEYOND_FLOAT16)
def test_low_precision(implementation, drawn):
    row, case = drawn
    assert_conforms(case, row, f"test_low_precision[{implementation}]", implementations=["reference", implementation])
