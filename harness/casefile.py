"""The canonical case: one optimizer run, independent of any framework.

A case file is JSON (schema "optim-parity/case/1"); see README.md "Case files".
Values are flat in row-major order. On load every parameter and gradient value is
rounded to the case dtype (bfloat16: round-to-nearest-even, reference/dtypes.py); on
save every number is written as the shortest decimal that round-trips its float64
value (float16, bfloat16 and float32 values are float64-exact), so a saved case loads
back bit for bit.

A large case is better binary: the same schema as an .npz, its numbers as arrays and
the rest as a small JSON member (the layout: harness/casefile_npz.py). `load_case` and
`save_case` go by the file's suffix (.json or .npz). The .npz path rebuilds the JSON
case's object with numpy arrays in place of the number lists and checks it with the
same `case_from_dict` (which takes a float array wherever it takes a list of numbers),
so both forms have the same checks and the same messages; its own metadata fields
(`steps`, `missing`) are checked before any array is read, with the budget.
"""

from __future__ import annotations

import json
import math
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.casefile_npz import grads_member, read_npz, value_member, write_npz
from harness.nonfinite import TEXTS as NONFINITE_TEXTS, from_json, to_json
from harness.settings import CASE_BUDGET_ENV, case_budget
from harness.untrusted import expect_number, read_json, shown
from reference.domain import domain_error
from reference.dtypes import STORAGE, cast

SCHEMA = "optim-parity/case/1"
# dtype name -> numpy type holding its values (bfloat16 values are held as exact float32s)
DTYPES = STORAGE

# Canonical hyperparameter names: torch's names for shared options, MindSpore's
# names for MindSpore-only ones. Omitted keys take these (torch's) defaults.
DEFAULT_HYPERPARAMETERS: dict[str, Any] = {
    "lr": 0.001,
    "betas": [0.9, 0.999],
    "eps": 1e-08,
    "weight_decay": 0.0,
    "amsgrad": False,
    "maximize": False,
    "decoupled_weight_decay": False,
    "use_locking": False,
    "use_nesterov": False,
    "loss_scale": 1.0,
    "use_lazy": False,
    "use_offload": False,
    # optax's eps_root (optax/_src/transform.py scale_by_adam): added to v^_t inside the
    # square root, sqrt(v^_t + eps_root) + eps; 0 in every other framework's Adam.
    "eps_root": 0.0,
}
_BOOL_KEYS = {"amsgrad", "maximize", "decoupled_weight_decay", "use_locking", "use_nesterov", "use_lazy", "use_offload"}
_TOP_KEYS = {"schema", "optimizer", "dtype", "hyperparameters", "params", "grads", "param_groups", "comment", "sparse_rows"}
_GROUP_KEYS = {"params", "lr", "weight_decay"}
_PARAM_KEYS = ("name", "shape", "value")
# An .npz case's metadata (harness/casefile_npz.py): the numbers are its arrays.
_NPZ_TOP_KEYS = _TOP_KEYS - {"grads"} | {"steps", "missing"}
_NPZ_PARAM_KEYS = ("name", "shape")
_FLOAT_TYPES = (np.float16, np.float32, np.float64)


class CaseError(ValueError):
    """A case that does not follow the schema; the message is one line for the user."""


@dataclass(frozen=True)
class ParamSpec:
    name: str
    shape: tuple[int, ...]
    value: np.ndarray  # flat, in the case dtype


@dataclass(frozen=True)
class ParamGroup:
    """A parameter group: per-group lr / weight_decay override the case-wide ones."""

    params: tuple[str, ...]
    lr: float | None = None
    weight_decay: float | None = None


