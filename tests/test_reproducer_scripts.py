"""Reproducer scripts as their readers run them: for every implementation with a template, a
script generated from a real divergence (the harness's engine on a registry reproducer of
cases/known_divergences.toml, some with an lr schedule, groups, a loss scale or missing
gradients added) runs on its own, with numpy and the framework only, and prints
`DIVERGES:` with the very numbers the harness found; the numbers in it are plain decimals;
its docstring names the file a report downloads it as; and the violation a report shows
is the simplest case that has a case file."""

import ast
import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from harness.casefile import case_from_dict, case_to_dict, save_case
from harness.catalogue import IMPLEMENTATIONS
from harness.conformance import check_case
from harness.engine import run_case
from harness.reproducer_script import (FRAMEWORK_TEMPLATES, reproducer_choice, reproducer_file_name,
                                       reproducer_script)

ROOT = Path(__file__).resolve().parent.parent
REPRODUCERS = ROOT / "cases" / "reproducers"
DATA = ROOT / "tests" / "data"

# implementation -> (case file, hyperparameters changed): a case the implementation diverges
# on, chosen so that every template piece runs (non-finite gradients, float16, amsgrad's
# max, lr schedules, non-leaf parameters, sparse COO and RowTensor gradients, parameter
# groups in another order than the parameters, missing gradients, a loss scale).
PLAN = {
    "torch": ("torch-lerp-nonfinite.json", {}),
    "torch-foreach": ("torch-float16-moments-in-dtype.json", {}),
    "torch-fused": ("mindspore-amsgrad-max-keeps-on-nan.json", {}),
    "torch-adamw": ("torch-lerp-complement.json", {}),
    "torch-tensor-lr": ("torch-lerp-complement.json", {"lr": [0.001, 0.01]}),
    "torch-differentiable": ("torch-differentiable-float32-bias-correction.json", {}),
    "torch-lr-scheduler": ("torch-lerp-complement.json", {"lr": [0.001, 0.01]}),
    "torch-sparse": ("torch-sparse-float16-state-in-dtype.json", {}),
    "mindspore": ("mindspore-groups-out-of-order.json", {"betas": [0.9, 0.999999]}),
    "mindspore-graph": ("mindspore-sparse-squares-per-copy.json", {}),
    "mindspore-target-cpu": ("mindspore-lazy-weight-decay-per-copy.json", {}),
    "mindspore-lr-tensor": ("mindspore-missing-gradient-is-zero.json", {"lr": [0.01, 0.02, 0.005, 0.01]}),
    "mindspore-lr-schedule": ("mindspore-eps-before-bias-correction.json", {"lr": [0.001, 0.002],
                                                                            "loss_scale": 1024.0}),
    "mindspore-mint": ("mindspore-mint-pynative-in-place-add-lost.json", {}),
    "mindspore-mint-graph": ("mindspore-mint-betas-float32.json", {}),
    "mindspore-adamweightdecay": ("mindspore-adamweightdecay-no-bias-correction.json", {}),
    "mindspore-experimental-adamw": ("mindspore-experimental-adamw-betas-float32.json", {}),
    "keras-adam": ("keras-missing-gradient-global-step.json", {"lr": [0.01, 0.02, 0.005], "loss_scale": 1024.0}),
    "keras-adamw": ("keras-betas-16bit-powers.json", {}),
    "paddle-adam": ("paddle-sparse-bias-correction-step-ahead.json", {}),
    "optax-adam": ("optax-float32-beta-powers.json", {}),
    "optax-adamw": ("optax-float32-beta-powers.json", {}),
    "optax-adam-x64": ("optax-missing-gradient-is-zero.json", {}),
    "optax-adamw-x64": ("optax-float16-eps-vanishes.json", {}),
    "optax-adam-mu-bfloat16": ("optax-adam-mu-bfloat16.json", {}),
    "optax-amsgrad": ("optax-amsgrad-max-of-bias-corrected.json", {}),
    "paddle-adamw": ("paddle-clear-grad-zero-gradient.json", {"lr": [0.01, 0.02, 0.005]}),
}
# A bfloat16 case (no implementation diverges on one): its script must still print the
# framework's value the harness recorded for the watched element, and the spec's.
BFLOAT16 = ("torch", "torch-lerp-complement.json")
LINE = re.compile(r"^(DIVERGES|within tolerance): .* got (\S+), spec (\S+), error ")


