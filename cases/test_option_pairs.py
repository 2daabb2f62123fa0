"""Beyond one row at a time: every implementation on the combined option space.

Each implementation's catalogue record (harness/catalogue.py) says which value classes
of every factor — each hyperparameter, the dtype, the gradient layout (dense, row-sparse
lazy or not, missing gradients), parameter groups — it can express, and which
combinations it cannot. harness/coverage.py builds, per implementation, a small set of
cases inside that space (a pairwise covering array: every expressible pair of settings in
at least one case, a few hundred cases in all, not the product), and every one runs
against the spec here: an unregistered violation or a crash fails, as in the per-row
modules. The thorough profile draws more numbers for the same combinations.

Every setting an implementation cannot express gets one probe: it must come out
`no-counterpart` (with the framework's own error where it has one) or, for a measured
failure, `unsupported`, never run and compared: a framework that accepts it makes the
catalogue's claim stale, and this fails.
"""

import pytest

from harness.catalogue import DEFAULT_IMPLEMENTATIONS
from harness.conformance import assert_conforms
from harness.coverage import covering_rows
from harness.engine import NO_COUNTERPART, UNSUPPORTED
from harness.pytest_plugin import scaled
from harness.strategies import covering_case, outside_settings, probe_case
from harness.sweep import PAIRS_ROW as ROW
IMPLEMENTATIONS = [name for name in DEFAULT_IMPLEMENTATIONS if name != "reference"]
COVERING = [(name, index) for name in IMPLEMENTATIONS for index in range(len(covering_rows(name)))]
PROBES = [(name, factor, value) for name in IMPLEMENTATIONS for factor, value in outside_settings(name)]


@pytest.mark.parametrize("implementation, index", COVERING, ids=[f"{n}-{i:02d}" for n, i in COVERING])
def test_covering_case(implementation, index):
    for seed in range(scaled(1)):
        case = covering_case(implementation, index, seed)
        assert_conforms(case, ROW, f"test_option_pairs[{implementation}-{index:02d}-{seed}]",
                        implementations=["reference", implementation])


@pytest.mark.parametrize("implementation, factor, value", PROBES, ids=[f"{n}-{f}={v}" for n, f, v in PROBES])
def test_outside_the_space(implementation, factor, value):
    case = probe_case(factor, value)
    result = assert_conforms(case, ROW, f"test_option_pairs_outside[{implementation}-{factor}={value}]",
                             implementations=["reference", implementation])[1]
    assert result.status in (NO_COUNTERPART, UNSUPPORTED), (
        f"{implementation} ran a case with {factor}={value}, which its catalogue record says it cannot express "
        f"(status {result.status}; {result.message}): the claim in harness/catalogue.py is stale")
