"""Standalone reproducer scripts: one violation, one implementation, no harness needed.

`reproducer_script(case, implementation, violation)` writes a short Python script (like
the seed's code example: build the parameters, the optimizer as the implementation's
users call it, feed the gradients, print the difference) that needs only numpy and the
framework. It holds the case's parameters and gradients as plain decimal numbers (the
shortest decimal that rounds back to the same value of the case dtype, checked; for
bfloat16 the shortest one for its float32 holder), the spec's values of the violating
element for every step up to the first failing one (computed here with the numpy
reference) and the tolerance at that step; it prints what it reproduces, the
framework's value next to the spec's, and ends with `DIVERGES: ...` or
`within tolerance: ...`, exit code 0 either way. `reproducer_file_name` is the one
name a report downloads it under and its docstring tells to run.

Case files are untrusted (bug reports, CI artifacts), so nothing from a case becomes
code: every case-derived value (parameter names, dtype, ids, rows, the summary, the
numbers; non-finite ones as the strings "nan", "inf", "-inf") is in one JSON text that
the script parses with json.loads, embedded as a Python string literal checked by a
round trip (ast.literal_eval). The rest of the script is the template of the
implementation, chosen by the implementation and the case's gradient layout (dense or
row-sparse) and filled only with the template's own code pieces, the implementation's
catalogue record (name and call, checked) and the file name (of the report row: letters,
digits, '_' and '-' only), never with case data. tests/test_reproducer_safety.py proves it
on hostile names.

Size: one number per value, so the script grows with the case (elements x steps up to
the violation; its summary says how large the case is). Reports pick the simplest case,
which is small; a case of more than REPRODUCER_MAX_ELEMENT_STEPS up to its violation
(a large-tensor case: cases/test_large_tensors.py) is never embedded: its script would
be tens of MB in the page; its case file (.npz over harness/results.py
BINARY_CASE_ELEMENT_STEPS) is replayed instead.

This module is the framework-free machinery (the header with the JSON data literal, the
numbers, the choice of violation, the safety checks); the templates are the wings'
(harness/adapters/<framework>/reproducer.py: the template text, the code pieces that
make each implementation — the optimizer class, the execution mode, how lr is passed,
... — and the builder of its data, which calls the wing's translation of a case rather
than restating it). Each implementation's catalogue record names its template
(`reproducer`); `FRAMEWORK_TEMPLATES` / `templates()` is derived from the records.
Nothing here or in a template imports a framework, so rendering a report does not.
tests/test_reproducer_scripts.py runs a script of every implementation on a real
divergence and checks that it prints the numbers the harness found.

`reproducer_choice` picks, for a row x implementation, the violation a reproducer shows:
the simplest case that has it (float32 first, then fewer non-default options, then fewer
element-steps up to the violation, then the smallest case id), among the cases whose case
file exists.
"""

from __future__ import annotations

import ast
import functools
import json
import math
import re
import string
import textwrap
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np

from harness.adapters import resolve
from harness.catalogue import IMPLEMENTATIONS, lookup
from harness.casefile import DEFAULT_HYPERPARAMETERS, DTYPES, Case
from harness.row_sparse import row_sparse
from harness.trajectory import reference_trajectory

# --------------------------------------------------------------------------- script text

_HEADER = '''\
"""optim-parity reproducer: $implementation against the Adam spec (reference/adam.py).

$call
What it reproduces is CASE["summary"], printed first. Everything taken from the case
file is data in CASE (parsed by json.loads), never code.
Run: python $file_name   (needs numpy and $needs)
"""
import json
import math

import numpy as np

CASE = json.loads(
$case
)
DTYPE = CASE["dtype"]
STEPS = CASE["steps"]  # up to the first failing step
PARAMS = CASE["params"]  # name -> [shape, initial values (flat, row-major)]
GRADS = CASE["grads"]  # [step][param] $grads
WATCH = CASE["watch"]  # (quantity, parameter, flat index, first failing step)
SPEC = [float(x) for x in CASE["spec"]]  # the spec's value of the watched element after each step
TOLERANCE = float(CASE["tolerance"])
print(CASE["summary"])


def values(numbers):
    """A list of numbers as an array of DTYPE's numpy type (numpy has no bfloat16: its
    values are held in float32, exactly). Non-finite numbers are "nan", "inf", "-inf"."""
    return np.array([float(x) for x in numbers], dtype=np.float64).astype(np.float32 if DTYPE == "bfloat16" else DTYPE)

'''

