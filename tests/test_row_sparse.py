"""Case files' sparse_rows (harness/casefile.py) and the row-sparse gradients built
from them (harness/row_sparse.py)."""

import json

import numpy as np
import pytest

from harness.casefile import CaseError, case_from_dict, dumps_case
from harness.row_sparse import row_sparse, touched_elements

BASE = {"schema": "optim-parity/case/1", "dtype": "float32", "hyperparameters": {"use_lazy": True},
        "params": [{"name": "embedding", "shape": [3, 2], "value": [0.5, -1.0, 2.0, 0.25, 1.5, -0.5]}],
        "grads": [[[0.1, -0.2, 0.0, 0.0, 0.3, 0.7]]], "sparse_rows": [[[0, 2, 0, 0]]]}


def test_round_trip():
    case = case_from_dict(BASE)
    assert case.sparse_rows == (((0, 2, 0, 0),),)
    assert dumps_case(case_from_dict(json.loads(dumps_case(case)))) == dumps_case(case)
    assert "sparse_rows" in json.loads(dumps_case(case))


def test_repeated_rows_split_exactly_and_sum_back():
    case = case_from_dict(BASE)
    indices, values = row_sparse(case, 0, 0, case.grads[0][0])
    assert indices.tolist() == [0, 2, 0, 0]
    assert values.shape == (4, 2) and values.dtype == np.float32
    summed = np.zeros((3, 2), np.float32)
    np.add.at(summed, indices, values)
    assert np.array_equal(summed.reshape(-1), case.grads[0][0])
    assert values[0].tolist() == pytest.approx([0.05, -0.1])  # halves: exact in binary
    assert touched_elements(case, 0, 0).tolist() == [0, 1, 4, 5]


@pytest.mark.parametrize("change, field", [
    ({"sparse_rows": [[[0]]]}, "grads[0][0]"),  # row 2 has a gradient but is not listed
    ({"sparse_rows": [[[0, 3]]]}, "sparse_rows[0][0]"),  # out of range
    ({"sparse_rows": []}, "sparse_rows"),  # one entry per step
    ({"params": [{"name": "s", "shape": [], "value": [1.0]}], "grads": [[[0.1]]], "sparse_rows": [[[0]]]},
     "sparse_rows[0][0]"),  # 0-d has no rows
])
def test_rejected_with_the_field_named(change, field):
    with pytest.raises(CaseError, match=field.replace("[", r"\[").replace("]", r"\]")):
        case_from_dict({**BASE, **change})