def _case(file_name: str, changes: dict):
    path = REPRODUCERS / file_name if (REPRODUCERS / file_name).exists() else DATA / file_name
    raw = json.loads(path.read_text())
    raw.setdefault("hyperparameters", {}).update(changes)
    return case_from_dict(raw)


def _entry(case) -> dict:
    """The case as results.json lists it (what reproducer_choice reads)."""
    from harness.catalogue import features

    return {"dtype": case.dtype, "hyperparameters": case.hyperparameters, "features": features(case),
            "params": [{"name": p.name, "shape": list(p.shape)} for p in case.params], "steps": case.num_steps}


def _bfloat16_violation(case, implementation: str) -> dict:
    """A `violation` of the watched element made from what the harness recorded (its value
    at the last step and the spec's), for a case without one."""
    run = run_case(case, ["reference", implementation])
    name, step = case.params[0].name, case.num_steps
    actual = float(run.trajectories[implementation].data[name]["param"][step, 0])
    expected = float(run.reference.data[name]["param"][step, 0])
    return {"quantity": "param", "param": name, "index": 0, "step": step, "expected": expected, "actual": actual,
            "tolerance": 1.0, "rows": [], "divergence": None, "case": "bfloat16"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """implementation -> (violation, script text, finished process): every script generated
    here, then run, each in its own interpreter, several at a time."""
    folder = tmp_path_factory.mktemp("reproducers")
    jobs = {}
    for implementation, (file_name, changes) in PLAN.items():
        case = _case(file_name, changes)
        result = {r.implementation: r for r in check_case(case, ["reference", implementation])}[implementation]
        assert result.violations, f"{implementation} no longer diverges on {file_name} {changes}"
        violations = [dict(v.to_json(), case=file_name, ratio=v.ratio) for v in result.violations]
        chosen = reproducer_choice(violations, {file_name: _entry(case)}, lambda case_id: True)
        jobs[implementation] = (chosen, reproducer_script(case, implementation, chosen, file_name, row="betas"))
    implementation, file_name = BFLOAT16
    case = case_from_dict(dict(case_to_dict(_case(file_name, {})), dtype="bfloat16"))
    violation = _bfloat16_violation(case, implementation)
    jobs["bfloat16"] = (violation, reproducer_script(case, implementation, violation, "bfloat16"))
    paths = {}
    for key, (_, script) in jobs.items():
        # Under the name a report downloads it as (a script named torch.py would import itself).
        paths[key] = folder / (reproducer_file_name("bfloat16", implementation) if key == "bfloat16"
                               else reproducer_file_name("betas", key))
        paths[key].write_text(script, encoding="utf-8")
    finished = _run_all(paths, at_once=(os.cpu_count() or 1) + 1)
    return {key: (jobs[key][0], jobs[key][1], finished[key]) for key in jobs}


def _run_all(paths: dict, at_once: int) -> dict:
    """Each script in its own interpreter, `at_once` at a time (one more than the cores: a
    script waits on its imports part of the time)."""
    waiting, running, out = list(paths.items()), {}, {}
    while waiting or running:
        while waiting and len(running) < at_once:
            key, path = waiting.pop(0)
            with open(path.with_suffix(".out"), "w") as stdout, open(path.with_suffix(".err"), "w") as stderr:
                running[key] = (subprocess.Popen([sys.executable, str(path)], cwd=path.parent, stdout=stdout,
                                                 stderr=stderr), time.monotonic(), path)
        for key, (process, started, path) in list(running.items()):
            if process.poll() is None and time.monotonic() - started > 600:
                process.kill()
                process.wait()
            if process.poll() is not None:
                out[key] = subprocess.CompletedProcess(process.args, process.returncode,
                                                       path.with_suffix(".out").read_text(),
                                                       path.with_suffix(".err").read_text())
                del running[key]
        time.sleep(0.05)
    return out


def _same(printed: str, number) -> bool:
    a, b = float(printed), float(number)
    return a == b or (math.isnan(a) and math.isnan(b))


def test_every_implementation_of_the_catalogue_has_a_template():
    assert set(FRAMEWORK_TEMPLATES) == set(IMPLEMENTATIONS) - {"reference"}
    # mint.optim.AdamW has no CPU kernel (unsupported for every case): nothing it computed
    # to reproduce, so no script is run for it here.
    assert set(PLAN) == set(FRAMEWORK_TEMPLATES) - {"mindspore-mint-adamw"}


@pytest.mark.parametrize("implementation", list(PLAN))
def test_a_script_reproduces_what_the_harness_found(runs, implementation):
    violation, _, run = runs[implementation]
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.strip().splitlines()
    match = LINE.match(lines[-1])
    assert match and match.group(1) == "DIVERGES", run.stdout[-2000:]
    # The framework's value and the spec's, as the harness found them (repr: every bit).
    assert _same(match.group(2), violation["actual"]), (lines[-1], violation)
    assert _same(match.group(3), violation["expected"]), (lines[-1], violation)
    assert lines[0].startswith(f"Case {PLAN[implementation][0]} ")


def test_a_bfloat16_script_gives_the_value_the_harness_recorded(runs):
    violation, _, run = runs["bfloat16"]
    assert run.returncode == 0, run.stderr[-3000:]
    match = LINE.match(run.stdout.strip().splitlines()[-1])
    assert match and _same(match.group(2), violation["actual"]) and _same(match.group(3), violation["expected"])


def _data(script: str) -> dict:
    tree = ast.parse(script)
    (call,) = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and ast.unparse(n.func) == "json.loads"]
    return json.loads(call.args[0].value)


