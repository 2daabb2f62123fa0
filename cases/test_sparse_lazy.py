"""Row `use_lazy` with row-sparse gradients (case files' `sparse_rows`), against the
spec's lazy switch (only the rows a gradient lists are updated):

    torch-sparse           torch.optim.SparseAdam, sparse COO gradients
    mindspore-graph        nn.Adam(use_lazy=True), RowTensor gradients, default target
                           (the in-graph gather/scatter path)
    mindspore-target-cpu   the same with optimizer.target = 'CPU' (FusedSparseLazyAdam)

Generated cases list rows per step with and without repeated indices, and leave rows
without a gradient in some steps (one row in none).

MindSpore is fed float32 only: float64 on the default target runs float32-accurate and
is not yet registered (tests/data/mindspore-sparse-float64-default-target.json; the
Fused kernels of target='CPU' reject float64).
"""

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.casefile import load_case
from harness.conformance import assert_conforms
from harness.pytest_plugin import scaled
from harness.strategies import sparse_cases

ROW = "use_lazy"
DATA = Path(__file__).resolve().parent.parent / "tests" / "data"


@settings(max_examples=scaled(15))
@given(case=sparse_cases())
def test_torch_sparse(case):
    assert_conforms(case, ROW, "test_sparse_lazy_torch-sparse", implementations=["reference", "torch-sparse"])


@pytest.mark.parametrize("implementation", ("mindspore-graph", "mindspore-target-cpu"))
@settings(max_examples=scaled(15))
@given(case=sparse_cases(dtypes=st.just("float32")))
def test_mindspore_row_sparse(implementation, case):
    assert_conforms(case, ROW, f"test_sparse_lazy_{implementation}", implementations=["reference", implementation])


@pytest.mark.parametrize("implementation", ("torch-sparse", "mindspore-graph", "mindspore-target-cpu"))
def test_repeated_rows_with_unequal_copies(implementation):
    case = load_case(DATA / "sparse-repeated-unequal-copies.json")
    assert_conforms(case, ROW, f"test_repeated_rows_with_unequal_copies_{implementation}",
                    implementations=["reference", implementation])