@dataclass(frozen=True)
class Case:
    dtype: str
    hyperparameters: dict[str, Any]
    params: tuple[ParamSpec, ...]
    grads: tuple[tuple[np.ndarray, ...], ...]  # [step][param] flat, in the case dtype
    param_groups: tuple[ParamGroup, ...] = ()
    comment: str = ""
    optimizer: str = "adam"
    # Row-sparse gradients: [step][param] -> row indices along axis 0 (repeats allowed);
    # () when every gradient is dense. See _sparse_rows.
    sparse_rows: tuple[tuple[tuple[int, ...], ...], ...] = ()
    # Missing gradients: [step] -> indices of the parameters that have no gradient at
    # that step (`null` in the file; their `grads` entry holds zeros). () when none is.
    missing: tuple[frozenset[int], ...] = ()

    def has_gradient(self, step: int, param: int) -> bool:
        """Whether parameter `param` (index) has a gradient at 0-based `step`."""
        return not self.missing or param not in self.missing[step]

    @property
    def np_dtype(self) -> type:
        """The numpy type holding the case's values (float32 for bfloat16: use `dtype`,
        the name, for anything about rounding)."""
        return DTYPES[self.dtype]

    @property
    def num_steps(self) -> int:
        return len(self.grads)

    def hp(self, key: str) -> Any:
        return self.hyperparameters.get(key, DEFAULT_HYPERPARAMETERS[key])

    def group_of(self, name: str) -> ParamGroup | None:
        for group in self.param_groups:
            if name in group.params:
                return group
        return None

    def lr_for(self, name: str) -> float | list[float]:
        group = self.group_of(name)
        return group.lr if group is not None and group.lr is not None else self.hp("lr")

    def weight_decay_for(self, name: str) -> float:
        group = self.group_of(name)
        if group is not None and group.weight_decay is not None:
            return group.weight_decay
        return self.hp("weight_decay")

    def decays(self) -> bool:
        """Whether weight decay reaches some parameter (the case's own or a group's)."""
        return any(self.weight_decay_for(p.name) != 0.0 for p in self.params)

    def non_default_options(self) -> set[str]:
        return {k for k, v in self.hyperparameters.items() if v != DEFAULT_HYPERPARAMETERS[k]}

    def __reduce__(self):
        # Pickled (a case goes to every isolated worker, harness/isolation.py) with each
        # parameter's gradients as one [steps, n] array: one small array per step and
        # parameter cost a pickle record each, which made a 50-step case's round trip
        # longer than its torch run. Unpickled, the steps are rows of those arrays.
        stacked = tuple(np.stack([step[j] for step in self.grads]) if self.grads
                        else np.empty((0, spec.value.size), dtype=spec.value.dtype)
                        for j, spec in enumerate(self.params))
        fields = {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "grads"}
        return _unpickle_case, (fields, stacked, len(self.grads))


def _unpickle_case(fields: dict[str, Any], stacked: tuple[np.ndarray, ...], steps: int) -> Case:
    return Case(grads=tuple(tuple(per_param[t] for per_param in stacked) for t in range(steps)), **fields)


def _fail(where: str, what: str) -> CaseError:
    return CaseError(f"{where}: {what}")


def _number(x: Any, where: str) -> float:
    return expect_number(x, where, CaseError)


# Gradients may be non-finite (what each implementation makes of NaN and Inf is a
# question the suite asks); JSON has no such numbers, so they are strings
# (harness/nonfinite.py).
def _gradient_number(x: Any, where: str) -> float:
    if isinstance(x, str) and x in NONFINITE_TEXTS:
        return from_json(x)
    if isinstance(x, float) and not math.isfinite(x):
        return x  # Python's json reads NaN / Infinity
    return _number(x, where)


def _plain_numbers(values: list, nonfinite: bool) -> np.ndarray | None:
    """The values as float64 when every one is a plain JSON number (int or float, no bool,
    no text) that the field takes, in one conversion; None otherwise. A case's values are
    almost always plain, and checking them one by one was most of the time it took to
    load a large case (41 M Python calls for 1e6 elements x 20 steps)."""
    if not set(map(type, values)) <= {float, int}:
        return None
    try:
        array = np.array(values, dtype=np.float64)
    except OverflowError:  # an integer beyond float64
        return None
    return array if nonfinite or np.isfinite(array).all() else None


def _float_array(values: np.ndarray, size: int, where: str, nonfinite: bool) -> np.ndarray:
    """A numpy array where the JSON form has a list of numbers (an .npz case's): float16,
    float32 or float64, flat, `size` values, finite unless `nonfinite`; each refusal
    words as the list's would."""
    if values.dtype.type not in _FLOAT_TYPES:
        raise _fail(where, f"expected float16, float32 or float64 values, got an array of {values.dtype}")
    if values.ndim != 1:
        raise _fail(where, f"expected a flat (1-d) array, got one of shape {values.shape}")
    if values.size != size:
        raise _fail(where, f"expected {size} values (product of the shape), got {values.size}")
    if not nonfinite and not np.isfinite(values).all():
        bad = int(np.flatnonzero(~np.isfinite(values))[0])
        _number(float(values[bad]), f"{where}[{bad}]")  # raises, as for the same number in a list
    return values


