"""Beyond the table: extreme gradients — NaN, +-Inf, values around the float32 overflow
of g * g (1.84e19) and near float32's largest value, subnormals — injected into ordinary
float32 gradient streams, with and without amsgrad and weight decay.

Both frameworks are compared with the spec element by element, non-finite values
included (NaN against NaN agrees; NaN against Inf or a number is infinitely out). Where
they propagate differently (torch's lerp turns an infinite exp_avg into NaN; MindSpore's
kernel flushes subnormals and overflows g * g) the registry says so; the report lists,
per implementation, which state became NaN or Inf at which step (`nonfinite` in
results.json).
"""

import warnings

import numpy as np
from hypothesis import given, settings

from harness.conformance import assert_conforms
from harness.pytest_plugin import scaled
from harness.strategies import extreme_gradient_cases

ROW = "extreme_gradients"


@settings(max_examples=scaled(60))
@given(case=extreme_gradient_cases())
def test_extreme_gradients(case):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # the spec's own inf - inf, 0 / 0
        assert_conforms(case, ROW, "test_extreme_gradients")
