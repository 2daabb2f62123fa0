"""Row `loss_scale` of the difference table (- <-> loss_scale); the seed says: MindSpore-only: gradient scaling factor.

Varied: loss_scale=L with the gradients multiplied by L (MindSpore) against the spec and
torch with the unscaled gradients; L powers of two and not.
The rest of the case is generated too (shapes, dtypes, streams, other options).
"""

from hypothesis import given

from harness.conformance import assert_conforms
from harness.strategies import row_cases

ROW = "loss_scale"


@given(case=row_cases(ROW))
def test_loss_scale(case):
    assert_conforms(case, ROW, "test_loss_scale")
