"""Each Adam-family entry point's defaults, as data: the concept table's other half.

The rows of harness/rows.py are concepts (lr, betas, eps, weight decay, ...) with every
framework's word for them; what a user gets by *not* passing one differs between
frameworks and between a framework's own classes (torch.optim.AdamW decays by 0.01 and
mindspore.nn.AdamWeightDecay by 0; Keras' epsilon is 1e-7, MindSpore's AdamWeightDecay's
1e-6, everyone else's 1e-8). A migration that keeps "the defaults" changes the algorithm
there. ENTRY_POINTS holds, per entry point, each concept's parameter name(s) and default
as its signature declares them; `read_defaults` reads the installed framework's signatures
(in a child process per framework: frameworks never meet in one process) and
tests/test_framework_defaults.py checks that the table is what is installed, so a
framework that changes a default fails the suite. `differences_from_torch` is what the
report and the README list.

Nothing here imports a framework.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

REQUIRED = "(required)"  # a parameter without a default (optax's learning_rate)
NONE = None  # a parameter whose default is None (Keras' and Paddle's weight_decay: no decay)


@dataclass(frozen=True)
class EntryPoint:
    path: str  # as users spell it, e.g. "mindspore.nn.AdamWeightDecay"
    framework: str  # the catalogue's framework (its worker, its packages)
    family: str  # "adam" or "adamw": the torch class it is measured against (TORCH_OF)
    # concept (a row id of harness/rows.py) -> {parameter name: default}
    defaults: dict[str, dict[str, Any]]


def _adam_torch_style(path: str, framework: str, family: str, weight_decay: float) -> EntryPoint:
    return EntryPoint(path, framework, family, {
        "lr": {"lr": 0.001}, "betas": {"betas": [0.9, 0.999]}, "eps": {"eps": 1e-08},
        "weight_decay": {"weight_decay": weight_decay}, "amsgrad": {"amsgrad": False}})


ENTRY_POINTS: tuple[EntryPoint, ...] = (
    _adam_torch_style("torch.optim.Adam", "torch", "adam", 0),
    _adam_torch_style("torch.optim.AdamW", "torch", "adamw", 0.01),
    EntryPoint("mindspore.nn.Adam", "mindspore", "adam", {
        "lr": {"learning_rate": 0.001}, "betas": {"beta1": 0.9, "beta2": 0.999}, "eps": {"eps": 1e-08},
        "weight_decay": {"weight_decay": 0.0}, "amsgrad": {"use_amsgrad": False},
        "use_locking": {"use_locking": False}, "use_nesterov": {"use_nesterov": False},
        "loss_scale": {"loss_scale": 1.0}}),
    EntryPoint("mindspore.nn.AdamWeightDecay", "mindspore", "adamw", {
        "lr": {"learning_rate": 0.001}, "betas": {"beta1": 0.9, "beta2": 0.999}, "eps": {"eps": 1e-06},
        "weight_decay": {"weight_decay": 0.0}}),
    _adam_torch_style("mindspore.mint.optim.Adam", "mindspore", "adam", 0.0),
    _adam_torch_style("mindspore.mint.optim.AdamW", "mindspore", "adamw", 0.01),
    _adam_torch_style("mindspore.experimental.optim.AdamW", "mindspore", "adamw", 0.01),
    EntryPoint("optax.adam", "optax", "adam", {
        "lr": {"learning_rate": REQUIRED}, "betas": {"b1": 0.9, "b2": 0.999}, "eps": {"eps": 1e-08},
        "eps_root": {"eps_root": 0.0}, "use_nesterov": {"nesterov": False}}),
    EntryPoint("optax.adamw", "optax", "adamw", {
        "lr": {"learning_rate": REQUIRED}, "betas": {"b1": 0.9, "b2": 0.999}, "eps": {"eps": 1e-08},
        "eps_root": {"eps_root": 0.0}, "weight_decay": {"weight_decay": 0.0001}, "use_nesterov": {"nesterov": False}}),
    EntryPoint("keras.optimizers.Adam", "keras", "adam", {
        "lr": {"learning_rate": 0.001}, "betas": {"beta_1": 0.9, "beta_2": 0.999}, "eps": {"epsilon": 1e-07},
        "weight_decay": {"weight_decay": NONE}, "amsgrad": {"amsgrad": False}}),
    EntryPoint("keras.optimizers.AdamW", "keras", "adamw", {
        "lr": {"learning_rate": 0.001}, "betas": {"beta_1": 0.9, "beta_2": 0.999}, "eps": {"epsilon": 1e-07},
        "weight_decay": {"weight_decay": 0.004}, "amsgrad": {"amsgrad": False}}),
    EntryPoint("paddle.optimizer.Adam", "paddle", "adam", {
        "lr": {"learning_rate": 0.001}, "betas": {"beta1": 0.9, "beta2": 0.999}, "eps": {"epsilon": 1e-08},
        "weight_decay": {"weight_decay": NONE}, "amsgrad": {"amsgrad": False}, "use_lazy": {"lazy_mode": False}}),
    EntryPoint("paddle.optimizer.AdamW", "paddle", "adamw", {
        "lr": {"learning_rate": 0.001}, "betas": {"beta1": 0.9, "beta2": 0.999}, "eps": {"epsilon": 1e-08},
        "weight_decay": {"weight_decay": 0.01}, "amsgrad": {"amsgrad": False}, "use_lazy": {"lazy_mode": False}}),
)
ENTRY_POINTS_BY_PATH = {entry.path: entry for entry in ENTRY_POINTS}
TORCH_OF = {"adam": "torch.optim.Adam", "adamw": "torch.optim.AdamW"}

# Each framework's process environment for reading signatures (what its wing's setup()
# would set before the import: MindSpore's log level, Keras' backend).
_ENVIRONMENT = {"mindspore": {"GLOG_v": "4"}, "keras": {"KERAS_BACKEND": "jax"}, "optax": {"JAX_PLATFORMS": "cpu"}}

# Run in a child process: reads a JSON list of {"path", "parameters"} on stdin and prints
# {path: {parameter: default}}. Data arrive as data; nothing read is executed.
_READER = r'''
import importlib, inspect, json, sys

def signature_of(obj):
    target = obj.__init__ if inspect.isclass(obj) else obj
    signature = inspect.signature(inspect.unwrap(target))
    if all(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for n, p in signature.parameters.items() if n != "self"):
        # A registering decorator without functools.wraps (mindspore.nn's
        # opt_init_args_register): the wrapped function is in its closure.
        for cell in target.__closure__ or ():
            if inspect.isfunction(cell.cell_contents):
                return inspect.signature(cell.cell_contents)
    return signature

def plain(value):
    if value is inspect.Parameter.empty:
        return "(required)"
    if isinstance(value, tuple):
        return [plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)

out = {}
for item in json.load(sys.stdin):
    module, _, name = item["path"].rpartition(".")
    parameters = signature_of(getattr(importlib.import_module(module), name)).parameters
    out[item["path"]] = {p: (plain(parameters[p].default) if p in parameters else "(no such parameter)")
                         for p in item["parameters"]}
print("OPTIM-PARITY-DEFAULTS " + json.dumps(out))
'''


def read_defaults(framework: str, timeout: float = 120.0) -> dict[str, dict[str, Any]]:
    """The installed framework's defaults of its entry points' listed parameters, read
    from their signatures in a child process: {path: {parameter: default}}."""
    request = [{"path": entry.path, "parameters": [p for names in entry.defaults.values() for p in names]}
               for entry in ENTRY_POINTS if entry.framework == framework]
    env = {**os.environ, **_ENVIRONMENT.get(framework, {})}
    done = subprocess.run([sys.executable, "-c", _READER], input=json.dumps(request), capture_output=True,
                          text=True, timeout=timeout, env=env)
    marker = [line for line in done.stdout.splitlines() if line.startswith("OPTIM-PARITY-DEFAULTS ")]
    if done.returncode != 0 or not marker:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"reading {framework}'s signatures failed (exit {done.returncode}): {last}")
    return json.loads(marker[-1].partition(" ")[2])


def declared(entry: EntryPoint) -> dict[str, Any]:
    """{parameter: default} as the table declares it."""
    return {p: value for names in entry.defaults.values() for p, value in names.items()}


def concept_default(entry: EntryPoint, concept: str) -> Any:
    """The entry point's default for a concept, in torch's terms (a pair of betas as a
    list; None: no decay, which is 0; absent: the entry point has no such parameter)."""
    names = entry.defaults.get(concept)
    if names is None:
        return "(none)"
    values = list(names.values())
    value = values if len(values) > 1 else values[0]
    return 0.0 if concept == "weight_decay" and value is NONE else value


def differences_from_torch() -> list[dict[str, Any]]:
    """Every (entry point, concept) whose default differs from its torch class's
    (torch.optim.Adam for an Adam, torch.optim.AdamW for an AdamW), in table order."""
    out = []
    for entry in ENTRY_POINTS:
        torch_entry = ENTRY_POINTS_BY_PATH[TORCH_OF[entry.family]]
        if entry is torch_entry:
            continue
        for concept in entry.defaults:
            if concept not in torch_entry.defaults:
                continue
            mine, theirs = concept_default(entry, concept), concept_default(torch_entry, concept)
            if mine != theirs and not (isinstance(mine, (int, float)) and isinstance(theirs, (int, float))
                                       and float(mine) == float(theirs)):
                out.append({"entry_point": entry.path, "concept": concept,
                            "parameter": ", ".join(entry.defaults[concept]), "default": mine,
                            "torch": torch_entry.path, "torch_default": theirs})
    return out
