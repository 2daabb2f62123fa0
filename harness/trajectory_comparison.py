"""Comparison of one implementation's trajectory against a reference trajectory.

Reports one violation per (quantity, parameter, element): the first step at which
that element leaves tolerance. Errors are absolute differences; the tolerance rule
lives in harness/tolerance.py.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from harness.casefile import Case
from harness.nonfinite import to_json
from harness.row_sparse import touched_elements
from harness.narrowing import narrowable, narrowed_case
from harness.trajectory import Trajectory, reference_trajectory, shared_reference
from harness.tolerance import (
    moment_scales,
    moment_tolerance,
    param_tolerance,
    coupled_tolerances,
    reference_path_length,
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
        return {k: to_json(v) if isinstance(v, float) else v for k, v in out.items()}


def _ratio(error: float, tolerance: float) -> float:
    if error == 0.0:
        return 0.0
    return float("inf") if tolerance == 0.0 else error / tolerance


def elementwise_error(expected: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """|actual - expected|; identical non-finite values (NaN and NaN, inf and inf) agree."""
    with np.errstate(invalid="ignore", over="ignore"):
        error = np.abs(actual - expected)
    if np.isfinite(error).all():  # both sides finite everywhere: nothing to match up (one pass, not five)
        return error
    same = (np.isnan(expected) & np.isnan(actual)) | (np.isinf(expected) & (expected == actual))
    error[same] = 0.0
    error[np.isnan(error)] = np.inf
    return error


def error_ratio(error: np.ndarray, tolerance: np.ndarray) -> np.ndarray:
    """error / tolerance: 0 where the error is 0 (whatever the tolerance), inf where the
    tolerance is 0 under an error, inf where either is NaN or the division overflows.

    A zero tolerance gives inf, a non-finite one NaN (both handled below), a subnormal
    one under a large error overflows to inf: infinitely out, as it is. A reference gone
    non-finite has a non-finite tolerance after it: an error there (finite against NaN,
    NaN against Inf) is infinitely out, never hidden. The division alone is that wherever
    it gives no NaN (0 / t is 0 for every t > 0 and inf; a NaN comes from 0 / 0, 0 / NaN,
    x / NaN or inf / inf): the fix-ups run only where one occurred."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = error / tolerance
    nan = np.isnan(ratio)
    if nan.any():
        ratio[nan & (error == 0.0)] = 0.0
        ratio[np.isnan(ratio)] = np.inf
    return ratio


@dataclass
class Comparison:
    violations: list[Violation]
    # Largest error/tolerance over everything compared (0 when identical).
    worst_ratio: float
    worst: Violation | None  # the element and step where worst_ratio occurs
    probed: dict[tuple, float] = field(default_factory=dict)
    # error/tolerance of the worst element (`worst`) at every step (the report plots it).
    worst_series: np.ndarray | None = None
    # Every violating (quantity, parameter, element) and step count; `violations` holds
    # those of a sample of the elements when there are many (compare's `sample`).
    violation_count: int = 0


def _identical(reference: Trajectory, actual: Trajectory) -> bool:
    """Same steps, same parameters, same quantities, same values (NaN matching NaN, as
    elementwise_error counts it)."""
    if reference is actual:
        return True
    return (reference.completed_steps == actual.completed_steps and reference.data.keys() == actual.data.keys()
            and all(reference.data[name].keys() == actual.data[name].keys()
                    and all(_equal_rows(values, actual.data[name][quantity], equal_nan=quantity != "step")
                            for quantity, values in reference.data[name].items())
                    for name in reference.data))


def _equal_rows(a: np.ndarray, b: np.ndarray, equal_nan: bool) -> bool:
    """np.array_equal(a, b, equal_nan=...); on a large trajectory step by step: it stops
    at the first step that differs (almost always the first compared), and holds one
    step's temporaries, not the whole trajectory's (1.6 GB at 1e6 elements x 100 steps).
    A small one at once (a call per step of a 50-step case cost more than its comparison)."""
    if a.shape != b.shape:
        return False
    if a.size <= BLOCK_ELEMENT_STEPS or a.ndim < 2:
        return np.array_equal(a, b, equal_nan=equal_nan)
    return all(np.array_equal(row_a, row_b, equal_nan=equal_nan) for row_a, row_b in zip(a, b))


