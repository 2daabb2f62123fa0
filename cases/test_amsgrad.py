"""Row `amsgrad` of the difference table (amsgrad <-> use_amsgrad); the seed says: same function, different name.

Varied: amsgrad=True with generated streams, decaying and growing ones included (where
the running max of v matters).
The rest of the case is generated too (shapes, dtypes, streams, other options).
"""

from hypothesis import given

from harness.conformance import assert_conforms
from harness.strategies import row_cases

ROW = "amsgrad"


@given(case=row_cases(ROW))
def test_amsgrad(case):
    assert_conforms(case, ROW, "test_amsgrad")