@pytest.mark.parametrize("implementation", list(PLAN))
def test_values_are_plain_numbers_and_the_docstring_names_the_download(runs, implementation):
    _, script, _ = runs[implementation]
    case = _case(*PLAN[implementation])
    data = _data(script)
    for p in case.params:
        shape, numbers = data["params"][p.name]
        assert shape == list(p.shape) and all(isinstance(x, float) for x in numbers)
        # Each number rounds back to the case's value (float64 first, then the dtype's holder).
        assert np.array_equal(np.array(numbers).astype(p.value.dtype), p.value)
    assert "base64" not in script
    name = reproducer_file_name("betas", implementation)
    assert name == f"reproduce_betas_{implementation}.py"
    assert f"Run: python {name} " in ast.get_docstring(ast.parse(script))


def test_non_finite_numbers_are_strings_the_script_converts(runs):
    data = _data(runs["torch"][1])
    assert ["inf", 0.1] in [g for step in data["grads"] for g in step]


def test_a_float32_value_is_its_shortest_decimal():
    case = case_from_dict({"schema": "optim-parity/case/1", "dtype": "float32",
                           "params": [{"name": "w", "shape": [3], "value": [0.1, -1e-8, 3.0e38]}],
                           "grads": [[[0.2, 1e-45, -0.3]]]})
    violation = {"quantity": "param", "param": "w", "index": 0, "step": 1, "expected": 0, "actual": 0, "tolerance": 1}
    data = _data(reproducer_script(case, "torch", violation))
    assert data["params"]["w"] == [[3], [0.1, -1e-08, 3e+38]]
    assert data["grads"] == [[[0.2, 1e-45, -0.3]]]


def test_the_file_name_is_one_safe_name():
    assert reproducer_file_name("eps", "mindspore") == "reproduce_eps_mindspore.py"
    assert reproducer_file_name('x"""\n/../y', "torch") == "reproduce_x________y_torch.py"
    assert reproducer_file_name(None, "torch") == "reproduce_torch.py"


# --------------------------------------------------------------------------- the choice

def _violation(case, step=1, quantity="param", ratio=2.0, param="w", index=0):
    return {"case": case, "quantity": quantity, "param": param, "index": index, "step": step, "ratio": ratio}


