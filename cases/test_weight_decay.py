"""Row `weight_decay` of the difference table (weight_decay <-> weight_decay); the seed says: consistent.

Varied: weight decay from 0 to 1 on parameters with plain and real network names
(conv1.weight, bn.gamma, bn.beta, fc.bias).
The rest of the case is generated too (shapes, dtypes, streams, other options).
"""

from hypothesis import given

from harness.conformance import assert_conforms
from harness.strategies import row_cases

ROW = "weight_decay"


@given(case=row_cases(ROW))
def test_weight_decay(case):
    assert_conforms(case, ROW, "test_weight_decay")