_DENSE_GRADS = "gradient values (flat); None: no gradient at that step"
_SPARSE_GRADS = "[row indices, values of those rows (flat)]: a row-sparse gradient"

_FOOTER = '''

def error_of(value, spec):
    if value == spec or (math.isnan(value) and math.isnan(spec)):  # the same non-finite value agrees
        return 0.0
    return abs(value - spec)


got = run()
quantity, name, index, step = WATCH
for t, (value, spec) in enumerate(zip(got, SPEC), start=1):
    print(f"step {t}: {quantity} {name!r}[{index}] = {value!r}   spec {spec!r}   error {error_of(value, spec):.3g}")
error = error_of(got[-1], SPEC[-1])
verdict = "DIVERGES" if not error <= TOLERANCE else "within tolerance"
print(f"{verdict}: {quantity} {name!r}[{index}] step {step}: got {got[-1]!r}, spec {SPEC[-1]!r}, "
      f"error {error:.3g} {'>' if verdict == 'DIVERGES' else '<='} tolerance {TOLERANCE:.3g}")
'''

# --------------------------------------------------------------------------- the templates

@dataclass(frozen=True)
class Template:
    """How one implementation's script is made, defined in its framework's wing
    (harness/adapters/<framework>/reproducer.py) and named by its catalogue record: the
    template (its code after the header), the code pieces that make it this implementation
    (dense gradients, and where the implementation takes row-sparse gradients as such,
    `sparse` pieces for those), the builder of the data it reads (its constructor
    arguments, from the wing's translation), and what the implementation receives for a
    gradient: `gradient` (None: the case's; nn.Adam: loss-scaled) and, where a parameter
    can go without one, `has_gradient` (False: None in the script; None: every parameter
    gets one, the zeros the case holds for a missing gradient)."""

    body: str
    pieces: dict[str, str]
    arguments: Callable[[Case, str], dict]
    sparse: dict[str, str] | None = None  # None: row-sparse gradients reach it dense (zeros elsewhere)
    gradient: Callable[[Case, np.ndarray], np.ndarray] | None = None
    has_gradient: Callable[[Case, int, int], bool] | None = None

    def code(self, row_sparse: bool) -> str:
        pieces = dict(self.pieces, **(self.sparse or {})) if row_sparse and self.sparse is not None else self.pieces
        return string.Template(self.body).substitute(pieces)

    def takes_row_sparse(self, case: Case) -> bool:
        return bool(case.sparse_rows) and self.sparse is not None


@functools.cache
def templates() -> dict[str, Template]:
    """implementation -> its template: every catalogue record that names one (its
    `reproducer`, in its wing); a new implementation is its record and, where no template
    fits, a template in its wing. Read when first needed (the wings' reproducer modules
    import this one)."""

    return {name: resolve(record.reproducer) for name, record in IMPLEMENTATIONS.items() if record.reproducer}


def __getattr__(name: str) -> Any:
    if name == "FRAMEWORK_TEMPLATES":  # implementation -> Template (templates())
        return templates()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# The only text formatted into the script's code besides the templates' own pieces:
# catalogue names and records, checked all the same.
_IMPLEMENTATION_NAME = re.compile(r"[a-z][a-z0-9-]*")
_DOCSTRING_SAFE = re.compile(r"[^\"\\\n\r]*")
_FILE_PART = re.compile(r"[^A-Za-z0-9_-]")


def supported(implementation: str) -> bool:
    return implementation in templates()


def reproducer_file_name(row: str | None, implementation: str) -> str:
    """The one name of a reproducer script: what a report downloads it as and what its
    docstring says to run (reproduce_<row>_<implementation>.py)."""
    parts = [_FILE_PART.sub("_", part) for part in (row, implementation) if part]
    return "reproduce_" + "_".join(parts) + ".py"


# --------------------------------------------------------------------------- numbers

