"""The Keras wing (harness/adapters/keras/): the measured facts its adapter, catalogue
records and registry entries rely on (Keras 3.15.1, jax 0.7.1, CPU), its translation,
and its reproducer template run as a reader runs it.

The facts are measured in a fresh interpreter (keras with the jax backend is process-
global, and jax's x64 flag too), once for the module: a change in Keras or JAX that
makes one stale fails here, next to the claim it breaks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.adapters.keras.translate import PiecewiseConstant, constructor_arguments, schedule
from harness.casefile import Case, ParamSpec, case_from_dict
from harness.conformance import check_case
from harness.reproducer_script import reproducer_script
from reference.adam import lr_at

ROOT = Path(__file__).resolve().parent.parent
REPRODUCERS = ROOT / "cases" / "reproducers"

_FACTS = r'''
import json, warnings
from harness.adapters import setup
setup("keras")
import jax, keras, numpy as np

facts = {"backend": keras.backend.backend(), "x64": bool(jax.config.jax_enable_x64)}
for cls in ("Adam", "AdamW"):
    config = getattr(keras.optimizers, cls)().get_config()
    facts[cls] = {k: config[k] for k in ("learning_rate", "beta_1", "beta_2", "epsilon", "weight_decay", "amsgrad")}

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    v = keras.Variable(np.array([1.0, 2.0]), dtype="float64")
facts["float64"] = {"dtype": str(v.dtype), "held": str(v.value.dtype),
                    "warning": [str(w.message) for w in caught][:1]}

# A None gradient: the variable is skipped, the optimizer's iterations advance; its first
# update (step 2) takes the bias correction of t = 2. All None: ValueError.
a, b = keras.Variable(np.array([1.0], np.float32)), keras.Variable(np.array([1.0], np.float32))
opt = keras.optimizers.Adam(learning_rate=0.1, epsilon=0.0)
opt.apply_gradients([(np.array([0.5], np.float32), a), (None, b)])
facts["missing"] = {"b_after_1": float(b.numpy()[0]), "iterations": int(opt.iterations.numpy())}
opt.apply_gradients([(np.array([0.5], np.float32), a), (np.array([0.5], np.float32), b)])
facts["missing"]["b_after_2"] = float(b.numpy()[0])
try:
    opt.apply_gradients([(None, a), (None, b)])
except ValueError as error:
    facts["missing"]["all_none"] = str(error)

# Adam's weight_decay is decoupled, applied before the update: w * (1 - wd * lr) - update.
w = keras.Variable(np.array([2.0], np.float32))
opt = keras.optimizers.Adam(learning_rate=0.1, weight_decay=0.5)
opt.apply_gradients([(np.array([0.0], np.float32), w)])
facts["weight_decay_zero_gradient"] = float(w.numpy()[0])
print(json.dumps(facts))
'''


@pytest.fixture(scope="module")
def facts() -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    env.pop("JAX_ENABLE_X64", None)
    run = subprocess.run([sys.executable, "-c", _FACTS], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_the_wing_runs_the_jax_backend_with_jax_s_default_x64(facts):
    assert facts["backend"] == "jax" and facts["x64"] is False


def test_keras_defaults_differ_from_torch_s(facts):
    """What a Keras user gets without arguments (the harness always passes the case's):
    epsilon 1e-7 (torch 1e-8), AdamW's weight_decay 0.004 (torch 0.01). The learning rate
    is held in a float32 variable (backend.floatx()): get_config reads fl32(0.001) back."""
    assert facts["Adam"] == {"learning_rate": float(np.float32(0.001)), "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07,
                             "weight_decay": None, "amsgrad": False}
    assert facts["AdamW"] == dict(facts["Adam"], weight_decay=0.004)


def test_float64_variables_hold_float32_without_x64(facts):
    """The catalogue's `unsupported` for float64: the variable says float64 and holds float32."""
    assert facts["float64"]["dtype"] == "float64" and facts["float64"]["held"] == "float32"
    assert "Explicitly requested dtype float64" in facts["float64"]["warning"][0]


def test_a_none_gradient_skips_the_variable_but_not_the_step_count(facts):
    """keras-missing-gradient-global-step: b's first update (at iterations 1) is the t = 2
    update, lr * sqrt(1 - 0.999^2) / (1 - 0.9^2) with eps 0, not the t = 1 one (lr)."""
    missing = facts["missing"]
    assert missing["b_after_1"] == 1.0 and missing["iterations"] == 1
    m, v = 0.1 * 0.5, 0.001 * 0.25
    t2 = 0.1 * np.sqrt(1 - 0.999**2) / (1 - 0.9**2) * m / np.sqrt(v)
    assert missing["b_after_2"] == pytest.approx(1.0 - t2, rel=1e-6)
    assert missing["all_none"] == "No gradients provided for any variable."


def test_adam_weight_decay_is_decoupled(facts):
    """Adam's weight_decay (not only AdamW's) is decoupled, applied before the update:
    with a zero gradient m = v = 0, the update is 0 and w = w - w * wd * lr = 2 - 0.1 =
    1.9; as L2 the gradient would be wd * w = 1 and w would move by about lr more."""
    assert facts["weight_decay_zero_gradient"] == pytest.approx(1.9, rel=1e-6)


def _case(**hyperparameters) -> Case:
    params = (ParamSpec("w", (2,), np.array([0.5, -1.0], np.float32)),)
    return Case("float32", hyperparameters, params, tuple((np.array([0.1, -0.3], np.float32),) for _ in range(3)))


def test_a_per_step_lr_is_a_piecewise_constant_schedule_on_the_iterations():
    """Step k (iterations k - 1 when it runs) gets lr[k - 1]; past the end the last value
    (the spec's lr_at); PiecewiseConstantDecay's rule: values[i] for boundaries[i-1] < step
    <= boundaries[i]."""
    lr = [0.1, 0.01, 0.001]
    made = schedule(lr)
    assert made == PiecewiseConstant((0, 1), (0.1, 0.01, 0.001))

    def value(iterations: int) -> float:
        i = sum(1 for b in made.boundaries if iterations > b)
        return made.values[i]

    assert [value(k - 1) for k in range(1, 7)] == [lr_at(lr, k) for k in range(1, 7)]
    assert schedule([0.5]) == 0.5  # PiecewiseConstantDecay needs two values


def test_the_translation_passes_what_keras_has_no_counterpart_for_under_its_own_name():
    assert constructor_arguments(_case(weight_decay=0.1), "keras-adam")["decoupled_weight_decay"] is False
    decoupled = constructor_arguments(_case(weight_decay=0.1, decoupled_weight_decay=True), "keras-adam")
    assert decoupled["weight_decay"] == 0.1 and "decoupled_weight_decay" not in decoupled
    assert "weight_decay" not in constructor_arguments(_case(), "keras-adam")  # Adam's default: None
    assert constructor_arguments(_case(), "keras-adamw")["weight_decay"] == 0.0  # not AdamW's 0.004
    assert constructor_arguments(_case(loss_scale=1024.0), "keras-adam")["loss_scale_factor"] == 1024.0
    assert constructor_arguments(_case(lr=0), "keras-adam")["learning_rate"] == 0.0  # Keras rejects an int


def test_a_reproducer_script_prints_what_the_harness_found(tmp_path):
    """The template with every piece it has: a per-step lr (PiecewiseConstantDecay), a loss
    scale (loss_scale_factor, loss-scaled gradients), a missing gradient (None)."""
    raw = json.loads((REPRODUCERS / "keras-missing-gradient-global-step.json").read_text())
    raw["hyperparameters"].update({"lr": [0.01, 0.02, 0.005], "loss_scale": 1024.0})
    case = case_from_dict(raw)
    result = check_case(case, ["reference", "keras-adamw"])[1]
    violation = next(v for v in result.violations if v.quantity == "param")
    script = reproducer_script(case, "keras-adamw", dict(violation.to_json(), case="x"), "x", row="params")
    path = tmp_path / "reproduce_params_keras-adamw.py"
    path.write_text(script)
    env = dict(os.environ)
    env.pop("KERAS_BACKEND", None)
    run = subprocess.run([sys.executable, str(path)], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    last = run.stdout.strip().splitlines()[-1]
    assert last.startswith("DIVERGES: ") and f"got {violation.actual!r}" in last, run.stdout
