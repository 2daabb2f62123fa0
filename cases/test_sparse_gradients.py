"""Row-sparse gradients (case files' `sparse_rows`: the gradient of a sparse gather,
an embedding lookup), lazy and not, on every implementation whose catalogue record
(harness/catalogue.py) can take them:

    torch, torch-foreach, ...  the dense forms: the rows not listed get a zero gradient,
                               i.e. non-lazy Adam (lazy Adam has no counterpart there)
    torch-sparse               torch.optim.SparseAdam, sparse COO gradients: lazy only
    mindspore-graph            nn.Adam, RowTensor gradients, default target (the in-graph
                               gather/scatter path; lazy with use_lazy=True)
    mindspore-target-cpu       the same with optimizer.target = 'CPU' (FusedSparseLazyAdam,
                               FusedSparseAdam)
    mindspore-mint, -graph     mint.optim.Adam: dense gradients, non-lazy

against the spec, which updates only the listed rows under use_lazy and every row
otherwise. Generated cases list rows per step with and without repeated indices, leave
rows without a gradient in some steps (one row in none), and combine the layout with the
table's other options (weight decay, amsgrad, Nesterov, loss scale, groups, ...) that the
implementation can express.
"""

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.casefile import load_case
from harness.catalogue import implementations, outside
from harness.conformance import assert_conforms
from harness.coverage import completable, expresses
from harness.pytest_plugin import scaled
from harness.strategies import PLAIN_NAMES, SPARSE_OPTIONS, sparse_cases

ROW = "use_lazy"
DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
ROW_SPARSE = implementations(within=lambda record: record.name != "reference"
                             and expresses(record.name, "layout", "row_sparse"))


def _cases_for(implementation: str):
    """Row-sparse cases drawing only what the implementation can express alongside them."""
    def can(**setting) -> bool:
        return completable(implementation, {"layout": "row_sparse", **setting})

    lazy = [value for value in (False, True) if can(use_lazy=value)]
    options = tuple(key for key in SPARSE_OPTIONS if can(**{key: True if key != "loss_scale" else "other"}))
    dtypes = [dtype for dtype in ("float32", "float32", "float64", "float16") if can(dtype=dtype)]
    # Plain parameter names: MindSpore's name-based weight-decay exemption (bn.gamma) is
    # the weight_decay row's; on top of float64's three float32-scalar mechanisms and a
    # lazy path's own it would be a sixth, beyond what attribution combines (MAX_JOINT_ROWS).
    return sparse_cases(dtypes=st.sampled_from(dtypes), lazy=st.sampled_from(lazy), options=options,
                        groups=can(groups="groups"), names=PLAIN_NAMES).filter(
        lambda case: outside(implementation, case) is None)


@pytest.mark.parametrize("implementation", ROW_SPARSE)
@settings(max_examples=scaled(15))
@given(data=st.data())
def test_row_sparse(implementation, data):
    case = data.draw(_cases_for(implementation))
    assert_conforms(case, ROW, f"test_row_sparse[{implementation}]", implementations=["reference", implementation])


@pytest.mark.parametrize("implementation", ("torch-sparse", "mindspore-graph", "mindspore-target-cpu"))
def test_repeated_rows_with_unequal_copies(implementation):
    case = load_case(DATA / "sparse-repeated-unequal-copies.json")
    assert_conforms(case, ROW, f"test_repeated_rows_with_unequal_copies_{implementation}",
                    implementations=["reference", implementation])
