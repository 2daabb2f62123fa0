"""Comparison of one implementation's trajectory against a reference trajectory.

Reports one violation per (quantity, parameter, element): the first step at which
that element leaves tolerance. Errors are absolute differences; the tolerance rule
lives in harness/tolerance.py.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from harness.casefile import Case
from harness.trajectory import Trajectory
from harness.tolerance import (
    moment_scales,
    moment_tolerance,
    param_tolerance,
    coupled_tolerances,
    rtol_per_step,
)
from reference.adam import lr_at

MOMENTS = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")


def decoupled_decay(case: Case, name: str) -> bool:
    return bool(case.hp("decoupled_weight_decay")) and case.weight_decay_for(name) != 0.0


def effective_weight_decay(case: Case, name: str) -> float:
    """The weight decay that enters the gradient (g_eff = g + wd * w): none when it is
    decoupled (w *= 1 - lr * wd; the moments see the raw gradient and a parameter error
    does not feed back into them)."""
    return 0.0 if case.hp("decoupled_weight_decay") else case.weight_decay_for(name)


@dataclass
class Violation:
    quantity: str  # param | exp_avg | exp_avg_sq | max_exp_avg_sq | step
    param: str
    step: int  # 1-based
    index: int  # flat row-major element index
    expected: float
    actual: float
    error: float
    tolerance: float
    # Magnitude the error is relative to: the reference path length for "param",
    # the moment's EMA scale for moments.
    reference_scale: float = 0.0
    rows: list[str] = field(default_factory=list)
    joint: bool = False  # True: the rows explain it only together (pair attribution)
    divergence: str | None = None  # registry id when the violation is known

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.quantity, self.param, self.index)

    @property
    def ratio(self) -> float:
        return _ratio(self.error, self.tolerance)

    @property
    def relative_error(self) -> float:
        return _ratio(self.error, self.reference_scale)

    def to_json(self) -> dict:
        out = asdict(self)
        out["relative_error"] = self.relative_error
        return {k: (v if not isinstance(v, float) or np.isfinite(v) else str(v)) for k, v in out.items()}


def _ratio(error: float, tolerance: float) -> float:
    if error == 0.0:
        return 0.0
    return float("inf") if tolerance == 0.0 else error / tolerance


def elementwise_error(expected: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """|actual - expected|; identical non-finite values (NaN and NaN, inf and inf) agree."""
    with np.errstate(invalid="ignore", over="ignore"):
        error = np.abs(actual - expected)
    same = (np.isnan(expected) & np.isnan(actual)) | (np.isinf(expected) & (expected == actual))
    error[same] = 0.0
    error[np.isnan(error)] = np.inf
    return error


@dataclass
class Comparison:
    violations: list[Violation]
    # Largest error/tolerance over everything compared (0 when identical).
    worst_ratio: float
    worst: Violation | None  # the element and step where worst_ratio occurs
    probed: dict[tuple, float] = field(default_factory=dict)
    # error/tolerance of the worst element (`worst`) at every step (the report plots it).
    worst_series: np.ndarray | None = None


def compare(case: Case, reference: Trajectory, actual: Trajectory,
            probe: dict[tuple, int] | None = None) -> Comparison:
    """Compare `actual` with `reference` step by step.

    probe: {(quantity, param, index): step} -> Comparison.probed holds, per key, the
    largest error/tolerance of that element up to and including that step (attribution
    uses it to rank explanations).
    """
    dtype = case.dtype  # the name: bfloat16 is held in float32 but rounds like itself
    beta1, beta2 = case.hp("betas")
    steps = min(reference.completed_steps, actual.completed_steps)
    rtol = rtol_per_step(steps, dtype, beta1, beta2)
    violations: list[Violation] = []
    worst: Violation | None = None
    worst_ratio = 0.0
    probed: dict[tuple, float] = {}
    worst_series: np.ndarray | None = None
    for spec_index, spec in enumerate(case.params):
        ref = reference.data[spec.name]
        act = actual.data[spec.name]
        grads = np.stack([step[spec_index] for step in case.grads[:steps]]).astype(np.float64)
        weight_decay = effective_weight_decay(case, spec.name)
        params_before = ref["param"][:steps]
        first_scale, second_scale = moment_scales(grads, params_before, weight_decay, beta1, beta2)
        path_length = np.cumsum(np.abs(np.diff(ref["param"][: steps + 1], axis=0)), axis=0)
        second_moment_name = "max_exp_avg_sq" if "max_exp_avg_sq" in ref else "exp_avg_sq"
        lrs = np.array([lr_at(case.lr_for(spec.name), t) for t in range(1, steps + 1)])
        base = (param_tolerance(ref["param"][: steps + 1], dtype, rtol,
                                roundings_per_step=3 if decoupled_decay(case, spec.name) else 1),
                moment_tolerance(first_scale, dtype, rtol), moment_tolerance(second_scale, dtype, rtol))
        param_tol, first_tol, second_tol = coupled_tolerances(
            *base,
            grads=grads, params_before=params_before, weight_decay=weight_decay, lrs=lrs,
            beta1=beta1, beta2=beta2, eps=case.hp("eps"),
            exp_avg=ref["exp_avg"][1 : steps + 1], second_moment=ref[second_moment_name][1 : steps + 1],
        )
        # Where the reference went non-finite (an infinite v, a NaN moment), the
        # first-order propagation terms are inf/inf: fall back to the element's own
        # tolerance there rather than to none at all.
        param_tol, first_tol, second_tol = (np.where(np.isnan(coupled), own, coupled)
                                            for coupled, own in zip((param_tol, first_tol, second_tol), base))
        tolerances = {
            "param": (param_tol, path_length),
            "exp_avg": (first_tol, first_scale),
            "exp_avg_sq": (second_tol, second_scale),
            # max_t v_t: each v_i inside its tolerance puts the running max inside the
            # running max of those tolerances (|max a - max b| <= max |a_i - b_i|); its
            # scale is the largest v so far, not the current one.
            "max_exp_avg_sq": (np.maximum.accumulate(second_tol, axis=0), np.maximum.accumulate(second_scale, axis=0)),
        }
        for quantity, (tolerance, scale) in tolerances.items():
            if quantity not in ref or quantity not in act:
                continue
            expected = ref[quantity][1 : steps + 1]
            got = act[quantity][1 : steps + 1]
            error = elementwise_error(expected, got)
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(error == 0.0, 0.0, error / tolerance)
            # A reference gone non-finite has a non-finite tolerance after it: an error
            # there (finite against NaN, NaN against Inf) is infinitely out, never hidden.
            ratio[np.isnan(ratio)] = np.inf
            if ratio.size:
                flat = int(np.argmax(ratio))
                t, i = divmod(flat, ratio.shape[1])
                if ratio[t, i] > worst_ratio or worst is None and ratio[t, i] > 0:
                    worst_ratio = float(ratio[t, i])
                    worst = Violation(quantity, spec.name, t + 1, i, float(expected[t, i]), float(got[t, i]),
                                      float(error[t, i]), float(tolerance[t, i]), float(scale[t, i]))
                    worst_series = ratio[:, i].copy()
            for (p_quantity, p_name, p_index), p_step in (probe or {}).items():
                if p_quantity == quantity and p_name == spec.name and p_index < ratio.shape[1]:
                    probed[(p_quantity, p_name, p_index)] = float(np.max(ratio[: max(p_step, 1), p_index]))
            failing = ratio > 1.0
            for i in np.flatnonzero(failing.any(axis=0)):
                t = int(np.argmax(failing[:, i]))
                violations.append(Violation(quantity, spec.name, t + 1, int(i), float(expected[t, i]),
                                            float(got[t, i]), float(error[t, i]), float(tolerance[t, i]),
                                            float(scale[t, i])))
        if "step" in ref and "step" in act:
            ref_steps = ref["step"][1 : steps + 1]
            act_steps = act["step"][1 : steps + 1]
            mismatch = np.flatnonzero(ref_steps != act_steps)
            for (p_quantity, p_name, _), p_step in (probe or {}).items():
                if p_quantity == "step" and p_name == spec.name:  # a count agrees or it does not
                    agrees = not np.any(mismatch < max(p_step, 1))
                    probed[("step", p_name, 0)] = 0.0 if agrees else float("inf")
            if mismatch.size:
                t = int(mismatch[0])
                violations.append(Violation("step", spec.name, t + 1, 0, float(ref_steps[t]), float(act_steps[t]),
                                            float(abs(act_steps[t] - ref_steps[t])), 0.0))
                worst_ratio, worst, worst_series = float("inf"), violations[-1], None
    return Comparison(violations, worst_ratio, worst, probed, worst_series)
