"""Row `eps` of the difference table (eps <-> eps); the seed says: consistent.

Varied: eps from 1e-16 to 1 against gradients spanning 1e-12..1e4, so eps is sometimes
negligible and sometimes dominant.
The rest of the case is generated too (shapes, dtypes, streams, other options).
"""

from hypothesis import given

from harness.conformance import assert_conforms
from harness.strategies import row_cases

ROW = "eps"


@given(case=row_cases(ROW))
def test_eps(case):
    assert_conforms(case, ROW, "test_eps")
