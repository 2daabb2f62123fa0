"""The seed's overall claim: under default arguments (lr 1e-3, betas (0.9, 0.999),
eps 1e-8, no weight decay) mindspore.nn.Adam and torch.optim.Adam behave the same.

Both are measured against the spec on generated shapes (0-d to 4-d), initial values
and gradient streams spanning 1e-12..1e4, for 1-50 steps and for long runs.
"""

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.conformance import assert_conforms
from harness.pytest_plugin import scaled
from harness.strategies import cases

ROW = "defaults"


@given(case=cases(row=ROW, dtypes=st.sampled_from(["float32", "float64"]), vary_others=False))
def test_defaults_short_runs(case):
    assert_conforms(case, ROW, "test_defaults_short_runs")


@settings(max_examples=scaled(2))
@given(case=cases(row=ROW, steps=st.integers(1000, 10_000), max_elements=8, vary_others=False))
def test_defaults_long_runs(case):
    assert_conforms(case, ROW, "test_defaults_long_runs")
