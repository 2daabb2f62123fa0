"""Frameworks meet only in separate processes: the harness process imports torch,
MindSpore, jax, optax, Keras or Paddle only when it runs one. Everything that renders reports, reads the catalogue,
writes reproducer scripts or answers the validation table's expectations is framework-
free; framework code lives in the wings (harness/adapters/<framework>/), and nothing
outside a wing imports a framework or a wing's private names."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.catalogue import WINGS

ROOT = Path(__file__).resolve().parent.parent
HARNESS = ROOT / "harness"
# The modules each framework is imported as (the optional extra's too: jax for optax and
# Keras' jax backend).
FRAMEWORKS = ("torch", "mindspore", "jax", "optax", "keras", "paddle")
NOTHING = {framework: False for framework in FRAMEWORKS}
# The framework modules each wing may import (optax's and Keras' run on jax).
WING_MODULES = {"torch": ("torch",), "mindspore": ("mindspore",), "optax": ("optax", "jax"), "keras": ("keras", "jax"),
                "paddle": ("paddle",)}


def _imported_in_fresh_interpreter(code: str) -> dict:
    """Run `code` in a fresh interpreter; which frameworks it left in sys.modules."""
    probe = code + "\nimport json, sys\nprint(json.dumps({f: f in sys.modules for f in %r}))" % (FRAMEWORKS,)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    run = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_the_report_catalogue_and_validation_modules_import_no_framework():
    imported = _imported_in_fresh_interpreter(
        "import harness.reproducer_script, harness.html_report, harness.report, harness.catalogue, "
        "harness.acceptance")
    assert imported == NOTHING


def test_the_wings_framework_free_modules_import_no_framework():
    modules = ["harness.adapters", "harness.bench"] + [f"{package}{module}" for package in WINGS.values()
                                                         for module in ("", ".translate", ".bare", ".reproducer")]
    imported = _imported_in_fresh_interpreter("import importlib\n" + "\n".join(
        f"importlib.import_module({module!r})" for module in modules))
    assert imported == NOTHING


def test_writing_every_reproducer_and_the_validation_expectations_import_no_framework():
    """The reproducer scripts' constructor arguments are the wings' pure translation (they
    were taken from the adapters, which imported both frameworks into the report renderer)."""
    code = """
import numpy as np
from harness.casefile import Case, ParamGroup, ParamSpec
from harness.reproducer_script import templates, reproducer_script
from harness.acceptance import REPRESENTATIVES, expected, load_rules
params = (ParamSpec("w", (2,), np.array([0.5, -1.0], np.float32)), ParamSpec("b", (1,), np.array([2.0], np.float32)))
grads = tuple((np.array([1e-6, -1e-6], np.float32), np.array([0.1], np.float32)) for _ in range(3))
for sparse_rows in ((), tuple(((0, 1, 1), (0,)) for _ in range(3))):
    case = Case("float32", {"lr": [0.01, 0.02], "loss_scale": 4.0, "maximize": True}, params, grads,
                (ParamGroup(("w",), lr=0.02), ParamGroup(("b",))), sparse_rows=sparse_rows)
    violation = {"quantity": "param", "param": "w", "index": 1, "step": 3, "expected": 0.5, "actual": 0.6,
                 "tolerance": 1e-6}
    for implementation in templates():
        reproducer_script(case, implementation, violation)
rules = load_rules()
for framework in ("torch", "mindspore"):
    for key, values in REPRESENTATIVES.items():
        for value in values:
            expected(framework, key, value, rules)
"""
    assert _imported_in_fresh_interpreter(code) == NOTHING


def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(module, names, level) of every import statement in a file, wherever it is."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(alias.name, [], 0) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            out.append((node.module or "", [alias.name for alias in node.names], node.level))
    return out


def _wing_of(path: Path) -> str | None:
    for framework, package in WINGS.items():
        if path.is_relative_to(ROOT / package.replace(".", "/")):
            return framework
    return None


@pytest.mark.parametrize("path", sorted(HARNESS.rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_only_a_wing_imports_its_framework_and_its_private_names(path):
    wing = _wing_of(path)
    for module, names, level in _imports(path):
        assert level == 0, f"{path}: relative import"
        top = module.split(".")[0]
        if top in FRAMEWORKS:
            assert top in WING_MODULES.get(wing, ()), (
                f"{path} imports {module}: framework code belongs in the wing of the framework it serves "
                f"(harness/adapters/<framework>/)")
        for framework, package in WINGS.items():
            if module == package or module.startswith(package + "."):
                private = [name for name in names if name.startswith("_")]
                assert wing == framework or not private, f"{path} imports {private} from the {framework} wing"
                assert wing in (None, framework), f"{path}: one wing imports another ({module})"
