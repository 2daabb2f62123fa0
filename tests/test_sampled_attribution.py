"""Attribution on a sample of the violating elements, each run narrowed to them
(harness/trajectory_comparison.py SAMPLE_PER_PARAMETER, harness/attribution.py
element_subcase), gives what attributing every element of the whole case gives: the same
status, rows, registry entries, worst ratio and element, and violation count. Checked on
every committed reproducer through every implementation its registry entries name, with
a sample of 4 elements a parameter and the narrowing forced, and on generated cases of
300-3000 elements whose gradients span eight decades (so that different mechanisms show
on different elements) with a sample of 16: thousands of violating elements each."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from harness import attribution, trajectory_comparison
from harness.casefile import Case, case_from_dict, load_case
from harness.engine import judge, record_implementation
from harness.registry import classify, load_registry
from harness.trajectory import shared_reference

ROOT = Path(__file__).resolve().parent.parent
REGISTRY = load_registry(ROOT / "cases" / "known_divergences.toml")
COMMITTED = sorted({(d.reproducer, name) for d in REGISTRY for name in d.implementations})
GENERATED_IMPLEMENTATIONS = ("mindspore", "mindspore-mint", "torch", "torch-differentiable")


def generated_case(seed: int) -> Case:
    rng = np.random.default_rng(seed)
    n, steps = int(rng.integers(300, 3000)), int(rng.integers(2, 12))
    dtype = str(rng.choice(["float32", "float32", "float16", "float64"]))
    hyperparameters: dict = {}
    if rng.random() < 0.4:
        hyperparameters["weight_decay"] = float(rng.choice([0.01, 0.1, 1.0]))
    if rng.random() < 0.3:
        hyperparameters["amsgrad"] = True
    if rng.random() < 0.3:
        hyperparameters["betas"] = [float(rng.choice([0.5, 0.9, 0.99])), float(rng.choice([0.9, 0.999, 0.99999]))]
    if rng.random() < 0.3:
        hyperparameters["eps"] = float(rng.choice([1e-3, 1e-6, 1e-12]))
    if rng.random() < 0.3:
        hyperparameters["lr"] = float(rng.choice([1e-1, 1e-2, 1e-4]))
    scale = 10.0 ** rng.uniform(-6, 2, size=n)
    return case_from_dict({
        "schema": "optim-parity/case/1", "dtype": dtype, "hyperparameters": hyperparameters,
        "params": [{"name": "w", "shape": [n], "value": rng.standard_normal(n).astype(dtype).tolist()}],
        "grads": [[(rng.standard_normal(n) * scale).astype(dtype).tolist()] for _ in range(steps)]})


def _verdict(name: str, case: Case, recording, sample: int, fraction: float, monkeypatch) -> tuple:
    with monkeypatch.context() as patch:
        patch.setattr(trajectory_comparison, "SAMPLE_PER_PARAMETER", sample)
        patch.setattr(attribution, "SUBCASE_FRACTION", fraction)
        attribution.forget_variant_runs()
        result, _ = judge(name, case, shared_reference(case), copy.deepcopy(recording))
    classify(result, case, REGISTRY)
    return (result.status, result.rows, result.divergence, result.worst_ratio,
            result.worst.key if result.worst else None, result.violation_count), len(result.violations)


def _check(name: str, case: Case, sample: int, monkeypatch) -> tuple[int, int]:
    recording = record_implementation(name, case)
    full, listed_full = _verdict(name, case, recording, 10**9, -1.0, monkeypatch)  # every element, the whole case
    sampled, listed = _verdict(name, case, recording, sample, 1.0, monkeypatch)  # a sample, narrowed
    assert sampled == full
    return listed_full, listed


@pytest.mark.parametrize("reproducer, implementation", COMMITTED, ids=[f"{Path(r).stem}-{n}" for r, n in COMMITTED])
def test_committed_reproducers_attribute_alike_on_a_sample(reproducer, implementation, monkeypatch):
    _check(implementation, load_case(ROOT / reproducer), 4, monkeypatch)


@pytest.mark.parametrize("seed", range(10))
def test_generated_cases_attribute_alike_on_a_sample(seed, monkeypatch):
    case = generated_case(seed)
    for name in GENERATED_IMPLEMENTATIONS:
        _check(name, case, 16, monkeypatch)


def test_the_generated_cases_sample_thousands_of_violations(monkeypatch):
    """What the generated set covers: several rows, low and high precision, and far
    more violating elements than the sample holds."""
    case = generated_case(4)
    recording = record_implementation("mindspore", case)
    verdict, listed = _verdict("mindspore", case, recording, 16, 1.0, monkeypatch)
    assert verdict[1] == ["amsgrad", "betas", "eps"] and verdict[5] > 5000 and listed <= 16 * 4 + 4 * 3


@pytest.mark.parametrize("reproducer, implementation", COMMITTED[::3], ids=[f"{Path(r).stem}-{n}" for r, n in COMMITTED[::3]])
def test_a_large_case_path_gives_the_same_verdict(reproducer, implementation, monkeypatch):
    """Every case taken as large (KEPT_WHOLE_MAX 0): the spec's run made by column blocks
    in the comparison (ColumnReference), the registry's conditions a step at a time,
    attribution on the sample. The same status, rows, registry entries, worst and count
    as the whole runs give, on every third committed reproducer x implementation pair."""
    from harness.engine import run_case

    case = load_case(ROOT / reproducer)

    def verdict():
        attribution.forget_variant_runs()
        result = run_case(case, ["reference", implementation]).results[1]
        classify(result, case, REGISTRY)
        return (result.status, result.rows, result.divergence, result.worst_ratio,
                result.worst.key if result.worst else None, result.violation_count)

    whole = verdict()
    with monkeypatch.context() as patch:
        patch.setattr(trajectory_comparison, "KEPT_WHOLE_MAX", 0)
        large = verdict()
    assert large == whole
