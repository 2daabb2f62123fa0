"""Standalone reproducer scripts: one violation, one framework, no harness needed.

`reproducer_script(case, implementation, violation)` writes a short Python script (like
the seed's code example: build the parameters, the optimizer with the mapped arguments,
feed the gradients, print the difference) that needs only numpy and the framework. It
embeds the case (gradients compactly, as base64 of little-endian bytes), the spec's
values of the violating element for every step up to the first failing one (computed
here with the numpy reference), and the tolerance at that step; it prints what it
reproduces, the framework's value next to the spec's, and ends with `DIVERGES: ...` or
`within tolerance: ...`, exit code 0 either way.

Case files are untrusted (bug reports, CI artifacts), so nothing from a case becomes
code: every case-derived value (parameter names, dtype, ids, rows, the summary) is in
one JSON text that the script parses with json.loads, embedded as a Python string
literal checked by a round trip (ast.literal_eval). The rest of the script is the
template, formatted only with the implementation's name (a catalogue name, checked) and
no case data. tests/test_reproducer_safety.py proves it on hostile names.

Frameworks are data (`FRAMEWORK_TEMPLATES`): each implementation name maps to a
template and the constructor arguments it adds; a new implementation is one entry.
"""

from __future__ import annotations

import ast
import base64
import json
import re
import textwrap
from typing import Any

import numpy as np

from harness.casefile import DTYPES, Case, group_dicts

_HEADER = '''\
"""optim-parity reproducer: {implementation} against the Adam spec (reference/adam.py).

What it reproduces is CASE["summary"], printed first. Everything taken from the case
file is data in CASE (parsed by json.loads), never code.
Run: python {file_name}   (needs numpy and {needs})
"""
import base64
import json

import numpy as np

CASE = json.loads(
{case}
)
DTYPE = CASE["dtype"]
STEPS = CASE["steps"]  # up to the first failing step
PARAMS = CASE["params"]  # name -> (shape, initial values)
GRADS = CASE["grads"]  # [step][param]: base64 of little-endian DTYPE; None: no gradient
WATCH = CASE["watch"]  # (quantity, parameter, flat index, first failing step)
SPEC = CASE["spec"]  # the spec's value of the watched element after each step
TOLERANCE = CASE["tolerance"]
print(CASE["summary"])


def array(data, shape=None):
    values = np.frombuffer(base64.b64decode(data), dtype=np.dtype(DTYPE).newbyteorder("<")).astype(DTYPE)
    return values if shape is None else values.reshape(shape)

'''

_FOOTER = '''
got = run()
quantity, name, index, step = WATCH
for t, (value, spec) in enumerate(zip(got, SPEC), start=1):
    print(f"step {t}: {quantity} {name!r}[{index}] = {value!r}   spec {spec!r}   error {abs(value - spec):.3g}")
error = abs(got[-1] - SPEC[-1])
verdict = "DIVERGES" if not error <= TOLERANCE else "within tolerance"
print(f"{verdict}: {quantity} {name!r}[{index}] step {step}: got {got[-1]!r}, spec {SPEC[-1]!r}, "
      f"error {error:.3g} {'>' if verdict == 'DIVERGES' else '<='} tolerance {TOLERANCE:.3g}")
'''

_TORCH = '''
import torch

KWARGS = CASE["kwargs"]
GROUPS = CASE["groups"]  # parameter groups (names) with their own lr / weight_decay
LR_PER_STEP = CASE["lr_per_step"]  # a per-step learning rate, set before each step (as a scheduler would)


def run():
    tensors = {n: torch.nn.Parameter(torch.from_numpy(array(v, s).copy())) for n, (s, v) in PARAMS.items()}
    groups = [dict(g, params=[tensors[n] for n in g["params"]]) for g in GROUPS]
    optimizer = torch.optim.Adam(groups, **KWARGS)
    quantity, name, index, _ = WATCH
    values = []
    for t in range(STEPS):
        if LR_PER_STEP:
            for group in optimizer.param_groups:
                group["lr"] = LR_PER_STEP[min(t, len(LR_PER_STEP) - 1)]
        for (n, tensor), grad in zip(tensors.items(), GRADS[t]):
            # None: no gradient at this step (torch skips the parameter)
            tensor.grad = None if grad is None else torch.from_numpy(array(grad, tensor.shape).copy())
        optimizer.step()
        tensor = tensors[name]
        source = tensor.detach() if quantity == "param" else optimizer.state[tensor][quantity]
        values.append(float(source.reshape(-1)[index]))
    return values
'''

_MINDSPORE = '''
import mindspore as ms
from mindspore import Parameter, Tensor, nn

ms.set_context(mode=ms.PYNATIVE_MODE)
ms.set_device("CPU")
KWARGS = CASE["kwargs"]
GROUPS = CASE["groups"]  # parameter groups (names) with their own lr / weight_decay; None: a flat list
LOSS_SCALE = CASE["loss_scale"]  # nn.Adam(loss_scale=L) expects the gradients of the L-scaled loss
MOMENTS = {"exp_avg": "moment1", "exp_avg_sq": "moment2", "max_exp_avg_sq": "vhat"}


def run():
    parameters = {n: Parameter(Tensor(array(v, s).copy()), name=n) for n, (s, v) in PARAMS.items()}
    if GROUPS is None:
        params = list(parameters.values())
    else:
        params = [dict(g, params=[parameters[n] for n in g["params"]]) for g in GROUPS]
    optimizer = nn.Adam(params, **KWARGS)
    quantity, name, index, _ = WATCH
    position = list(parameters).index(name)
    values = []
    for t in range(STEPS):
        grads = tuple(Tensor((array(g, p.shape) * np.dtype(DTYPE).type(LOSS_SCALE)).astype(DTYPE))
                      for g, p in zip(GRADS[t], parameters.values()))
        optimizer(grads)
        if quantity == "param":
            source = parameters[name]
        else:
            source = getattr(optimizer, MOMENTS[quantity])[position]
        values.append(float(source.asnumpy().reshape(-1)[index]))
    return values
'''


