"""Row `use_offload` of the difference table (- <-> kwargs use_offload); the seed says: MindSpore-only: Offload Adam.

Varied: use_offload=True with dense gradients against plain Adam.
The rest of the case is generated too (shapes, dtypes, streams, other options).
"""

from hypothesis import given

from harness.conformance import assert_conforms
from harness.strategies import row_cases

ROW = "use_offload"


@given(case=row_cases(ROW))
def test_use_offload(case):
    assert_conforms(case, ROW, "test_use_offload")
