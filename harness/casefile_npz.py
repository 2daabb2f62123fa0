"""The .npz container of a binary case file: its layout, read safely and written.

A large case is hundreds of MB of JSON and seconds to parse; the same case as an .npz
(numpy's zip of .npy members, written uncompressed) is its raw bytes. The schema is the
JSON case file's ("optim-parity/case/1", harness/casefile.py); only the numbers move
out of the JSON into arrays:

    case.json       UTF-8 JSON: the case file's object without its numbers. `params`
                    entries are {name, shape} (no `value`); `grads` is replaced by
                    `steps` (the number of steps) and, when some parameter has no
                    gradient at some step (`null` in a JSON case), `missing`: the
                    [step, parameter] index pairs (0-based) of those gradients.
                    Everything else (schema, optimizer, dtype, comment, hyperparameters,
                    param_groups, sparse_rows) is as in the JSON case.
    value_<i>.npy   parameter i's initial value, flat (row-major), shape (n_i,)
    grads_<i>.npy   parameter i's gradients stacked, shape (steps, n_i); a missing
                    gradient's row is zeros

i counts the parameters in `params` order from 0; n_i is the product of the shape (1 for
a scalar). The arrays are in the case dtype's storage type (reference/dtypes.py
STORAGE: float16, float32, float64; bfloat16 values as exact float32s), in native byte
order (little-endian: "<f4"), and hold the values bit for bit (NaN and infinities included, where the
JSON form writes "nan", "inf", "-inf").

The file comes from other machines, so `read_npz` checks the archive before it reads an
array: the file within its size limit, `case.json` within it too and parsed with
harness/untrusted.py's protections, then (from what the metadata says) exactly the
expected member names, each member's declared uncompressed size no larger than its
array needs (a zip bomb declares gigabytes), and each .npy header's dtype and shape the
expected ones (never object) before any array is allocated; arrays are read as np.load
reads an .npz's, with allow_pickle=False. Anything else (not a zip, cut short, a bad
CRC, an encrypted member) is the caller's one-line `error`. What the fields mean and
whether their values are allowed is harness/casefile.py's to check, with the JSON
path's messages.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any, Callable

import numpy as np

from harness.untrusted import parse_json

META = "case.json"
# The largest .npy header read ahead of an array (numpy's own limit is 10,000 bytes of
# header text; a header of a 1-d or 2-d float array is 128 bytes).
_MAX_NPY_HEADER = 1 << 14
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the same case, the same bytes


def value_member(index: int) -> str:
    return f"value_{index}.npy"


def grads_member(index: int) -> str:
    return f"grads_{index}.npy"


# member name -> (numpy dtype, shape) that the metadata makes it
Expected = dict[str, tuple[np.dtype, tuple[int, ...]]]


def read_npz(path: str | Path, error: type[Exception], max_bytes: int,
             expected: Callable[[Any], Expected]) -> tuple[Any, dict[str, np.ndarray]]:
    """The parsed metadata (`case.json`) and the arrays (member name -> array) of the
    .npz at `path`; `expected(metadata)` checks the metadata (raising `error`) and says
    which array members it makes. Every way the archive can be unusable is `error` with
    one line starting with the path."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise error(f"{path}: {size} bytes, over the limit of {max_bytes} for this kind of file")
        file = path.open("rb")
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror or exc})") from None
    with file:
        try:
            return _read(file, path, error, max_bytes, expected)
        except error:
            raise
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, ValueError, struct.error,
                OverflowError, OSError) as exc:
            # a CRC or a compressed stream that does not check out, a member cut short or
            # whose headers disagree or point outside the file, a compression method zipfile lacks
            raise error(f"{path}: not a readable .npz archive ({_one_line(exc)})") from None


