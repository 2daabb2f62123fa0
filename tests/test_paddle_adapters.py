"""The paddle wing's measured facts (harness/adapters/paddle/), each what a record, the
translation, the adapter or a registry entry relies on, measured on paddle 3.3 CPU in a
child process (paddle imported in the test process could meet MindSpore there; the
frameworks only meet in separate processes):

- a parameter group's 'learning_rate' is a ratio of the optimizer's learning_rate
  (translate.group_arguments passes group lr / lr);
- the beta powers are running products in the accumulator dtype, beta_pow = fl(beta *
  beta_pow), filled with beta: the adapter reads the step count off beta2_pow_acc;
- clear_grad() leaves zeros, not None (registry paddle-clear-grad-zero-gradient);
- the CPU has no float16/bfloat16 adam kernel, multi_precision=True or not (catalogue:
  unsupported; a multi-precision record is worth adding once it has one);
- AdamW fails on SelectedRows gradients, Adam refuses them with weight decay (catalogue:
  unsupported);
- paddle's defaults: Adam's weight_decay None (no decay), AdamW's 0.01.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.catalogue import framework_available

# Not pytest.importorskip("paddle"): that imports paddle into this pytest process, and a
# MindSpore test after it in the same pytest-xdist worker then fails to import MindSpore
# (paddle before mindspore breaks mindspore's import; seen in a run of this suite).
if not framework_available("paddle"):
    pytest.skip("paddle is not installed (the optional 'family' extra)", allow_module_level=True)

ROOT = Path(__file__).resolve().parent.parent

_MEASURE = r'''
import inspect, json
import numpy as np
from harness.adapters import setup
setup("paddle")
import paddle

out = {}

def parameter(values, dtype="float32"):
    p = paddle.create_parameter([len(values)], dtype=dtype, default_initializer=paddle.nn.initializer.Constant(0.0))
    p.set_value(paddle.to_tensor(np.array(values, dtype="float32")).astype(dtype))
    return p

# a group's learning_rate is a ratio
w1, w2 = parameter([1.0]), parameter([1.0])
opt = paddle.optimizer.Adam(learning_rate=0.1, parameters=[{"params": [w1], "learning_rate": 0.5}, {"params": [w2]}])
(w1.sum() + w2.sum()).backward()
opt.step()
out["group_moves"] = [1.0 - float(w1.numpy()[0]), 1.0 - float(w2.numpy()[0])]
# clear_grad() leaves zeros
opt.clear_grad()
out["after_clear_grad"] = None if w1.grad is None else w1.grad.numpy().tolist()

# beta powers: running products in float32
w = parameter([1.0, 2.0])
opt = paddle.optimizer.Adam(learning_rate=0.01, beta1=0.9, beta2=0.999, parameters=[w])
for _ in range(7):
    (w * paddle.to_tensor(np.array([0.1, -0.2], dtype="float32"))).sum().backward()
    opt.step()
    opt.clear_grad()
state = opt.state_dict()
out["beta2_pow"] = float(state[w.name + "_beta2_pow_acc_0"].numpy()[0])
out["beta1_pow"] = float(state[w.name + "_beta1_pow_acc_0"].numpy()[0])

# 16-bit kernels
out["sixteen_bit"] = {}
for dtype in ("float16", "bfloat16"):
    for multi_precision in (False, True):
        p = parameter([1.0, 2.0], dtype)
        opt = paddle.optimizer.Adam(learning_rate=0.01, parameters=[p], multi_precision=multi_precision)
        (p.astype("float32") * paddle.to_tensor(np.array([0.1, -0.2], dtype="float32"))).sum().backward()
        try:
            opt.step()
            out["sixteen_bit"][f"{dtype} {multi_precision}"] = "ran"
        except Exception as error:
            out["sixteen_bit"][f"{dtype} {multi_precision}"] = f"{type(error).__name__}: {str(error).splitlines()[0]}"

# SelectedRows gradients
def sparse_step(cls, **kwargs):
    table = paddle.create_parameter([4, 2], dtype="float32", default_initializer=paddle.nn.initializer.Constant(1.0))
    opt = getattr(paddle.optimizer, cls)(learning_rate=0.1, parameters=[table], **kwargs)
    rows = paddle.to_tensor(np.array([2, 0], dtype="int64"))
    paddle.nn.functional.embedding(rows, table, sparse=True).sum().backward()
    try:
        opt.step()
        return "ran"
    except Exception as error:
        return f"{type(error).__name__}: {str(error).splitlines()[0]}"

out["sparse"] = {"Adam": sparse_step("Adam"), "Adam weight_decay": sparse_step("Adam", weight_decay=0.1)}
if ADAMW_SPARSE is not None:  # alone in its own process: it may abort the process
    print(json.dumps({"AdamW": sparse_step("AdamW", **ADAMW_SPARSE)}))
    raise SystemExit(0)

signature = lambda cls: inspect.signature(getattr(paddle.optimizer, cls)).parameters
out["defaults"] = {cls: {k: repr(v.default) for k, v in signature(cls).items()
                         if k in ("learning_rate", "beta1", "beta2", "epsilon", "weight_decay", "lazy_mode",
                                  "multi_precision", "amsgrad")} for cls in ("Adam", "AdamW")}
print(json.dumps(out))
'''


@pytest.fixture(scope="module")
def measured() -> dict:
    run = subprocess.run([sys.executable, "-c", "ADAMW_SPARSE = None\n" + _MEASURE], cwd=ROOT, capture_output=True,
                         text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_a_group_learning_rate_is_a_ratio_of_the_optimizers(measured):
    # Adam's first step moves by lr where sqrt(v_hat) >> eps: 0.1 * 0.5 and 0.1.
    moved, base = measured["group_moves"]
    assert moved == pytest.approx(0.05, rel=1e-5) and base == pytest.approx(0.1, rel=1e-5)


def test_clear_grad_leaves_zeros(measured):
    assert measured["after_clear_grad"] == [0.0]


def test_beta_powers_are_float32_running_products(measured):
    def running(beta: float, steps: int) -> float:
        b = x = np.float32(beta)
        for _ in range(steps):
            x = np.float32(x * b)
        return float(x)

    # filled with beta, multiplied once per step: beta^(t+1) after t steps, bit for bit
    assert measured["beta2_pow"] == running(0.999, 7) and measured["beta1_pow"] == running(0.9, 7)


def test_no_sixteen_bit_adam_kernel_on_the_cpu(measured):
    for key, outcome in measured["sixteen_bit"].items():
        assert outcome.startswith("RuntimeError") and "kernel `adam` is not registered" in outcome, (key, outcome)


def test_selected_rows_gradients(measured):
    sparse = measured["sparse"]
    assert sparse["Adam"] == "ran"
    assert "don't support weight_decay with sparse parameters" in sparse["Adam weight_decay"]



@pytest.mark.parametrize("options", [{"weight_decay": 0.0}, {"lazy_mode": True}], ids=["not-lazy", "lazy"])
def test_adamw_with_selected_rows_reads_a_garbage_dimension(options):
    """AdamW's SelectedRows step (catalogue: unreliable) never runs as Adam does: it raises
    OSError with a dimension that changes run by run, or aborts the process (std::bad_alloc,
    std::bad_array_new_length). Run alone in a process of its own, since it may abort it."""
    run = subprocess.run([sys.executable, "-c", f"ADAMW_SPARSE = {options!r}\n" + _MEASURE], cwd=ROOT,
                         capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    if run.returncode == 0:
        outcome = json.loads(run.stdout.strip().splitlines()[-1])["AdamW"]
        assert outcome.startswith("OSError") and "Invalid dimension to be accessed" in outcome, outcome
    else:
        assert "bad_alloc" in run.stderr or "bad_array_new_length" in run.stderr, run.stderr[-3000:]


def test_defaults(measured):
    adam, adamw = measured["defaults"]["Adam"], measured["defaults"]["AdamW"]
    common = {"learning_rate": "0.001", "beta1": "0.9", "beta2": "0.999", "epsilon": "1e-08", "lazy_mode": "False",
              "multi_precision": "False", "amsgrad": "False"}
    assert adam == {**common, "weight_decay": "None"}
    assert adamw == {**common, "weight_decay": "0.01"}
