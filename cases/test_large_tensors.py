"""The seed's overall claim (default arguments agree) at real tensor sizes: one
parameter of 1e4 to 1e6 elements, a vector or a layer's matrix, for a few steps.
Adam's kernels take other paths at size (vectorised bodies and their scalar tails,
thread partitions, foreach chunks) than on the suite's small tensors. One example in
the ci profile, ten in thorough (harness/pytest_plugin.py scaled)."""

from hypothesis import given, settings

from harness.conformance import assert_conforms
from harness.pytest_plugin import scaled
from harness.strategies import large_cases

ROW = "defaults"


@settings(max_examples=scaled(1))
@given(case=large_cases())
def test_defaults_at_real_tensor_sizes(case):
    assert_conforms(case, ROW, "test_defaults_at_real_tensor_sizes")