def _read(file, path: Path, error: type[Exception], max_bytes: int,
          expected: Callable[[Any], Expected]) -> tuple[Any, dict[str, np.ndarray]]:
    try:
        archive = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, ValueError, struct.error, OverflowError, EOFError, OSError):
        raise error(f"{path}: not an .npz archive (a zip of .npy members)") from None
    with archive:
        infos = archive.infolist()
        names = [info.filename for info in infos]
        if len(set(names)) != len(names):
            raise error(f"{path}: a member name listed twice in the archive")
        by_name = {info.filename: info for info in infos}
        if any(info.flag_bits & 0x1 for info in infos):
            raise error(f"{path}: an encrypted member")
        if META not in by_name:
            raise error(f"{path}: no {META} member (the case's metadata)")
        if by_name[META].file_size > max_bytes:
            raise error(f"{path}: {META}: {by_name[META].file_size} bytes uncompressed, over the limit of "
                        f"{max_bytes}")
        metadata = parse_json(archive.read(META), f"{path}: {META}", error)
        arrays = expected(metadata)
        wanted = {META, *arrays}
        if set(names) != wanted:
            missing, extra = sorted(wanted - set(names)), sorted(set(names) - wanted)
            raise error(f"{path}: not the members its {META} makes:"
                        + (f" missing {_shown(missing)}" if missing else "")
                        + ("," if missing and extra else "") + (f" unexpected {_shown(extra)}" if extra else ""))
        for name, (dtype, shape) in arrays.items():
            _check_member(archive, by_name[name], dtype, shape, path, error)
        # What np.load(path, allow_pickle=False)[name] does, from this archive: np.load
        # itself would open the file again and take it for a pickle where it does not
        # start as a zip does (zipfile reads an archive from its end).
        values = {}
        for name in arrays:
            with archive.open(by_name[name]) as member:
                values[name] = np.lib.format.read_array(member, allow_pickle=False)
        return metadata, values


def _check_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, dtype: np.dtype, shape: tuple[int, ...],
                  path: Path, error: type[Exception]) -> None:
    """The member's declared size and .npy header against what it must hold, before any
    of its data is read (np.load allocates the header's shape up front)."""
    where = f"{path}: {info.filename}"
    data_bytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if info.file_size > data_bytes + _MAX_NPY_HEADER:
        raise error(f"{where}: {info.file_size} bytes uncompressed, more than {_dtype_words(dtype, shape)} take")
    with archive.open(info) as member:
        head = io.BytesIO(member.read(min(info.file_size, _MAX_NPY_HEADER)))
    try:
        version = np.lib.format.read_magic(head)
        if version not in ((1, 0), (2, 0)):
            raise ValueError(f".npy format version {version[0]}.{version[1]} (1.0 or 2.0 read)")
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
            np.lib.format.read_array_header_2_0
        found_shape, _, found_dtype = read_header(head)
    except (ValueError, SyntaxError, TypeError) as exc:
        raise error(f"{where}: not a usable .npy array ({_one_line(exc)})") from None
    if found_dtype != dtype or tuple(found_shape) != shape:
        raise error(f"{where}: expected {_dtype_words(dtype, shape)}, found {found_dtype.str} "
                    f"({found_dtype.name}) of shape {tuple(found_shape)}")
    if info.file_size != head.tell() + data_bytes:
        raise error(f"{where}: {info.file_size} bytes uncompressed, where its header and "
                    f"{_dtype_words(dtype, shape)} are {head.tell() + data_bytes}")


def _dtype_words(dtype: np.dtype, shape: tuple[int, ...]) -> str:
    return f"{dtype.str} ({dtype.name}) values of shape {shape}"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]


def _shown(names: list[str]) -> str:
    return ascii(names) if len(names) <= 5 else ascii(names[:5])[:-1] + f", ... ({len(names)} in all)]"


def write_npz(path: str | Path, metadata: dict, arrays: dict[str, np.ndarray]) -> None:
    """Write the archive to `path` (not atomically: the caller writes a temp file and
    replaces): `case.json` first, then the arrays in order, uncompressed, with fixed
    timestamps (the same case gives the same bytes)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        text = json.dumps(metadata, allow_nan=False)
        archive.writestr(zipfile.ZipInfo(META, _FIXED_TIME), text.encode("utf-8"))
        for name, array in arrays.items():
            with archive.open(zipfile.ZipInfo(name, _FIXED_TIME), "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)