def _torch_arguments(case: Case, extra: dict) -> dict:
    from harness.rows import ROWS_BY_ID

    kwargs: dict[str, Any] = {"lr": case.hp("lr")[0] if isinstance(case.hp("lr"), list) else case.hp("lr")}
    for row_id in ("eps", "weight_decay", "amsgrad", "betas"):
        for key, torch_key in ROWS_BY_ID[row_id].torch_args.items():
            kwargs[torch_key] = list(case.hp(key)) if key == "betas" else case.hp(key)
    kwargs["maximize"] = case.hp("maximize")
    kwargs.update(extra)
    groups = group_dicts(case) or [{"params": [p.name for p in case.params]}]
    lr = case.hp("lr")
    lr_per_step = list(lr) if isinstance(lr, list) and not any(g.lr is not None for g in case.param_groups) else None
    return {"kwargs": kwargs, "groups": groups, "lr_per_step": lr_per_step}


def _mindspore_arguments(case: Case, extra: dict) -> dict:
    from harness.adapters.mindspore_adam import _mindspore_kwargs

    kwargs = dict(_mindspore_kwargs(case), **extra)
    return {"kwargs": kwargs, "groups": group_dicts(case) or None, "loss_scale": float(case.hp("loss_scale"))}


# implementation -> (template, framework needed, argument builder, extra constructor arguments)
FRAMEWORK_TEMPLATES: dict[str, tuple[str, str, Any, dict]] = {
    "torch": (_TORCH, "torch", _torch_arguments, {}),
    "torch-foreach": (_TORCH, "torch", _torch_arguments, {"foreach": True}),
    "torch-fused": (_TORCH, "torch", _torch_arguments, {"fused": True}),
    "mindspore": (_MINDSPORE, "mindspore", _mindspore_arguments, {}),
}
# The only text formatted into the script's code: catalogue names, checked all the same.
_IMPLEMENTATION_NAME = re.compile(r"[a-z][a-z0-9-]*")


def _data_literal(data: dict[str, Any]) -> str:
    """Python source of one string literal holding `data` as JSON, one line per key.

    ensure_ascii escapes every non-ASCII character (line separators, surrogates) and repr
    quotes each line, so the literal is plain ASCII; the round trip proves it is the text
    and nothing else. NaN and Infinity are JSON that json.loads reads."""
    text = "{\n" + ",\n".join(f"{json.dumps(key)}: {json.dumps(value, ensure_ascii=True)}"
                              for key, value in data.items()) + "\n}"
    literal = "\n".join("    " + repr(line) for line in text.splitlines(keepends=True))
    if ast.literal_eval(f"({literal})") != text:
        raise ValueError("the case data does not round-trip as a string literal")
    return literal


def _encode(values: np.ndarray, dtype: str) -> str:
    return base64.b64encode(np.asarray(values, dtype=np.dtype(dtype).newbyteorder("<")).tobytes()).decode("ascii")


def supported(implementation: str) -> bool:
    return implementation in FRAMEWORK_TEMPLATES


def reproducer_script(case: Case, implementation: str, violation: dict, case_id: str = "") -> str:
    from harness.trajectory import reference_trajectory

    if implementation not in FRAMEWORK_TEMPLATES or not _IMPLEMENTATION_NAME.fullmatch(implementation):
        raise ValueError(f"no reproducer template for implementation {implementation!r}")
    if case.dtype not in DTYPES:
        raise ValueError(f"unknown dtype {case.dtype!r}; known: {sorted(DTYPES)}")
    template, needs, arguments, extra = FRAMEWORK_TEMPLATES[implementation]
    quantity, name, index, step = violation["quantity"], violation["param"], int(violation["index"]), int(violation["step"])
    reference = reference_trajectory(case)
    spec = [float(x) for x in reference.data[name][quantity][1: step + 1, index]]
    rows = [str(r) for r in violation.get("rows") or []]
    summary = textwrap.fill(
        f"Case {case_id or '(unnamed)'}: {quantity} of parameter {name!r}, element {index}, leaves tolerance at step "
        f"{step}: the spec gives {float(violation['expected'])!r}, {implementation} gave "
        f"{float(violation['actual'])!r} (tolerance {float(violation['tolerance'])!r}). "
        f"Rows: {', '.join(rows) or 'unexplained'}; registry: {violation.get('divergence') or 'none'}.", 88)
    # Printed by the script: ASCII with escapes prints on any console, lone surrogates included.
    summary = summary.encode("ascii", "backslashreplace").decode("ascii")
    # A missing gradient is None for torch; MindSpore, which needs one per parameter, gets
    # zeros (what its autodiff gives an unused parameter).
    grads = [[_encode(g, case.dtype) if implementation.startswith("mindspore") or case.has_gradient(t, j) else None
              for j, g in enumerate(case.grads[t])] for t in range(step)]
    data = {"summary": summary, "case_id": case_id, "implementation": implementation, "dtype": case.dtype,
            "steps": step, "params": {p.name: [list(p.shape), _encode(p.value, case.dtype)] for p in case.params},
            "grads": grads, "watch": [quantity, name, index, step], "spec": spec,
            "tolerance": float(violation["tolerance"]), "rows": rows, "divergence": violation.get("divergence"),
            **arguments(case, extra)}
    header = _HEADER.format(implementation=implementation, file_name=f"reproduce_{implementation}.py", needs=needs,
                            case=_data_literal(data))
    return header + template + _FOOTER
