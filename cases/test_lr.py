"""Row `lr` of the difference table (lr <-> learning_rate); the seed says: same function, different name.

Varied: lr from 0 to 10 (log-uniform, with 0 and round values) and per-step lr lists
(torch: group['lr'] written before each step, as a scheduler does; MindSpore: a list
learning_rate, its dynamic-lr form).
The rest of the case is generated too (shapes, dtypes, streams, other options).
"""

from hypothesis import given

from harness.conformance import assert_conforms
from harness.strategies import row_cases

ROW = "lr"


@given(case=row_cases(ROW))
def test_lr(case):
    assert_conforms(case, ROW, "test_lr")