def _compared(reference: Trajectory, key: tuple) -> bool:
    """Whether compare() reports a probe for `key` (an element of a compared quantity)."""
    quantity, name, index = key
    values = reference.data.get(name, {}).get(quantity)
    if quantity == "step":  # a step count is probed as agreeing (0) or not (inf)
        return values is not None and index == 0
    return quantity in MOMENTS + ("param",) and values is not None and index < values.shape[1]


def probe_maxima(ratio: np.ndarray, probes: list[tuple[tuple, int]]) -> dict[tuple, float]:
    """{key: max(ratio[:max(step, 1), key[2]])} for each (key, step) of a non-empty ratio
    [T, n]: read off one running maximum over steps (max is exact, so these are the
    prefix maxima np.max gives, bit for bit), one pass for all probes of a quantity."""
    running = np.maximum.accumulate(ratio, axis=0)
    return {key: float(running[min(max(step, 1), ratio.shape[0]) - 1, key[2]]) for key, step in probes}


def lazy_updates(case: Case, index: int, steps: int) -> np.ndarray | None:
    """[steps, n]: which elements of parameter `index` the spec's lazy step updates (the
    rows each step's row-sparse gradient lists); None when every step updates every
    element (dense gradients, or use_lazy off)."""
    if not (case.sparse_rows and case.hp("use_lazy")):
        return None
    updated = np.zeros((steps, case.params[index].value.size), dtype=bool)
    for t in range(steps):
        updated[t, touched_elements(case, t, index)] = True
    return updated


def state_updates(case: Case, index: int, reference: dict[str, np.ndarray], steps: int) -> np.ndarray | None:
    """[steps, n]: which elements of parameter `index` the reference's steps update: not
    the rows a lazy step leaves (lazy_updates), nor any at a step where the parameter has
    no gradient and the reference's own step count stands still (the spec skips a
    parameter without a gradient, its moments included; a variant that feeds it zeros
    counts the step and decays them; a variant whose step count never advances, the lost
    in-place update, still updates its moments at every step with a gradient).
    None when every step updates every element."""
    updated = lazy_updates(case, index, steps)
    counts = reference.get("step")
    if counts is not None and counts.shape[0] > steps and case.missing:
        with_gradient = np.array([case.has_gradient(t, index) for t in range(steps)])
        advanced = (np.diff(counts[: steps + 1]) != 0) | with_gradient
        if not advanced.all():
            held = np.broadcast_to(advanced[:, None], (steps, case.params[index].value.size))
            updated = held.copy() if updated is None else updated & held
    return updated


