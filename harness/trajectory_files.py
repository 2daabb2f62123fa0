"""A large trajectory kept in files instead of memory.

A framework's worker records every step of every quantity; at 1e6 elements x 100 steps
one float32 quantity is 400 MB, and the worker held its whole trajectory, then sent it
whole to the caller, which held it whole again while comparing. Where the caller names a
directory (harness/isolation.py sets TRAJECTORY_DIR_ENV for its workers), a history
keeps each quantity of more than FILE_ELEMENT_STEPS values in a RowFile: rows (steps)
written as they are recorded with positioned writes, read back by blocks of columns with
positioned reads (harness/trajectory_comparison.py compares a block of columns at a
time). The values live in the kernel's page cache, not in either process's memory, and
what crosses the socket is the file's name. Plain reads and writes, not a memory map: a
mapped page the comparison has read counts in the process's resident memory until the
kernel takes it back.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any, Iterator

import numpy as np

TRAJECTORY_DIR_ENV = "OPTIM_PARITY_TRAJECTORY_DIR"
# Values of one quantity (steps + 1 rows x elements) from which a history keeps it in a
# file: the size from which the caller no longer keeps a case's spec run whole either
# (harness/trajectory_comparison.py KEPT_WHOLE_MAX).
FILE_ELEMENT_STEPS = 1 << 22


class RowFile:
    """A [rows, n] array in a file, row-major: `values[t] = row` writes a row;
    `values[rows, columns]` (slices, an int row, or an index array of columns) reads into
    a new ndarray; iterating gives the rows. Pickles as its path, shape and dtype (a
    recording carries it to the caller); `remove()` deletes the file."""

    ndim = 2

    def __init__(self, path: str, shape: tuple[int, int], dtype: Any) -> None:
        self.path, self.shape, self.dtype = path, (int(shape[0]), int(shape[1])), np.dtype(dtype)
        self.size = self.shape[0] * self.shape[1]
        self._fd: int | None = None

    @classmethod
    def create(cls, directory: str, shape: tuple[int, int], dtype: Any) -> "RowFile":
        """A new file of zeros (sparse until written) in `directory`."""
        fd, path = tempfile.mkstemp(dir=directory, suffix=".rows")
        values = cls(path, shape, dtype)
        os.ftruncate(fd, values.size * values.dtype.itemsize)
        values._fd = fd
        return values

    def __reduce__(self):
        return RowFile, (self.path, self.shape, self.dtype.str)

    def _descriptor(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR)
        return self._fd

    def __len__(self) -> int:
        return self.shape[0]

    def __setitem__(self, row: int, values: Any) -> None:
        data = np.ascontiguousarray(np.broadcast_to(np.asarray(values, dtype=self.dtype), (self.shape[1],)))
        os.pwrite(self._descriptor(), memoryview(data).cast("B"), self._offset(row))

    def _offset(self, row: int, column: int = 0) -> int:
        row = range(self.shape[0])[row]  # negative rows and bounds as a sequence takes them
        return (row * self.shape[1] + column) * self.dtype.itemsize

    def _read(self, row: int, start: int, stop: int) -> np.ndarray:
        count = max(stop - start, 0)
        raw = os.pread(self._descriptor(), count * self.dtype.itemsize, self._offset(row, start))
        return np.frombuffer(raw, dtype=self.dtype, count=count)

    def __getitem__(self, key: Any) -> np.ndarray:
        rows, columns = key if isinstance(key, tuple) else (key, slice(None))
        if isinstance(rows, (int, np.integer)):
            row = range(self.shape[0])[rows]
            return self[row:row + 1, columns][0]
        picked = range(self.shape[0])[rows]
        if isinstance(columns, slice) and columns.step in (None, 1):
            start, stop, _ = columns.indices(self.shape[1])
            out = np.empty((len(picked), max(stop - start, 0)), dtype=self.dtype)
            for k, row in enumerate(picked):
                out[k] = self._read(row, start, stop)
            return out
        index = np.arange(self.shape[1])[columns]
        out = np.empty((len(picked), index.size), dtype=self.dtype)
        for k, row in enumerate(picked):
            out[k] = self._read(row, 0, self.shape[1])[index]
        return out

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self[row] for row in range(self.shape[0]))

    def __array__(self, dtype: Any = None) -> np.ndarray:
        whole = self[:, :]
        return whole if dtype is None else whole.astype(dtype)

    def remove(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def row_store(rows: int, elements: int, dtype: Any) -> np.ndarray | RowFile:
    """Where a history keeps one quantity of `rows` steps x `elements`: zeros in memory,
    or a RowFile where the caller named a directory and it holds more than
    FILE_ELEMENT_STEPS values."""
    directory = os.environ.get(TRAJECTORY_DIR_ENV)
    if directory and rows * elements > FILE_ELEMENT_STEPS:
        return RowFile.create(directory, (rows, elements), dtype)
    return np.zeros((rows, elements), dtype=dtype)


def release(data: dict[str, dict[str, Any]]) -> None:
    """Delete the files of a trajectory's quantities kept in RowFiles (once it is judged)."""
    for quantities in data.values():
        for values in quantities.values():
            if isinstance(values, RowFile):
                values.remove()
