"""Every torch.optim implementation of Adam against the spec: the default single-tensor
path, foreach, fused (CPU kernel), AdamW, a Tensor lr, differentiable=True and an LR
scheduler (the catalogue's dense torch forms, harness/catalogue.py).

Each runs the same generated cases: every torch option drawn at once (lr and lr
schedules, betas, eps, weight decay L2 or decoupled, amsgrad, maximize, parameter
groups) in float16, bfloat16, float32 and float64. A dtype or option an implementation
rejects is `unsupported` with torch's own error; a divergence must be registered.
"""

import pytest
from hypothesis import given, settings

from harness.catalogue import implementations
from harness.coverage import expresses
from harness.conformance import assert_conforms
from harness.pytest_plugin import scaled
from harness.strategies import torch_implementation_cases

ROW = "torch implementations"
# Every torch.optim implementation that takes dense gradients (SparseAdam: test_sparse_gradients.py).
TORCH_IMPLEMENTATIONS = implementations(framework="torch", within=lambda r: expresses(r.name, "layout", "dense"))


@pytest.mark.parametrize("implementation", TORCH_IMPLEMENTATIONS)
@settings(max_examples=scaled(40))
@given(case=torch_implementation_cases())
def test_torch_implementation(implementation, case):
    assert_conforms(case, ROW, f"test_torch_implementation[{implementation}]",
                    implementations=["reference", implementation])
