"""Row `use_lazy` with row-sparse gradients (case files' `sparse_rows`), against the
spec's lazy switch (only the rows a gradient lists are updated):

    torch-sparse           torch.optim.SparseAdam, sparse COO gradients
    mindspore-graph        nn.Adam(use_lazy=True), RowTensor gradients, default target
                           (the in-graph gather/scatter path)
    mindspore-target-cpu   the same with optimizer.target = 'CPU' (FusedSparseLazyAdam)

Generated cases list rows per step with and without repeated indices, and leave rows
without a gradient in some steps (one row in none).
"""

import pytest
from hypothesis import given, settings

from harness.conformance import assert_conforms
from harness.pytest_plugin import scaled
from harness.strategies import sparse_cases

ROW = "use_lazy"
IMPLEMENTATIONS = ("torch-sparse", "mindspore-graph", "mindspore-target-cpu")


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@settings(max_examples=scaled(15))
@given(case=sparse_cases())
def test_row_sparse_lazy(implementation, case):
    assert_conforms(case, ROW, f"test_sparse_lazy_{implementation}", implementations=["reference", implementation])
