"""Row `params` of the difference table (params <-> params); the seed says: consistent.

Varied: several named parameters of different shapes (real network names included) and
parameter groups with per-group lr and weight decay, mapped onto each framework's
group form.
The rest of the case is generated too (shapes, dtypes, streams, other options).
"""

from hypothesis import given

from harness.conformance import assert_conforms
from harness.strategies import row_cases

ROW = "params"


@given(case=row_cases(ROW))
def test_params(case):
    assert_conforms(case, ROW, "test_params")