def _case_entry(dtype="float32", shape=(2,), steps=3, case_file="f.json", **hyperparameters):
    return {"dtype": dtype, "hyperparameters": hyperparameters, "params": [{"name": "w", "shape": list(shape)}],
            "steps": steps, "features": {"layout": "dense", "groups": "none"}, "case_file": case_file}


def test_the_choice_prefers_float32_then_defaults_then_fewer_element_steps_then_the_smallest_id():
    cases = {"a-f16": _case_entry("float16"), "b-options": _case_entry(lr=0.01, amsgrad=True),
             "c-big": _case_entry(shape=(100,)), "d-small": _case_entry(), "e-small": _case_entry()}
    worst_first = [_violation("a-f16", ratio="nan"), _violation("b-options", ratio=1e9),
                   _violation("c-big", ratio=100.0), _violation("e-small", ratio=3.0),
                   _violation("d-small", ratio=3.0), _violation("d-small", step=1, quantity="step", ratio="inf")]
    assert reproducer_choice(worst_first, cases)["case"] == "d-small"
    assert reproducer_choice(worst_first[:3], cases)["case"] == "c-big"
    assert reproducer_choice(worst_first[:2], cases)["case"] == "b-options"
    # Element-steps up to the violation: the small case's late violation loses to the big one's early one.
    assert reproducer_choice([_violation("c-big", step=1), _violation("d-small", step=100)], cases)["case"] == "c-big"


def test_the_choice_takes_only_cases_with_a_case_file_and_ties_cannot_hide_it():
    """The tie the report had: several cases with the same worst ratio, the file written
    for one of them (harness/verdicts.py keeps the first), the reproducer looking at another."""
    cases = {"a": _case_entry(case_file=None), "b": _case_entry(), "c": _case_entry(case_file=None)}
    tied = [_violation(c, ratio="inf") for c in ("a", "b", "c")]
    assert reproducer_choice(tied, cases)["case"] == "b"
    assert reproducer_choice([v for v in tied if v["case"] != "b"], cases) is None
    assert reproducer_choice([_violation("a", quantity="step")], {"a": _case_entry()}) is None


def test_within_a_case_the_earliest_step_then_a_parameter_then_the_worst():
    cases = {"a": _case_entry()}
    violations = [_violation("a", step=2, ratio=9.0), _violation("a", quantity="exp_avg", ratio=9.0),
                  _violation("a", ratio=3.0, index=1), _violation("a", ratio=5.0)]
    assert reproducer_choice(violations, cases) == violations[3]


def test_the_report_shows_the_simplest_case_with_a_file(tmp_path):
    """html_report._reproducers: the float32 case, not the float16 NaN one (the worst); the file
    name it downloads as is the one the docstring says to run."""
    from harness.html_report import _reproducers

    simple = _case("mindspore-eps-before-bias-correction.json", {})
    half = _case("mindspore-float16-inf-v-turns-nan.json", {})  # the complaint: a NaN, the worst ratio
    save_case(simple, tmp_path / "cases" / "simple.json")
    save_case(half, tmp_path / "cases" / "half.json")
    found = {c: {r.implementation: r for r in check_case(k, ["reference", "mindspore"])}["mindspore"]
             for c, k in (("simple", simple), ("half", half))}
    violations = [dict(v.to_json(), case=c, ratio=v.ratio) for c, r in found.items() for v in r.violations]
    assert max(v["ratio"] for v in violations if v["case"] == "half") > max(v["ratio"] for v in violations
                                                                          if v["case"] == "simple")
    cases_by_id = {"simple": dict(_entry(simple), case_file="cases/simple.json"),
                   "half": dict(_entry(half), case_file="cases/half.json")}
    (shown,) = _reproducers({"row": "eps"}, "mindspore", {"violations": violations}, cases_by_id, tmp_path)
    assert shown["file_name"] == "reproduce_eps_mindspore.py"
    assert f"Run: python {shown['file_name']} " in shown["script"]
    assert _data(shown["script"])["case_id"] == "simple"
    # Without its case file the next simplest is shown.
    cases_by_id["simple"]["case_file"] = None
    (shown,) = _reproducers({"row": "eps"}, "mindspore", {"violations": violations}, cases_by_id, tmp_path)
    assert _data(shown["script"])["case_id"] == "half"
