"""Row-sparse gradients from a case's `sparse_rows` (harness/casefile.py): the indices
and values that torch's sparse COO tensor and MindSpore's RowTensor are built from.

A row listed k > 1 times has its value split among the copies: halves, then halves
of the rest, the last copy taking the remainder. Halving is exact in binary floating
point (short of the subnormal range), so the copies sum back to the dense row exactly
and an implementation that sums repeated indices sees the case's gradient.
"""

from __future__ import annotations

import numpy as np

from harness.casefile import Case


def row_sparse(case: Case, step: int, index: int, grad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(indices [nnz] int64, values [nnz, *shape[1:]]) of parameter `index`'s gradient
    `grad` (flat, dense) at 0-based `step`."""
    shape = case.params[index].shape
    rows = case.sparse_rows[step][index]
    dense = grad.reshape(shape[0], -1)
    remaining = {row: dense[row].copy() for row in set(rows)}
    left = {row: rows.count(row) for row in set(rows)}
    values = []
    for row in rows:
        left[row] -= 1
        piece = remaining[row] if left[row] == 0 else remaining[row] * grad.dtype.type(0.5)
        remaining[row] = remaining[row] - piece
        values.append(piece)
    values_array = np.stack(values).reshape((len(rows),) + tuple(shape[1:])) if rows else \
        np.zeros((0,) + tuple(shape[1:]), dtype=grad.dtype)
    return np.asarray(rows, dtype=np.int64), values_array.astype(grad.dtype)


def touched_elements(case: Case, step: int, index: int) -> np.ndarray:
    """Flat indices of the elements in the rows parameter `index` receives a gradient
    for at 0-based `step` (the spec keeps parameters flat)."""
    shape = case.params[index].shape
    row_size = int(np.prod(shape[1:], dtype=np.int64))
    rows = np.unique(np.asarray(case.sparse_rows[step][index], dtype=np.int64))
    return (rows[:, None] * row_size + np.arange(row_size)[None, :]).reshape(-1)