def _array(values: Any, size: int, dtype: str, where: str, nonfinite: bool = False) -> np.ndarray:
    if isinstance(values, np.ndarray):
        array = _float_array(values, size, where, nonfinite)
    else:
        if not isinstance(values, list):
            raise _fail(where, "expected a flat list of numbers")
        if len(values) != size:
            raise _fail(where, f"expected {size} values (product of the shape), got {len(values)}")
        array = _plain_numbers(values, nonfinite)
        if array is None:  # something to say about some value: checked one by one, for its message
            number = _gradient_number if nonfinite else _number
            array = np.array([number(x, f"{where}[{i}]") for i, x in enumerate(values)], dtype=np.float64)
    # Decimal values are rounded to the nearest value of the case dtype (0.1 becomes
    # float32(0.1)); saving writes that value, which then round-trips exactly.
    rounded = cast(array, dtype)
    if not np.all(np.isfinite(rounded) | ~np.isfinite(array)):
        bad = int(np.flatnonzero(~np.isfinite(rounded))[0])
        raise _fail(f"{where}[{bad}]", f"{values[bad] if isinstance(values, list) else float(values[bad])!r} "
                                       f"overflows {dtype}")
    return rounded


def _hyperparameters(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise _fail("hyperparameters", "expected an object")
    unknown = sorted(set(raw) - set(DEFAULT_HYPERPARAMETERS))
    if unknown:
        raise _fail("hyperparameters", f"unknown key(s) {unknown}; known: {sorted(DEFAULT_HYPERPARAMETERS)}")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        where = f"hyperparameters.{key}"
        if key in _BOOL_KEYS:
            if not isinstance(value, bool):
                raise _fail(where, "expected true or false")
            out[key] = value
        elif key == "betas":
            if not (isinstance(value, list) and len(value) == 2):
                raise _fail(where, "expected [beta1, beta2]")
            out[key] = [_number(b, f"{where}[{i}]") for i, b in enumerate(value)]
        elif key == "lr" and isinstance(value, list):
            if not value:
                raise _fail(where, "a per-step lr list must not be empty")
            out[key] = [_number(x, f"{where}[{i}]") for i, x in enumerate(value)]
        else:
            out[key] = _number(value, where)
        if key not in _BOOL_KEYS:
            _in_domain(key, out[key], where)
    return out


def _in_domain(key: str, value: Any, where: str) -> None:
    """A hyperparameter outside the spec's domain (reference/domain.py) is refused: the
    spec does not define what an implementation must do there, so no verdict could be
    right (loss_scale = 0 makes the spec's own run NaN). A per-step lr list is checked
    value by value."""
    for i, item in enumerate(value) if key == "lr" and isinstance(value, list) else [(None, value)]:
        why = domain_error(key, item)
        if why is not None:
            raise _fail(where if i is None else f"{where}[{i}]",
                        f"{shown(item)} is outside the spec's domain ({why}; reference/domain.py)")


def _head(raw: Any, top_keys: set[str], param_keys: tuple[str, ...]) -> tuple[str, dict[str, Any], list]:
    """The dtype, hyperparameters and parameter shapes of a case's object (JSON, or an
    .npz case's metadata: other keys, no values), checked up to the budget."""
    if not isinstance(raw, dict):
        raise _fail("case", "expected a JSON object")
    if raw.get("schema") != SCHEMA:
        raise _fail("schema", f"expected {SCHEMA!r}, got {shown(raw.get('schema'))}")
    unknown = sorted(set(raw) - top_keys)
    if unknown:
        raise _fail("case", f"unknown key(s) {unknown}")
    if raw.get("optimizer", "adam") != "adam":
        raise _fail("optimizer", f"only 'adam' is supported, got {shown(raw.get('optimizer'))}")
    dtype = raw.get("dtype", "float32")
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise _fail("dtype", f"expected one of {sorted(DTYPES)}, got {shown(dtype)}")
    hyperparameters = _hyperparameters(raw.get("hyperparameters", {}))

    raw_params = raw.get("params")
    if not isinstance(raw_params, list) or not raw_params:
        raise _fail("params", f"expected a non-empty list of {{{', '.join(param_keys)}}}")
    shapes = []
    for i, p in enumerate(raw_params):
        where = f"params[{i}]"
        if not isinstance(p, dict) or set(p) != set(param_keys):
            raise _fail(where, f"expected exactly the keys {', '.join(param_keys)}")
        if not isinstance(p["name"], str) or not p["name"]:
            raise _fail(f"{where}.name", "expected a non-empty string")
        shape = p["shape"]
        if not isinstance(shape, list) or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in shape):
            raise _fail(f"{where}.shape", "expected a list of positive integers ([] for a scalar)")
        shapes.append(tuple(shape))
    return dtype, hyperparameters, shapes


