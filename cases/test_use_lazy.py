"""Row `use_lazy` of the difference table (- <-> kwargs use_lazy); the seed says: MindSpore-only: Lazy Adam.

Varied: use_lazy=True with dense gradients against plain Adam (row-sparse gradients are a
later issue).
The rest of the case is generated too (shapes, dtypes, streams, other options).
"""

from hypothesis import given

from harness.conformance import assert_conforms
from harness.strategies import row_cases

ROW = "use_lazy"


@given(case=row_cases(ROW))
def test_use_lazy(case):
    assert_conforms(case, ROW, "test_use_lazy")