# The quantities that have a tolerance (tolerances_of), in the order they are compared.
TOLERATED = ("param", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")
# Element-steps compared at a time: a parameter is compared in blocks of columns whose
# [steps, columns] float64 arrays (tolerances, errors, ratios) stay near the cache; the
# whole [steps, n] at once was 2.3x slower at 1e6 elements (issue 20) and held every
# intermediate at full size. Every operation is per element (a column), so the blocks
# give the whole comparison's numbers bit for bit (tests/test_fast_paths.py).
BLOCK_ELEMENT_STEPS = 1 << 19
MIN_BLOCK_COLUMNS = 64  # however many steps (a 10000-step case: blocks of 64 columns)
# Up to this many element-steps in a case (every case of the suite) its spec run and
# tolerances are made whole once and shared by every implementation compared with it
# (16 implementations against one reference). A larger case with dense gradients has a
# ColumnReference: the spec's run and the tolerances are made one column block at a time
# in each comparison and never held whole (3 float64 quantities of a 1e6-element,
# 100-step case are 2.4 GB; its tolerances 8 more arrays of that size).
KEPT_WHOLE_MAX = 1 << 22
# Violating elements per parameter that are reported one by one (a Violation each) and
# attributed: all of them when this few, otherwise a deterministic sample (the first,
# the worst and a spread: sample_elements); the rest are counted (Comparison.violation_count).
SAMPLE_PER_PARAMETER = 128


@dataclass
class ColumnReference:
    """The spec's run of a case made one block of columns at a time where it is compared
    (compare), never whole: for a case over KEPT_WHOLE_MAX element-steps with dense
    gradients (spec_reference). Each block is the spec's run of the case narrowed to
    those columns (harness/narrowing.py), which is the whole run's columns bit for bit."""

    case: Case

    @property
    def completed_steps(self) -> int:
        return self.case.num_steps

    def block(self, spec_index: int, columns: slice, steps: int) -> tuple[Case, Trajectory]:
        """The narrowed case of parameter `spec_index`'s `columns` and its spec run of `steps` steps."""
        sub_case = narrowed_case(self.case, {self.case.params[spec_index].name: np.arange(columns.start, columns.stop)})
        return sub_case, reference_trajectory(sub_case, steps=steps)


def kept_whole(case: Case, steps: int | None = None) -> bool:
    """Whether the case's spec runs and tolerances over `steps` steps (default: all) are
    small enough to be made whole and shared (KEPT_WHOLE_MAX)."""
    return (case.num_steps if steps is None else steps) * sum(spec.value.size for spec in case.params) <= KEPT_WHOLE_MAX


def spec_reference(case: Case) -> Trajectory | ColumnReference:
    """What implementations of the case are compared with: the spec's run, shared
    (trajectory.shared_reference), or a ColumnReference for a large dense case."""
    if narrowable(case) and not kept_whole(case):
        return ColumnReference(case)
    return shared_reference(case)


def tolerances_of(case: Case, reference: Trajectory, steps: int) -> dict[str, dict[str, tuple]]:
    """Per parameter: quantity -> (tolerance, scale), each [steps, n], for steps 1..steps.

    They depend on the case and the reference alone, so every implementation compared
    with the same reference shares them: kept on the reference (Trajectory.cache), for
    that case object."""
    key = ("tolerances", steps)
    cached = reference.cache.get(key)
    if cached is not None and cached[0] is case:
        return cached[1]
    out = {spec.name: parameter_tolerances(case, reference, steps, spec_index)
           for spec_index, spec in enumerate(case.params)}
    reference.cache[key] = (case, out)
    return out


def parameter_tolerances(case: Case, reference: Trajectory, steps: int, spec_index: int,
                         columns: slice = slice(None), updated: np.ndarray | None | bool = False) -> dict[str, tuple]:
    """quantity -> (tolerance, scale) of parameter `spec_index`'s elements `columns`, each
    [steps, columns], for steps 1..steps. `updated`: its state_updates when already
    computed (False: compute them here)."""
    spec = case.params[spec_index]
    dtype = case.dtype  # the name: bfloat16 is held in float32 but rounds like itself
    beta1, beta2 = case.hp("betas")
    rtol = rtol_per_step(steps, dtype, beta1, beta2)
    ref = {quantity: values[:, columns] if values.ndim == 2 else values
           for quantity, values in reference.data[spec.name].items()}
    if updated is False:
        updated = state_updates(case, spec_index, reference.data[spec.name], steps)
    if updated is not None:
        updated = updated[:, columns]
    grads = np.stack([step[spec_index][columns] for step in case.grads[:steps]]).astype(np.float64)
    weight_decay = effective_weight_decay(case, spec.name)
    params_before = ref["param"][:steps]
    first_scale, second_scale = moment_scales(grads, params_before, weight_decay, beta1, beta2, updated)
    path_length = reference_path_length(ref["param"][: steps + 1])
    second_moment_name = "max_exp_avg_sq" if "max_exp_avg_sq" in ref else "exp_avg_sq"
    lrs = np.array([lr_at(case.lr_for(spec.name), t) for t in range(1, steps + 1)])
    base = (param_tolerance(ref["param"][: steps + 1], dtype, rtol,
                            roundings_per_step=3 if decoupled_decay(case, spec.name) else 1, path_length=path_length),
            moment_tolerance(first_scale, dtype, rtol), moment_tolerance(second_scale, dtype, rtol))
    param_tol, first_tol, second_tol = coupled_tolerances(
        *base,
        grads=grads, params_before=params_before, weight_decay=weight_decay, lrs=lrs,
        beta1=beta1, beta2=beta2, eps=case.hp("eps"), eps_root=case.hp("eps_root"),
        exp_avg=ref["exp_avg"][1 : steps + 1], second_moment=ref[second_moment_name][1 : steps + 1],
    )
    # Where the reference went non-finite (an infinite v, a NaN moment), the
    # first-order propagation terms are inf/inf: fall back to the element's own
    # tolerance there rather than to none at all.
    param_tol, first_tol, second_tol = (nan_where(coupled, own)
                                        for coupled, own in zip((param_tol, first_tol, second_tol), base))
    out = {"param": (param_tol, path_length), "exp_avg": (first_tol, first_scale),
           "exp_avg_sq": (second_tol, second_scale)}
    if "max_exp_avg_sq" in ref:  # amsgrad: the spec keeps it
        # max_t v_t: each v_i inside its tolerance puts the running max inside the
        # running max of those tolerances (|max a - max b| <= max |a_i - b_i|); its
        # scale is the largest v so far, not the current one.
        out["max_exp_avg_sq"] = (np.maximum.accumulate(second_tol, axis=0), np.maximum.accumulate(second_scale, axis=0))
    return out


def nan_where(coupled: np.ndarray, own: np.ndarray) -> np.ndarray:
    """np.where(np.isnan(coupled), own, coupled) (`coupled` itself where nothing is NaN:
    one pass, not three)."""
    nan = np.isnan(coupled)
    return np.where(nan, own, coupled) if nan.any() else coupled


def column_blocks(elements: int, steps: int) -> list[slice]:
    """The column blocks a parameter of `elements` is compared in over `steps` steps."""
    width = max(MIN_BLOCK_COLUMNS, BLOCK_ELEMENT_STEPS // max(steps, 1))
    return [slice(start, min(start + width, elements)) for start in range(0, elements, width)] or [slice(0, 0)]


@dataclass
class _Failing:
    """One quantity's violating elements of one parameter: each at its first step outside
    tolerance (0-based), with the values there; arrays in element order."""

    index: np.ndarray
    step: np.ndarray
    expected: np.ndarray
    actual: np.ndarray
    error: np.ndarray
    tolerance: np.ndarray
    scale: np.ndarray
    ratio: np.ndarray

    @classmethod
    def join(cls, parts: list[tuple]) -> "_Failing":
        if not parts:
            return cls(*(np.empty(0, dtype=np.intp),) * 2, *(np.empty(0),) * 6)
        return cls(*(np.concatenate(column) for column in zip(*parts)))


def sample_elements(failing: list[_Failing], worst_elements: list[int], limit: int) -> np.ndarray | None:
    """The violating elements of one parameter that are reported and attributed: all of
    them (None) when at most `limit`, otherwise (sorted, deterministic) per quantity the element
    that left first, the one furthest out at its first violation, the one with the largest
    error relative to its scale (what registry bounds are on), the worst over all steps
    (`worst_elements`), and the rest of `limit` spread evenly over the violating elements
    in index order (a row that explains only some elements still shows when they are not
    rare)."""
    if sum(f.index.size for f in failing) <= limit:
        return None  # at most `limit` violations, so at most `limit` elements
    everything = np.unique(np.concatenate([f.index for f in failing]))
    if everything.size <= limit:
        return None
    chosen = set(worst_elements)
    for f in failing:
        if f.index.size:
            with np.errstate(divide="ignore", invalid="ignore"):
                relative = np.where(f.error == 0.0, 0.0, f.error / f.scale)
            relative[np.isnan(relative)] = np.inf
            chosen.add(int(f.index[np.argmin(f.step)]))
            chosen.add(int(f.index[np.argmax(f.ratio)]))
            chosen.add(int(f.index[np.argmax(relative)]))
    spread = max(limit - len(chosen), 0)
    if spread:
        chosen.update(int(i) for i in everything[np.unique(np.linspace(0, everything.size - 1, spread).round()
                                                           .astype(np.intp))])
    return np.array(sorted(chosen), dtype=np.intp)


def compare(case: Case, reference: Trajectory | ColumnReference, actual: Trajectory,
            probe: dict[tuple, int] | None = None, sample: int | None = None) -> Comparison:
    """Compare `actual` with `reference` step by step, each parameter in column blocks
    (a ColumnReference makes the spec's run of each block there).

    probe: {(quantity, param, index): step} -> Comparison.probed holds, per key, the
    largest error/tolerance of that element up to and including that step (attribution
    uses it to rank explanations).
    sample: violating elements per parameter reported one by one (default
    SAMPLE_PER_PARAMETER; sample_elements); every violation is counted.
    """
    by_columns = isinstance(reference, ColumnReference)
    if reference is actual or not by_columns and _identical(reference, actual):
        # Every error is 0, so every ratio is 0 whatever the tolerance: the answer the
        # full comparison gives, without computing tolerances (the reference's own row).
        return Comparison([], 0.0, None, {key: 0.0 for key in (probe or {}) if _compared(actual, key)})
    limit = SAMPLE_PER_PARAMETER if sample is None else sample
    steps = min(reference.completed_steps, actual.completed_steps)
    violations: list[Violation] = []
    count = 0
    worst: Violation | None = None
    worst_ratio = 0.0
    probed: dict[tuple, float] = {}
    worst_series: np.ndarray | None = None
    probes_of: dict[tuple, list] = {}
    for key, p_step in (probe or {}).items():
        probes_of.setdefault((key[1], key[0]), []).append((key, p_step))
    shared = not by_columns and kept_whole(case, steps)
    for spec_index, spec in enumerate(case.params):
        act = actual.data[spec.name]
        elements = act["param"].shape[1]
        if by_columns:  # the quantities the spec keeps: those of its first block
            ref = reference.block(spec_index, slice(0, 1), steps)[1].data[spec.name]
        else:
            ref = reference.data[spec.name]
        quantities = [q for q in TOLERATED if q in ref and q in act]
        updated = None if shared or by_columns or not quantities else state_updates(case, spec_index, ref, steps)
        # Per quantity: its largest ratio so far (ratio, step, element, the element's
        # series, the Violation's values) and its violating elements, block by block.
        best: dict[str, tuple] = {}
        failing: dict[str, list] = {q: [] for q in quantities}
        for columns in column_blocks(elements, steps) if quantities else []:
            # The spec's values and tolerances of the block's columns.
            if by_columns:
                sub_case, sub_reference = reference.block(spec_index, columns, steps)
                block = sub_reference.data[spec.name]
                tolerances = parameter_tolerances(sub_case, sub_reference, steps, spec_index)
            else:
                block = {q: values[:, columns] if q != "step" else values for q, values in ref.items()}
                tolerances = ({q: (tol[:, columns], scale[:, columns])
                               for q, (tol, scale) in tolerances_of(case, reference, steps)[spec.name].items()}
                              if shared else parameter_tolerances(case, reference, steps, spec_index, columns, updated))
            for quantity in quantities:
                tolerance, scale = tolerances[quantity]
                expected = block[quantity][1 : steps + 1]
                got = act[quantity][1 : steps + 1, columns]
                error = elementwise_error(expected, got)
                ratio = error_ratio(error, tolerance)
                if not ratio.size:
                    continue
                # The whole array's argmax is the first largest in (step, element) order.
                t, i = divmod(int(np.argmax(ratio)), ratio.shape[1])
                held = best.get(quantity)
                if held is None or ratio[t, i] > held[0] or (ratio[t, i] == held[0] and t < held[1]):
                    best[quantity] = (ratio[t, i], t, columns.start + i, ratio[:, i].copy(),
                                      (float(expected[t, i]), float(got[t, i]), float(error[t, i]),
                                       float(tolerance[t, i]), float(scale[t, i])))
                probes = probes_of.get((spec.name, quantity))
                if probes:
                    local = [((key[0], key[1], key[2] - columns.start), p_step) for key, p_step in probes
                             if columns.start <= key[2] < columns.start + ratio.shape[1]]
                    if local:
                        probed.update({(q, name, index + columns.start): value for (q, name, index), value
                                       in probe_maxima(ratio, local).items()})
                out = ratio > 1.0
                cols = np.flatnonzero(out.any(axis=0))
                if cols.size:
                    first = np.argmax(out[:, cols], axis=0)  # per element: its first step outside
                    failing[quantity].append((cols + columns.start, first, expected[first, cols], got[first, cols],
                                              error[first, cols], tolerance[first, cols], scale[first, cols],
                                              ratio[first, cols]))
        for quantity in quantities:
            held = best.get(quantity)
            if held is not None and (held[0] > worst_ratio or worst is None and held[0] > 0):
                value, t, i, series, numbers = held
                worst_ratio = float(value)
                worst = Violation(quantity, spec.name, t + 1, i, *numbers)
                worst_series = series
        joined = {q: _Failing.join(parts) for q, parts in failing.items()}
        count += sum(f.index.size for f in joined.values())
        reported = sample_elements(list(joined.values()),
                                   [held[2] for held in best.values() if held[0] > 1.0], limit)
        for quantity, f in joined.items():
            for k in range(f.index.size) if reported is None else np.flatnonzero(np.isin(f.index, reported)):
                violations.append(Violation(quantity, spec.name, int(f.step[k]) + 1, int(f.index[k]),
                                            float(f.expected[k]), float(f.actual[k]), float(f.error[k]),
                                            float(f.tolerance[k]), float(f.scale[k])))
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
                count += 1
                worst_ratio, worst, worst_series = float("inf"), violations[-1], None
    return Comparison(violations, worst_ratio, worst, probed, worst_series, count)