def case_from_dict(raw: Any) -> Case:
    """The case a case file's object holds, every field checked. Where the JSON has a
    list of numbers (a parameter's value, a gradient) a flat numpy float array is taken
    too (an .npz case's arrays), with the same checks."""
    dtype, hyperparameters, shapes = _head(raw, _TOP_KEYS, _PARAM_KEYS)
    raw_params = raw["params"]
    raw_grads = raw.get("grads")
    if not isinstance(raw_grads, list) or not raw_grads:
        raise _fail("grads", "expected a non-empty list of steps, each a list with one gradient per parameter")
    _within_budget(sum(math.prod(shape) for shape in shapes), len(raw_grads))
    params = [ParamSpec(p["name"], shape, _array(p["value"], math.prod(shape), dtype, f"params[{i}].value"))
              for i, (p, shape) in enumerate(zip(raw_params, shapes))]
    names = [p.name for p in params]
    if len(set(names)) != len(names):
        raise _fail("params", "parameter names must be unique")

    grads = []
    missing: list[frozenset[int]] = []
    for s, step in enumerate(raw_grads):
        if not isinstance(step, list) or len(step) != len(params):
            raise _fail(f"grads[{s}]", f"expected {len(params)} gradient(s), one per parameter")
        # `null`: the parameter has no gradient at this step (torch: .grad is None).
        missing.append(frozenset(j for j, g in enumerate(step) if g is None))
        grads.append(
            tuple(
                np.zeros(p.value.size, dtype=p.value.dtype) if g is None
                else _array(g, p.value.size, dtype, f"grads[{s}][{j}]", nonfinite=True)
                for j, (g, p) in enumerate(zip(step, params))
            )
        )

    groups = []
    raw_groups = raw.get("param_groups", [])
    if not isinstance(raw_groups, list):
        raise _fail("param_groups", "expected a list")
    seen: set[str] = set()
    for i, g in enumerate(raw_groups):
        where = f"param_groups[{i}]"
        if not isinstance(g, dict) or "params" not in g or set(g) - _GROUP_KEYS:
            raise _fail(where, "expected an object with 'params' and optionally 'lr', 'weight_decay'")
        members = g["params"]
        if not isinstance(members, list) or not members or any(m not in names for m in members):
            raise _fail(f"{where}.params", f"expected a non-empty list of parameter names from {names}")
        if seen & set(members):
            raise _fail(f"{where}.params", f"parameter(s) {sorted(seen & set(members))} already in another group")
        seen |= set(members)
        lr = _number(g["lr"], f"{where}.lr") if "lr" in g else None
        wd = _number(g["weight_decay"], f"{where}.weight_decay") if "weight_decay" in g else None
        for key, value in (("lr", lr), ("weight_decay", wd)):
            if value is not None:
                _in_domain(key, value, f"{where}.{key}")
        groups.append(ParamGroup(tuple(members), lr, wd))
    if groups and seen != set(names):
        raise _fail("param_groups", f"every parameter must be in a group; missing {sorted(set(names) - seen)}")

    comment = raw.get("comment", "")
    if not isinstance(comment, str):
        raise _fail("comment", "expected a string")
    sparse_rows = _sparse_rows(raw.get("sparse_rows"), params, grads)
    if sparse_rows and any(missing):
        raise _fail("grads", "a case with sparse_rows cannot also have missing (null) gradients")
    return Case(dtype, hyperparameters, tuple(params), tuple(grads), tuple(groups), comment, sparse_rows=sparse_rows,
                missing=tuple(missing) if any(missing) else ())


def _within_budget(elements: int, steps: int) -> None:
    """Refuse a case over the budget (harness/settings.py) before any of its arrays
    exist: the harness keeps whole trajectories, so its memory grows with elements x steps."""
    budget = case_budget()
    if elements * steps > budget:
        raise _fail("case", f"{elements} elements x {steps} steps = {elements * steps} element-steps, over the "
                            f"budget of {budget} ({CASE_BUDGET_ENV})")


