"""The seed's overall claim: under default arguments (lr 1e-3, betas (0.9, 0.999),
eps 1e-8, no weight decay) mindspore.nn.Adam and torch.optim.Adam behave the same.

Both are measured against the spec on generated shapes (0-d to 4-d), initial values
and gradient streams spanning 1e-12..1e4, for 1-50 steps and for long runs.
"""

from hypothesis import given, settings

from harness.conformance import assert_conforms
from harness.pytest_plugin import scaled
from harness.strategies import row_cases

ROW = "defaults"


@given(case=row_cases(ROW))
def test_defaults_short_runs(case):
    assert_conforms(case, ROW, "test_defaults_short_runs")


@settings(max_examples=scaled(6))
@given(case=row_cases(ROW, long_runs=True))
def test_defaults_long_runs(case):
    assert_conforms(case, ROW, "test_defaults_long_runs")
