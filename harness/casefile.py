"""The canonical case: one optimizer run, independent of any framework.

A case file is JSON (schema "optim-parity/case/1"); see README.md "Case files".
Values are flat in row-major order. On load every parameter and gradient value is
rounded to the case dtype (bfloat16: round-to-nearest-even, reference/dtypes.py); on
save every number is written as the shortest decimal that round-trips its float64
value (float16, bfloat16 and float32 values are float64-exact), so a saved case loads
back bit for bit.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

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
}
_BOOL_KEYS = {"amsgrad", "maximize", "decoupled_weight_decay", "use_locking", "use_nesterov", "use_lazy", "use_offload"}
_TOP_KEYS = {"schema", "optimizer", "dtype", "hyperparameters", "params", "grads", "param_groups", "comment", "sparse_rows"}
_GROUP_KEYS = {"params", "lr", "weight_decay"}


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


def _array(values: Any, size: int, dtype: str, where: str, nonfinite: bool = False) -> np.ndarray:
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
        raise _fail(f"{where}[{bad}]", f"{values[bad]!r} overflows {dtype}")
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


def case_from_dict(raw: Any) -> Case:
    if not isinstance(raw, dict):
        raise _fail("case", "expected a JSON object")
    if raw.get("schema") != SCHEMA:
        raise _fail("schema", f"expected {SCHEMA!r}, got {shown(raw.get('schema'))}")
    unknown = sorted(set(raw) - _TOP_KEYS)
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
        raise _fail("params", "expected a non-empty list of {name, shape, value}")
    shapes = []
    for i, p in enumerate(raw_params):
        where = f"params[{i}]"
        if not isinstance(p, dict) or set(p) != {"name", "shape", "value"}:
            raise _fail(where, "expected exactly the keys name, shape, value")
        if not isinstance(p["name"], str) or not p["name"]:
            raise _fail(f"{where}.name", "expected a non-empty string")
        shape = p["shape"]
        if not isinstance(shape, list) or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in shape):
            raise _fail(f"{where}.shape", "expected a list of positive integers ([] for a scalar)")
        shapes.append(tuple(shape))
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
    out: dict[str, Any] = {"schema": SCHEMA, "optimizer": case.optimizer, "dtype": case.dtype}
    if case.comment:
        out["comment"] = case.comment
    out["hyperparameters"] = dict(case.hyperparameters)
    out["params"] = [{"name": p.name, "shape": list(p.shape), "value": [float(x) for x in p.value]} for p in case.params]
    out["grads"] = [[None if not case.has_gradient(s, j) else [to_json(x) for x in g]
                     for j, g in enumerate(step)] for s, step in enumerate(case.grads)]
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


def load_case(path: str | Path) -> Case:
    path = Path(path)
    raw = read_json(path, CaseError, max_file_bytes())
    try:
        return case_from_dict(raw)
    except CaseError as exc:
        raise CaseError(f"{path}: {exc}") from None


def dumps_case(case: Case) -> str:
    # allow_nan=False: NaN/inf are not valid JSON numbers; cases never hold them.
    return json.dumps(case_to_dict(case), allow_nan=False) + "\n"


def save_case(case: Case, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(dumps_case(case), encoding="utf-8")
    tmp.replace(path)
    return path