def max_file_bytes() -> int:
    """The largest case file worth reading under the budget: a case holds its values and
    one gradient per step, each number at most about 27 characters with its separator,
    so elements x (steps + 1) <= 2 x budget numbers; a larger file is refused unread."""
    return 64 * case_budget() + (1 << 20)


def _sparse_rows(raw: Any, params: list[ParamSpec], grads: list[tuple[np.ndarray, ...]]) -> tuple:
    """Optional `sparse_rows`: per step, per parameter, the row indices (axis 0) that
    carry its gradient, as a row-sparse gradient (torch sparse COO, MindSpore RowTensor)
    lists them. Repeats are allowed; a repeated row's value is split among its copies,
    which implementations sum back. The dense `grads` entry must be zero in every row
    not listed (a listed row may still be zero: it counts as touched)."""
    if raw is None:
        return ()
    where = "sparse_rows"
    if not isinstance(raw, list) or len(raw) != len(grads):
        raise _fail(where, f"expected one entry per step ({len(grads)})")
    out = []
    for s, step in enumerate(raw):
        if not isinstance(step, list) or len(step) != len(params):
            raise _fail(f"{where}[{s}]", f"expected {len(params)} list(s) of row indices, one per parameter")
        rows_of_step = []
        for j, (rows, p) in enumerate(zip(step, params)):
            at = f"{where}[{s}][{j}]"
            if not p.shape:
                raise _fail(at, f"parameter {p.name!r} is 0-d: it has no rows")
            if not isinstance(rows, list) or any(isinstance(r, bool) or not isinstance(r, int) or not 0 <= r < p.shape[0]
                                                 for r in rows):
                raise _fail(at, f"expected a list of row indices in [0, {p.shape[0]})")
            untouched = np.ones(p.shape[0], dtype=bool)
            untouched[rows] = False
            if np.any(grads[s][j].reshape(p.shape[0], -1)[untouched] != 0):
                raise _fail(f"grads[{s}][{j}]", f"nonzero in a row not listed in {at}")
            rows_of_step.append(tuple(rows))
        out.append(tuple(rows_of_step))
    return tuple(out)


def case_to_dict(case: Case) -> dict[str, Any]:
    params = [{"name": p.name, "shape": list(p.shape), "value": [float(x) for x in p.value]} for p in case.params]
    grads = [[None if not case.has_gradient(s, j) else [to_json(x) for x in g]
              for j, g in enumerate(step)] for s, step in enumerate(case.grads)]
    return _case_object(case, params, {"grads": grads})


def _case_object(case: Case, params: list[dict[str, Any]], numbers: dict[str, Any]) -> dict[str, Any]:
    """A case file's object: `params` entries, then `numbers` (the JSON's `grads`, an
    .npz's `steps` and `missing`) among the fields both forms share, in the file's order."""
    out: dict[str, Any] = {"schema": SCHEMA, "optimizer": case.optimizer, "dtype": case.dtype}
    if case.comment:
        out["comment"] = case.comment
    out["hyperparameters"] = dict(case.hyperparameters)
    out["params"] = params
    out.update(numbers)
    if case.param_groups:
        out["param_groups"] = group_dicts(case)
    if case.sparse_rows:
        out["sparse_rows"] = [[list(rows) for rows in step] for step in case.sparse_rows]
    return out


def group_dicts(case: Case) -> list[dict[str, Any]]:
    """The parameter groups as written in case files: names, and lr / weight_decay where set."""
    out = []
    for g in case.param_groups:
        entry: dict[str, Any] = {"params": list(g.params)}
        if g.lr is not None:
            entry["lr"] = g.lr
        if g.weight_decay is not None:
            entry["weight_decay"] = g.weight_decay
        out.append(entry)
    return out


# --------------------------------------------------------------------------- .npz case files

