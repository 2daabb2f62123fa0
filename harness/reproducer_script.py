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
which is small; a large one is still written out in full.

Implementations are data (`FRAMEWORK_TEMPLATES`): one entry each, naming its framework,
its template, the code pieces that make it that implementation (the optimizer class,
the execution mode, how lr is passed, ...) and the builder of its constructor arguments,
which calls the adapter's own translation of a case (harness/adapters/) rather than
restating it. tests/test_reproducer_scripts.py runs a script of every entry on a real
divergence and checks that it prints the numbers the harness found.

`reproducer_choice` picks, for a row x implementation, the violation a reproducer shows:
the simplest case that has it (float32 first, then fewer non-default options, then fewer
element-steps up to the violation, then the smallest case id), among the cases whose case
file exists.
"""

from __future__ import annotations

import ast
import json
import math
import re
import string
import textwrap
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np

from harness.casefile import DEFAULT_HYPERPARAMETERS, DTYPES, Case, group_dicts

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

# torch.optim.Adam, AdamW and their forms. Pieces: $optimizer (the class), $lr (how lr
# values enter), $parameter (how a parameter tensor is made), $set_lr (how a per-step lr
# is written), $schedule / $after_step (an LR scheduler), $gradient (dense or sparse COO).
_TORCH = '''
import torch

TORCH_DTYPE = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32,
               "float64": torch.float64}[DTYPE]
KWARGS = CASE["kwargs"]  # torch.optim.$optimizer's keyword arguments, as the harness passes them
if "betas" in KWARGS:
    KWARGS["betas"] = tuple(KWARGS["betas"])
GROUPS = CASE["groups"]  # parameter groups (names), some with their own lr / weight_decay
LR_PER_STEP = CASE["lr_per_step"]  # None, or a per-step lr for the groups without their own
$lr

def tensor(numbers, shape):
    return torch.from_numpy(values(numbers)).to(TORCH_DTYPE).reshape(shape)
$parameter$gradient

def lr_at(t):
    return LR_PER_STEP[min(t, len(LR_PER_STEP) - 1)]  # past its end a schedule keeps its last value


def run():
    tensors = {n: parameter(v, s) for n, (s, v) in PARAMS.items()}
    groups = [dict(g, params=[tensors[n] for n in g["params"]]) for g in GROUPS]
    optimizer = torch.optim.$optimizer(groups, **KWARGS)
$schedule    quantity, name, index, _ = WATCH
    seen = []
    for t in range(STEPS):
$set_lr        for p, grad in zip(tensors.values(), GRADS[t]):
            p.grad = None if grad is None else gradient(grad, p.shape)  # None: torch skips the parameter
        optimizer.step()
$after_step        p = tensors[name]
        source = p.detach() if quantity == "param" else optimizer.state[p].get(quantity)
        seen.append(0.0 if source is None else float(source.reshape(-1)[index]))  # no state yet: zeros
    return seen
'''

_TORCH_PIECES = {
    "optimizer": "Adam",
    "lr": "",
    "parameter": '''

def parameter(numbers, shape):
    return torch.nn.Parameter(tensor(numbers, shape))
''',
    "gradient": '''

def gradient(numbers, shape):
    return tensor(numbers, shape)
''',
    "set_lr": '''\
        if LR_PER_STEP:
            for group, spec_group in zip(optimizer.param_groups, GROUPS):
                if "lr" not in spec_group:  # a group with its own lr keeps it
                    group["lr"] = lr_at(t)  # as a scheduler writes it
''',
    "schedule": "",
    "after_step": "",
}
_TORCH_TENSOR_LR = '''
# lr as a 0-d float64 Tensor (it holds the lr exactly; torch.tensor(lr) would be float32)
KWARGS["lr"] = torch.tensor(KWARGS["lr"], dtype=torch.float64)
GROUPS = [dict(g, lr=torch.tensor(g["lr"], dtype=torch.float64)) if "lr" in g else g for g in GROUPS]
'''
_TORCH_TENSOR_SET_LR = '''\
        if LR_PER_STEP:
            for group, spec_group in zip(optimizer.param_groups, GROUPS):
                if "lr" not in spec_group:  # a group with its own lr keeps it
                    group["lr"].fill_(lr_at(t))  # a tensor-aware scheduler writes the tensor in place
'''
_TORCH_NON_LEAF = '''

def parameter(numbers, shape):
    # differentiable=True: torch refuses in-place updates of a leaf that requires grad, so
    # the parameter is a non-leaf (a clone of one), as in torch's own tests of it
    leaf = tensor(numbers, shape).requires_grad_(True)
    p = leaf.clone()
    p.retain_grad()
    return p
'''
_TORCH_LAMBDA_LR = '''\
    # torch.optim.lr_scheduler.LambdaLR, stepped after every optimizer step: the factor for
    # step k is lr[k] / lr[0] (a single lr: 1)
    factor = (lambda k: 1.0) if not LR_PER_STEP else (lambda k: lr_at(k) / LR_PER_STEP[0])
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
'''
_TORCH_SCHEDULER_STEP = '''\
        scheduler.step()
'''
_TORCH_SPARSE_GRADIENT = '''

def gradient(grad, shape):
    rows, numbers = grad  # a row listed twice carries two pieces that sum to its gradient
    return torch.sparse_coo_tensor(torch.tensor(rows, dtype=torch.int64)[None, :],
                                   tensor(numbers, (len(rows),) + tuple(shape[1:])), shape)
'''

# mindspore.nn.Adam and its forms. Pieces: $mode (the execution mode), $learning_rate
# (how a per-step lr is passed), $target, $step (dense tuple or RowTensors in a cell).
_NN_ADAM = '''
import mindspore as ms
from mindspore import Parameter, Tensor, nn

ms.set_context(mode=ms.$mode)
ms.set_device("CPU")
MS_DTYPE = {"float16": ms.float16, "bfloat16": ms.bfloat16, "float32": ms.float32, "float64": ms.float64}[DTYPE]
KWARGS = CASE["kwargs"]  # nn.Adam's keyword arguments, as the harness passes them
GROUPS = CASE["groups"]  # parameter groups (names) with their own lr / weight_decay; None: a flat list
MOMENTS = {"exp_avg": "moment1", "exp_avg_sq": "moment2", "max_exp_avg_sq": "vhat"}
$learning_rate

def tensor(numbers, shape):
    return Tensor(values(numbers).reshape(shape), dtype=MS_DTYPE)


def element(source, index):
    if source.dtype == ms.bfloat16:
        source = source.astype(ms.float32)
    return float(source.asnumpy().reshape(-1)[index])

$step_cell
def run():
    parameters = {n: Parameter(tensor(v, s), name=n) for n, (s, v) in PARAMS.items()}
    if GROUPS is None:
        params = list(parameters.values())
    else:
        params = [dict(g, params=[parameters[n] for n in g["params"]]) for g in GROUPS]
    optimizer = nn.Adam(params, **KWARGS)
$target    # nn.Adam orders its parameters, moments and the gradients it takes group by group
    order = [p.name for p in optimizer.parameters]
$make_step    quantity, name, index, _ = WATCH
    seen = []
    for t in range(STEPS):
        grads = dict(zip(PARAMS, GRADS[t]))
$call_step        if quantity == "param":
            source = parameters[name]
        else:
            source = getattr(optimizer, MOMENTS[quantity])[order.index(name)]
        seen.append(element(source, index))
    return seen
'''

_NN_ADAM_PIECES = {
    "mode": "PYNATIVE_MODE",
    "learning_rate": "",
    "target": "",
    "step_cell": "",
    "make_step": "",
    "call_step": '''\
        optimizer(tuple(tensor(grads[n], parameters[n].shape) for n in order))
''',
}
_NN_ADAM_ROW_SPARSE = {
    "step_cell": '''
from mindspore.common.sparse_tensor import RowTensorInner  # noqa: E402


class RowSparseStep(nn.Cell):
    """Calls the optimizer with RowTensor gradients built inside the cell: a RowTensor cannot
    be passed in from Python, it exists inside a graph (where a sparse gather's backward makes one)."""

    def __init__(self, optimizer, shapes):
        super().__init__(auto_prefix=False)  # the parameters keep their names
        self.optimizer = optimizer
        self.shapes = shapes

    def construct(self, *rows_and_values):
        grads = ()
        for i in range(len(self.shapes)):
            grads = grads + (RowTensorInner(rows_and_values[2 * i], rows_and_values[2 * i + 1], self.shapes[i]),)
        return self.optimizer(grads)

''',
    "make_step": '''\
    step = RowSparseStep(optimizer, tuple(tuple(p.shape) for p in optimizer.parameters))
''',
    "call_step": '''\
        pieces = []
        for n in order:  # rows (a row listed twice carries two pieces that sum to its gradient), values
            rows, numbers = grads[n]
            shape = parameters[n].shape
            pieces += [Tensor(np.array(rows, dtype=np.int32)), tensor(numbers, (len(rows),) + tuple(shape[1:]))]
        step(*pieces)
''',
}
_NN_ADAM_TARGET_CPU = '''\
    optimizer.target = "CPU"  # the host Fused sparse kernels for row-sparse gradients
'''
_NN_ADAM_LR_TENSOR = '''
if isinstance(KWARGS["learning_rate"], list):  # a per-step lr as a 1-d float32 Tensor
    KWARGS["learning_rate"] = Tensor(np.array(KWARGS["learning_rate"], dtype=np.float32))
'''
_NN_ADAM_LR_SCHEDULE = '''

class TableSchedule(nn.learning_rate_schedule.LearningRateSchedule):
    """The per-step lr from a table; past its end the last value."""

    def __init__(self, table):
        super().__init__()
        self.table = Tensor(np.array(table, dtype=np.float32))
        self.last = len(table) - 1

    def construct(self, global_step):
        return ms.ops.gather(self.table, ms.ops.minimum(global_step, self.last), 0)


if isinstance(KWARGS["learning_rate"], list):  # a per-step lr as a LearningRateSchedule cell
    KWARGS["learning_rate"] = TableSchedule(KWARGS["learning_rate"])
'''

# mindspore.mint.optim.Adam. Pieces: $mode.
_MINT = '''
import mindspore as ms
from mindspore import Parameter, Tensor, mint

$mode
ms.set_device("CPU")
MS_DTYPE = {"float16": ms.float16, "bfloat16": ms.bfloat16, "float32": ms.float32, "float64": ms.float64}[DTYPE]
KWARGS = CASE["kwargs"]  # mint.optim.Adam's keyword arguments, as the harness passes them
if "betas" in KWARGS:
    KWARGS["betas"] = tuple(KWARGS["betas"])
GROUPS = CASE["groups"]  # parameter groups (names) with their own lr / weight_decay; None: a flat list


def tensor(numbers, shape):
    return Tensor(values(numbers).reshape(shape), dtype=MS_DTYPE)


def element(source, index):
    if source.dtype == ms.bfloat16:
        source = source.astype(ms.float32)
    return float(source.asnumpy().reshape(-1)[index])


def run():
    parameters = {n: Parameter(tensor(v, s), name=n) for n, (s, v) in PARAMS.items()}
    if GROUPS is None:
        params = list(parameters.values())
    else:
        params = [dict(g, params=[parameters[n] for n in g["params"]]) for g in GROUPS]
    optimizer = mint.optim.Adam(params, **KWARGS)
    order = [p.name for p in optimizer.parameters]  # group by group: the order it takes gradients in
    quantity, name, index, _ = WATCH
    seen = []
    for t in range(STEPS):
        grads = dict(zip(PARAMS, GRADS[t]))
        optimizer(tuple(tensor(grads[n], parameters[n].shape) for n in order))
        source = parameters[name] if quantity == "param" else getattr(optimizer, quantity)[order.index(name)]
        seen.append(element(source, index))
    return seen
'''
_MINT_PYNATIVE = "# PyNative: MindSpore's default mode, as mint's users call it (no mode is set)"
_MINT_GRAPH = "ms.set_context(mode=ms.GRAPH_MODE)"

# --------------------------------------------------------------------------- constructor arguments
# Each builder returns the JSON-ready arguments of the implementation's constructor for a
# case, from the adapter's own translation (harness/adapters/), so a script calls the
# optimizer exactly as the harness does.


def _adapter_class(implementation: str):
    from harness.adapters import load_adapter

    return load_adapter(implementation)


def _lr_per_step(case: Case) -> list[float] | None:
    lr = case.hp("lr")
    return [float(x) for x in lr] if isinstance(lr, list) else None


def _torch_arguments(case: Case, implementation: str) -> dict:
    # TorchAdapter._constructor_kwargs, with lr as a number (the tensor-lr template makes
    # it a Tensor itself): the adapter's keywords, options (foreach, fused, differentiable)
    # and AdamW's handling of decoupled_weight_decay.
    cls = _adapter_class(implementation)
    stub = object.__new__(cls)
    stub._lr = float
    return _torch_data(case, cls._constructor_kwargs(stub, case), group_dicts(case))


def _torch_sparse_arguments(case: Case, implementation: str) -> dict:
    # As TorchSparseAdapter builds SparseAdam: lr, betas, eps, maximize, and the options
    # it has no counterpart for under their own names (SparseAdam rejects them).
    from harness.adapters.torch_sparse_adam import _NO_COUNTERPART
    from reference.adam import lr_at

    kwargs = {"lr": lr_at(case.hp("lr"), 1), "betas": list(case.hp("betas")), "eps": case.hp("eps"),
              "maximize": case.hp("maximize")}
    kwargs.update({key: case.hp(key) for key in _NO_COUNTERPART if case.hp(key) != DEFAULT_HYPERPARAMETERS[key]})
    return _torch_data(case, kwargs, [{k: v for k, v in g.items() if k != "weight_decay"} for g in group_dicts(case)])


def _torch_data(case: Case, kwargs: dict, groups: list[dict]) -> dict:
    return {"kwargs": {k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()},
            "groups": groups or [{"params": [p.name for p in case.params]}],
            "lr_per_step": _lr_per_step(case)}


def _nn_adam_arguments(case: Case, implementation: str) -> dict:
    from harness.adapters.mindspore_adam import _mindspore_kwargs

    # The list form: the lr-tensor and lr-schedule templates make a Tensor or a cell of it.
    return {"kwargs": _mindspore_kwargs(case, "list"), "groups": group_dicts(case) or None}


def _mint_arguments(case: Case, implementation: str) -> dict:
    from harness.adapters.mindspore_mint_adam import _mint_kwargs

    kwargs = {k: list(v) if isinstance(v, tuple) else v for k, v in _mint_kwargs(case).items()}
    return {"kwargs": kwargs, "groups": group_dicts(case) or None}


# --------------------------------------------------------------------------- the entries

@dataclass(frozen=True)
class Template:
    """How one implementation's script is made: the framework it needs, the template, the
    code pieces that make it this implementation (dense gradients, and where the
    implementation takes row-sparse gradients as such, `sparse` pieces for those), and
    the builder of its constructor arguments."""

    framework: str
    body: str
    pieces: dict[str, str]
    arguments: Callable[[Case, str], dict]
    sparse: dict[str, str] | None = None  # None: row-sparse gradients reach it dense (zeros elsewhere)

    def code(self, row_sparse: bool) -> str:
        pieces = dict(self.pieces, **(self.sparse or {})) if row_sparse and self.sparse is not None else self.pieces
        return string.Template(self.body).substitute(pieces)

    def takes_row_sparse(self, case: Case) -> bool:
        return bool(case.sparse_rows) and self.sparse is not None


def _torch(**pieces: str) -> Template:
    return Template("torch", _TORCH, dict(_TORCH_PIECES, **pieces), _torch_arguments)


def _nn_adam(sparse: dict[str, str] | None = None, **pieces: str) -> Template:
    return Template("mindspore", _NN_ADAM, dict(_NN_ADAM_PIECES, **pieces), _nn_adam_arguments, sparse)


# implementation (harness/catalogue.py) -> its template; a new implementation is one entry.
FRAMEWORK_TEMPLATES: dict[str, Template] = {
    "torch": _torch(),
    "torch-foreach": _torch(),  # foreach=True: in the adapter's keywords
    "torch-fused": _torch(),  # fused=True: in the adapter's keywords
    "torch-adamw": _torch(optimizer="AdamW"),
    "torch-tensor-lr": _torch(lr=_TORCH_TENSOR_LR, set_lr=_TORCH_TENSOR_SET_LR),
    "torch-differentiable": _torch(parameter=_TORCH_NON_LEAF),  # differentiable=True: in the keywords
    "torch-lr-scheduler": _torch(schedule=_TORCH_LAMBDA_LR, set_lr="", after_step=_TORCH_SCHEDULER_STEP),
    "torch-sparse": Template("torch", _TORCH, dict(_TORCH_PIECES, optimizer="SparseAdam"), _torch_sparse_arguments,
                             sparse={"gradient": _TORCH_SPARSE_GRADIENT}),
    "mindspore": _nn_adam(_NN_ADAM_ROW_SPARSE),
    "mindspore-graph": _nn_adam(_NN_ADAM_ROW_SPARSE, mode="GRAPH_MODE"),
    "mindspore-target-cpu": _nn_adam(_NN_ADAM_ROW_SPARSE, mode="GRAPH_MODE", target=_NN_ADAM_TARGET_CPU),
    "mindspore-lr-tensor": _nn_adam(_NN_ADAM_ROW_SPARSE, learning_rate=_NN_ADAM_LR_TENSOR),
    "mindspore-lr-schedule": _nn_adam(_NN_ADAM_ROW_SPARSE, learning_rate=_NN_ADAM_LR_SCHEDULE),
    "mindspore-mint": Template("mindspore", _MINT, {"mode": _MINT_PYNATIVE}, _mint_arguments),
    "mindspore-mint-graph": Template("mindspore", _MINT, {"mode": _MINT_GRAPH}, _mint_arguments),
}
# The only text formatted into the script's code besides the templates' own pieces:
# catalogue names and records, checked all the same.
_IMPLEMENTATION_NAME = re.compile(r"[a-z][a-z0-9-]*")
_DOCSTRING_SAFE = re.compile(r"[^\"\\\n\r]*")
_FILE_PART = re.compile(r"[^A-Za-z0-9_-]")


def supported(implementation: str) -> bool:
    return implementation in FRAMEWORK_TEMPLATES


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


def _gradients(case: Case, implementation: str, template: Template, steps: int) -> list[list]:
    """[step][param] what the implementation receives: dense values, None for a missing
    gradient (torch; MindSpore, which needs one per parameter, gets the zeros its autodiff
    gives an unused parameter), or [rows, values] for a row-sparse one. MindSpore's
    nn.Adam(loss_scale=L) takes the gradients of the L-scaled loss: g * L rounded to the
    dtype, as the adapter computes them."""
    from harness.catalogue import framework_of
    from harness.row_sparse import row_sparse
    from reference.dtypes import cast

    framework = framework_of(implementation)
    loss_scale = float(case.hp("loss_scale"))
    scale = template.body is _NN_ADAM and loss_scale != 1.0
    out = []
    for t in range(steps):
        step = []
        for j, grad in enumerate(case.grads[t]):
            if scale:
                grad = cast(np.asarray(grad, dtype=np.float64) * loss_scale, case.dtype)
            if template.takes_row_sparse(case):
                rows, pieces = row_sparse(case, t, j, np.asarray(grad, dtype=DTYPES[case.dtype]))
                step.append([[int(r) for r in rows], _numbers(pieces, case.dtype)])
            elif framework == "torch" and not case.has_gradient(t, j):
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
    from harness.catalogue import lookup

    call = lookup(implementation).call
    call = call if _DOCSTRING_SAFE.fullmatch(call) else "(see harness/catalogue.py)"
    return textwrap.fill(f"{implementation}: {call}", 88)


def reproducer_script(case: Case, implementation: str, violation: dict, case_id: str = "",
                      row: str | None = None) -> str:
    """The script reproducing `violation` (a violation as results.json lists it) of
    `implementation` on `case`; `row`: the report row it is shown under (its file name)."""
    from harness.trajectory import reference_trajectory

    if implementation not in FRAMEWORK_TEMPLATES or not _IMPLEMENTATION_NAME.fullmatch(implementation):
        raise ValueError(f"no reproducer template for implementation {implementation!r}")
    if case.dtype not in DTYPES:
        raise ValueError(f"unknown dtype {case.dtype!r}; known: {sorted(DTYPES)}")
    template = FRAMEWORK_TEMPLATES[implementation]
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
            "grads": _gradients(case, implementation, template, step)}
    header = string.Template(_HEADER).substitute(
        implementation=implementation, call=_call_of(implementation),
        file_name=reproducer_file_name(row, implementation), needs=template.framework,
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
    none), of a case in `cases_by_id` for which `has_file(case id)` holds (default: a
    `case_file` is named). None when there is none."""
    has_file = has_file or (lambda case_id: bool(cases_by_id[case_id].get("case_file")))
    candidates = [v for v in violations if v.get("quantity") != "step" and v.get("case") in cases_by_id]
    # has_file may read the file: asked in order, simplest first, until one has it.
    return next((v for v in sorted(candidates, key=lambda v: simplicity(v, cases_by_id[v["case"]]))
                 if has_file(v["case"])), None)
