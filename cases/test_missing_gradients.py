"""Beyond the table: parameters whose gradient is missing at some steps (a layer that a
step's loss does not use).

The spec: a parameter without a gradient is not part of that step — no update, no state
change, and its own step count (so its bias correction) does not advance; an lr schedule
still follows the optimizer's steps. torch does exactly this for `.grad is None`.
MindSpore's optimizers take one gradient per parameter, and MindSpore's autodiff gives an
unused parameter a zero gradient, so the adapters pass zeros: what that changes is the
registry's business (momentum keeps moving the parameter; the step count advances).
"""

from hypothesis import given, settings

from harness.catalogue import implementations
from harness.coverage import expresses
from harness.conformance import assert_conforms
from harness.pytest_plugin import scaled
from harness.strategies import missing_gradient_cases

ROW = "missing_gradients"
# Every implementation whose catalogue record takes missing gradients (all but SparseAdam).
IMPLEMENTATIONS = implementations(within=lambda r: expresses(r.name, "layout", "missing"))


@settings(max_examples=scaled(25))
@given(case=missing_gradient_cases())
def test_missing_gradients(case):
    assert_conforms(case, ROW, "test_missing_gradients", implementations=list(IMPLEMENTATIONS))