def _npz_layout(meta: Any) -> tuple[str, list[tuple[int, ...]], int, set[tuple[int, int]]]:
    """An .npz case's metadata checked as far as it can be without its arrays: dtype,
    shapes, steps (within the budget) and the [step, parameter] pairs that are missing."""
    dtype, _, shapes = _head(meta, _NPZ_TOP_KEYS, _NPZ_PARAM_KEYS)
    steps = meta.get("steps")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise _fail("steps", f"expected a positive integer (the number of steps), got {shown(steps)}")
    _within_budget(sum(math.prod(shape) for shape in shapes), steps)
    raw_missing = meta.get("missing", [])
    if not isinstance(raw_missing, list):
        raise _fail("missing", "expected a list of [step, parameter] index pairs")
    missing: set[tuple[int, int]] = set()
    for i, pair in enumerate(raw_missing):
        if not (isinstance(pair, list) and len(pair) == 2
                and all(isinstance(k, int) and not isinstance(k, bool) for k in pair)
                and 0 <= pair[0] < steps and 0 <= pair[1] < len(shapes)):
            raise _fail(f"missing[{i}]", f"expected [step, parameter] with step in [0, {steps}) and parameter in "
                                         f"[0, {len(shapes)}), got {shown(pair)}")
        if tuple(pair) in missing:
            raise _fail(f"missing[{i}]", f"{pair} is listed twice")
        missing.add(tuple(pair))
    return dtype, shapes, steps, missing


def _load_npz(path: Path) -> Case:
    layout: list = []

    def expected(meta: Any) -> dict[str, tuple[np.dtype, tuple[int, ...]]]:
        with _naming(path):
            layout[:] = _npz_layout(meta)
        dtype, shapes, steps, _ = layout
        storage = np.dtype(DTYPES[dtype])
        sizes = [math.prod(shape) for shape in shapes]
        return {**{value_member(j): (storage, (n,)) for j, n in enumerate(sizes)},
                **{grads_member(j): (storage, (steps, n)) for j, n in enumerate(sizes)}}

    meta, arrays = read_npz(path, CaseError, max_file_bytes(), expected)
    _, shapes, steps, missing = layout
    with _naming(path):
        for s, j in sorted(missing):
            if arrays[grads_member(j)][s].any():
                raise _fail(f"grads[{s}][{j}]", f"missing (listed in 'missing'), yet row {s} of {grads_member(j)} "
                                                f"is not all zeros")
        raw = {key: value for key, value in meta.items() if key not in ("steps", "missing")}
        raw["params"] = [dict(p, value=arrays[value_member(j)]) for j, p in enumerate(meta["params"])]
        raw["grads"] = [[None if (s, j) in missing else arrays[grads_member(j)][s] for j in range(len(shapes))]
                        for s in range(steps)]
        return case_from_dict(raw)


def _npz_parts(case: Case) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """An .npz case file's metadata and arrays (harness/casefile_npz.py)."""
    missing = [[s, j] for s in range(case.num_steps) for j in range(len(case.params)) if not case.has_gradient(s, j)]
    meta = _case_object(case, [{"name": p.name, "shape": list(p.shape)} for p in case.params],
                        {"steps": case.num_steps, **({"missing": missing} if missing else {})})
    arrays = {value_member(j): p.value for j, p in enumerate(case.params)}
    for j, p in enumerate(case.params):
        stacked = np.empty((case.num_steps, p.value.size), dtype=p.value.dtype)
        for s, step in enumerate(case.grads):
            stacked[s] = step[j] if case.has_gradient(s, j) else 0  # `null` in JSON: zeros here
        arrays[grads_member(j)] = stacked
    return meta, arrays


@contextmanager
def _naming(path: Path):
    """A CaseError inside, with the file's path in front."""
    try:
        yield
    except CaseError as exc:
        raise CaseError(f"{path}: {exc}") from None


# --------------------------------------------------------------------------- files

_FORMATS = (".json", ".npz")


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in _FORMATS:
        raise CaseError(f"{path}: expected a case file named *.json or *.npz (the suffix says its format)")
    return suffix


def load_case(path: str | Path) -> Case:
    """The case in a .json or .npz case file (by the suffix), every field checked."""
    path = Path(path)
    if _format(path) == ".npz":
        return _load_npz(path)
    raw = read_json(path, CaseError, max_file_bytes())
    with _naming(path):
        return case_from_dict(raw)


def dumps_case(case: Case) -> str:
    # allow_nan=False: NaN/inf are not valid JSON numbers; cases never hold them.
    return json.dumps(case_to_dict(case), allow_nan=False) + "\n"


def save_case(case: Case, path: str | Path) -> Path:
    """Write the case as the suffix says (.json or .npz), atomically (a temp file, then
    replaced): a reader never sees half a file."""
    path = Path(path)
    binary = _format(path) == ".npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    if binary:
        write_npz(tmp, *_npz_parts(case))
    else:
        tmp.write_text(dumps_case(case), encoding="utf-8")
    tmp.replace(path)
    return path
