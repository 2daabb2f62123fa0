"""Row `use_locking` of the difference table (- <-> use_locking); the seed says: MindSpore-only: whether the accumulators are updated under a lock.

Varied: use_locking=True against plain Adam (the spec has no locking: a single-process
update must not change).
The rest of the case is generated too (shapes, dtypes, streams, other options).
"""

from hypothesis import given

from harness.conformance import assert_conforms
from harness.strategies import row_cases

ROW = "use_locking"


@given(case=row_cases(ROW))
def test_use_locking(case):
    assert_conforms(case, ROW, "test_use_locking")
