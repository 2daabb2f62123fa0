"""Row `eps_root` of the difference table: optax's eps_root, beyond the seed's table (no
row of MindSpore's page names it). The spec: the denominator is sqrt(v_hat + eps_root) + eps
(optax/_src/transform.py scale_by_adam).

Varied: eps_root from 1e-16 to 1, with the other options. optax's records express it;
torch and MindSpore have no counterpart (each rejects the keyword with its own error).
"""

from hypothesis import given, settings

from harness.catalogue import framework_available
from harness.conformance import assert_conforms
from harness.pytest_plugin import scaled
from harness.strategies import row_cases

ROW = "eps_root"
IMPLEMENTATIONS = ["reference", "torch", "mindspore"] + (
    ["optax-adam", "optax-adamw-x64"] if framework_available("optax") else [])


@settings(max_examples=scaled(20))
@given(case=row_cases(ROW))
def test_eps_root(case):
    results = assert_conforms(case, ROW, "test_eps_root", implementations=IMPLEMENTATIONS)
    statuses = {r.implementation: r.status for r in results}
    assert statuses["torch"] == statuses["mindspore"] == "no-counterpart", statuses
