"""Row `use_nesterov` of the difference table (- <-> use_nesterov); the seed says: MindSpore-only: NAG update.

Varied: use_nesterov=True against the spec's Nesterov switch; torch.optim.Adam has no
counterpart and must report unsupported.
The rest of the case is generated too (shapes, dtypes, streams, other options).
"""

from hypothesis import given

from harness.conformance import assert_conforms
from harness.strategies import row_cases

ROW = "use_nesterov"


@given(case=row_cases(ROW))
def test_use_nesterov(case):
    assert_conforms(case, ROW, "test_use_nesterov")
