"""Row `betas` of the difference table (betas <-> beta1, beta2); the seed says: same function, different name.

Varied: beta1 from 0 to 0.99999 and beta2 from 1e-3 to 0.999999 (boundaries 0.99999 and
0.999999 included), short runs and runs of up to 10,000 steps.
The rest of the case is generated too (shapes, dtypes, streams, other options).
"""

from hypothesis import given, settings

from harness.conformance import assert_conforms
from harness.pytest_plugin import scaled
from harness.strategies import row_cases

ROW = "betas"


@given(case=row_cases(ROW))
def test_betas(case):
    assert_conforms(case, ROW, "test_betas")


@settings(max_examples=scaled(6))
@given(case=row_cases(ROW, long_runs=True))
def test_betas_long_runs(case):
    assert_conforms(case, ROW, "test_betas_long_runs")