def _json_number(x: float) -> float | str:
    x = float(x)
    if math.isfinite(x):
        return x
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def _numbers(array: np.ndarray, dtype: str) -> list[float | str]:
    """Plain decimal numbers for values of the case dtype: the shortest decimal that
    rounds back to the same value (read as a float64, then rounded to the dtype's numpy
    holder, as the script does); the float64 repr, exact, where that shortest one would not."""
    held = np.asarray(array, dtype=DTYPES[dtype]).reshape(-1)
    if held.dtype == np.float64:
        return [_json_number(x) for x in held]
    shortest = np.array([float(str(x)) if np.isfinite(x) else float(x) for x in held], dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        back = shortest.astype(held.dtype)
    same = (back == held) | (np.isnan(back) & np.isnan(held))
    return [_json_number(s if ok else float(x)) for s, ok, x in zip(shortest, same, held)]


def _gradients(case: Case, template: Template, steps: int) -> list[list]:
    """[step][param] what the implementation receives (its template says, from its wing's
    translation): dense values, None for a missing gradient (torch; MindSpore, which needs
    one per parameter, gets the zeros its autodiff gives an unused parameter), or [rows,
    values] for a row-sparse one; nn.Adam(loss_scale=L) takes the gradients of the
    L-scaled loss: g * L rounded to the dtype, as the adapter computes them."""

    out = []
    for t in range(steps):
        step = []
        for j, grad in enumerate(case.grads[t]):
            if template.gradient is not None:
                grad = template.gradient(case, grad)
            if template.takes_row_sparse(case):
                rows, pieces = row_sparse(case, t, j, np.asarray(grad, dtype=DTYPES[case.dtype]))
                step.append([[int(r) for r in rows], _numbers(pieces, case.dtype)])
            elif template.has_gradient is not None and not template.has_gradient(case, t, j):
                step.append(None)
            else:
                step.append(_numbers(grad, case.dtype))
        out.append(step)
    return out


# --------------------------------------------------------------------------- the data literal

def _data_literal(data: dict[str, Any]) -> str:
    """Python source of one string literal holding `data` as JSON: one line per key, and
    per parameter and per step of gradients.

    ensure_ascii escapes every non-ASCII character (line separators, surrogates) and repr
    quotes each line, so the literal is plain ASCII; the round trip proves it is the text
    and nothing else. allow_nan=False: non-finite numbers are the strings the script reads."""
    def dumps(value: Any) -> str:
        return json.dumps(value, ensure_ascii=True, allow_nan=False)

    lines = []
    for key, value in data.items():
        if key == "params" and value:
            items = [f"  {dumps(name)}: {dumps(item)}" for name, item in value.items()]
            lines.append(f"{dumps(key)}: {{\n" + ",\n".join(items) + "\n}")
        elif key == "grads" and value:
            lines.append(f"{dumps(key)}: [\n" + ",\n".join(f"  {dumps(step)}" for step in value) + "\n]")
        else:
            lines.append(f"{dumps(key)}: {dumps(value)}")
    text = "{\n" + ",\n".join(lines) + "\n}"
    literal = "\n".join("    " + repr(line) for line in text.splitlines(keepends=True))
    if ast.literal_eval(f"({literal})") != text or json.loads(text) != json.loads(dumps(data)):
        raise ValueError("the case data does not round-trip as a string literal")
    return literal


def _call_of(implementation: str) -> str:

    call = lookup(implementation).call
    call = call if _DOCSTRING_SAFE.fullmatch(call) else "(see harness/catalogue.py)"
    return textwrap.fill(f"{implementation}: {call}", 88)


def reproducer_script(case: Case, implementation: str, violation: dict, case_id: str = "",
                      row: str | None = None) -> str:
    """The script reproducing `violation` (a violation as results.json lists it) of
    `implementation` on `case`; `row`: the report row it is shown under (its file name)."""


    if implementation not in templates() or not _IMPLEMENTATION_NAME.fullmatch(implementation):
        raise ValueError(f"no reproducer template for implementation {implementation!r}")
    needs = lookup(implementation).framework  # what the script imports besides numpy: the record's framework
    if not _IMPLEMENTATION_NAME.fullmatch(needs):
        raise ValueError(f"implementation {implementation!r} names no framework")
    if case.dtype not in DTYPES:
        raise ValueError(f"unknown dtype {case.dtype!r}; known: {sorted(DTYPES)}")
    template = templates()[implementation]
    quantity, name = violation["quantity"], violation["param"]
    index, step = int(violation["index"]), int(violation["step"])
    reference = reference_trajectory(case, steps=step)
    spec = [_json_number(x) for x in reference.data[name][quantity][1: step + 1, index]]
    rows = [str(r) for r in violation.get("rows") or []]
    elements = sum(int(p.value.size) for p in case.params)
    summary = textwrap.fill(
        f"Case {case_id or '(unnamed)'} ({case.dtype}; {len(case.params)} parameter(s), {elements} element(s); "
        f"{case.num_steps} step(s), run here up to step {step}): {quantity} of parameter {name!r}, element {index}, "
        f"leaves tolerance at step {step}: the spec gives {float(violation['expected'])!r}, {implementation} gave "
        f"{float(violation['actual'])!r} (tolerance {float(violation['tolerance'])!r}). "
        f"Rows: {', '.join(rows) or 'unexplained'}; registry: {violation.get('divergence') or 'none'}.", 88,
        break_on_hyphens=False, break_long_words=False)
    # Printed by the script: ASCII with escapes prints on any console, lone surrogates included.
    summary = summary.encode("ascii", "backslashreplace").decode("ascii")
    row_sparse = template.takes_row_sparse(case)
    data = {"summary": summary, "case_id": case_id, "implementation": implementation, "dtype": case.dtype,
            "steps": step, "watch": [quantity, name, index, step], "spec": spec,
            "tolerance": _json_number(violation["tolerance"]), "rows": rows, "divergence": violation.get("divergence"),
            **template.arguments(case, implementation),
            "params": {p.name: [list(p.shape), _numbers(p.value, case.dtype)] for p in case.params},
            "grads": _gradients(case, template, step)}
    header = string.Template(_HEADER).substitute(
        implementation=implementation, call=_call_of(implementation),
        file_name=reproducer_file_name(row, implementation), needs=needs,
        grads=_SPARSE_GRADS if row_sparse else _DENSE_GRADS, case=_data_literal(data))
    return header + template.code(row_sparse) + _FOOTER


# --------------------------------------------------------------------------- which violation

def _options(entry: dict) -> int:
    """Non-default options of a case entry (results.json `cases`): hyperparameters away
    from their defaults, row-sparse or missing gradients, parameter groups."""
    hyperparameters = entry.get("hyperparameters") or {}
    count = sum(1 for key, value in hyperparameters.items() if DEFAULT_HYPERPARAMETERS.get(key, value) != value
                or key not in DEFAULT_HYPERPARAMETERS)
    features = entry.get("features") or {}
    return count + (features.get("layout", "dense") != "dense") + (features.get("groups", "none") != "none")


def _elements(entry: dict) -> int:
    return sum(int(np.prod(p.get("shape") or [], dtype=np.int64)) for p in entry.get("params") or [])


def _float(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


# Element-steps (up to the violation's step) beyond which a case is not made a script.
REPRODUCER_MAX_ELEMENT_STEPS = 100_000


def simplicity(violation: dict, entry: dict) -> tuple:
    """Sort key of a violation for a reproducer (smallest first): float32 first, then fewer
    non-default options, fewer element-steps up to the violation's step, the smallest case
    id; within a case the earliest step, a parameter before a moment, the worst ratio."""
    ratio = _float(violation.get("ratio", math.nan))
    return (entry.get("dtype") != "float32", _options(entry), _elements(entry) * int(violation["step"]),
            str(violation["case"]), int(violation["step"]), violation["quantity"] != "param",
            -ratio if not math.isnan(ratio) else -math.inf, str(violation["param"]), str(violation["quantity"]),
            int(violation["index"]))


def reproducer_choice(violations: Iterable[dict], cases_by_id: dict[str, dict],
                      has_file: Callable[[str], bool] | None = None) -> dict | None:
    """The violation a reproducer of a row x implementation shows: the simplest (key
    `simplicity`) of those with a value to watch step by step (a step-count mismatch has
    none), of a case in `cases_by_id` of at most REPRODUCER_MAX_ELEMENT_STEPS up to the
    violation, for which `has_file(case id)` holds (default: a `case_file` is named).
    None when there is none."""
    has_file = has_file or (lambda case_id: bool(cases_by_id[case_id].get("case_file")))
    candidates = [v for v in violations if v.get("quantity") != "step" and v.get("case") in cases_by_id
                  and _elements(cases_by_id[v["case"]]) * int(v["step"]) <= REPRODUCER_MAX_ELEMENT_STEPS]
    # has_file may read the file: asked in order, simplest first, until one has it.
    return next((v for v in sorted(candidates, key=lambda v: simplicity(v, cases_by_id[v["case"]]))
                 if has_file(v["case"])), None)
