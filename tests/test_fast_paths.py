"""The harness's fast paths compute exactly what the plain versions compute (bit for
bit), so no verdict can change: tolerances without weight decay as one running sum and
running sums that add whole rows (harness/tolerance.py), tolerances shared by every
comparison against one reference, a trajectory compared with itself, attribution probes
read off a running maximum (harness/trajectory_comparison.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness import trajectory_comparison as compare_module
from harness import tolerance
from harness.bench import bench_cases
from harness.casefile import case_from_dict, case_to_dict, load_case
from harness.trajectory_comparison import compare, probe_maxima, tolerances_of
from harness.strategies import extreme_gradient_cases, torch_implementation_cases
from harness.sweep import draw_cases
from harness.trajectory import reference_trajectory

ROOT = Path(__file__).resolve().parent.parent
CASE_FILES = sorted((ROOT / "tests" / "data").glob("*.json")) + sorted((ROOT / "cases" / "reproducers").glob("*.json"))

# Groups with their own lr schedule and weight decay, amsgrad, loss scale, maximize.
GROUPED = case_from_dict({
    "schema": "optim-parity/case/1", "dtype": "float32",
    "hyperparameters": {"lr": [0.01, 0.02, 0.005], "weight_decay": 0.1, "amsgrad": True, "loss_scale": 4.0,
                        "maximize": True, "betas": [0.5, 0.9]},
    "params": [{"name": "w", "shape": [2], "value": [0.5, -1.0]},
               {"name": "layer.beta", "shape": [], "value": [2.0]},
               {"name": "gamma", "shape": [3], "value": [0.1, 0.2, -0.3]},
               {"name": "b", "shape": [1, 2], "value": [1.5, -2.5]}],
    "param_groups": [{"params": ["w", "layer.beta"], "lr": 0.03}, {"params": ["gamma"], "weight_decay": 0.0},
                     {"params": ["b"]}],
    "grads": [[[0.1, -0.2], [0.3], [0.01, -0.02, 0.03], [-0.5, 0.25]]] * 3,
})
# Wide enough (128 elements) for the row-wise running sum.
WIDE = case_from_dict({
    "schema": "optim-parity/case/1", "dtype": "float32", "hyperparameters": {"lr": 0.01},
    "params": [{"name": "w", "shape": [128],
                "value": [float(x) for x in np.random.default_rng(3).standard_normal(128).astype(np.float32)]}],
    "grads": [[[float(x) for x in np.random.default_rng(t).standard_normal(128).astype(np.float32) * 10.0 ** (t % 5)]]
              for t in range(12)],
})

_CASES: list = []


def _cases():
    """The committed cases, generated ones (float32/float64 defaults; non-finite and huge
    gradients; torch's options: decoupled weight decay, float16, bfloat16) and two
    hand-made ones."""
    if not _CASES:
        _CASES.extend([load_case(path) for path in CASE_FILES] + bench_cases(12, seed=1)
                      + draw_cases(extreme_gradient_cases(), 12, 2) + draw_cases(torch_implementation_cases(), 16, 3)
                      + [GROUPED, WIDE])
    return _CASES


def _differing(case):
    """An "implementation" that differs from the spec: eps before bias correction,
    stored in the case dtype, as attribution runs it."""
    return reference_trajectory(case, {"eps_placement": "before_bias_correction", "stored_in_case_dtype": True})


def _bits_equal(a, b) -> bool:
    return all(x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes() for x, y in zip(a, b))


def test_the_cases_cover_what_the_fast_paths_must_reproduce():
    dtypes = {case.dtype for case in _cases()}
    assert {"float16", "bfloat16", "float32", "float64"} <= dtypes
    assert any(not np.isfinite(np.concatenate([g.ravel() for step in case.grads for g in step])).all()
               for case in _cases())
    assert any(case.hp("decoupled_weight_decay") for case in _cases())


def test_tolerances_without_weight_decay_are_the_recursions_bit_for_bit(monkeypatch):
    real = tolerance.coupled_tolerances
    taken = []

    def both(*args, **kwargs):
        fast = real(*args, **kwargs)
        with monkeypatch.context() as patch:
            patch.setattr(tolerance, "_uncoupled_tolerances", lambda *a: None)
            patch.setattr(tolerance, "running_sum", lambda values: np.cumsum(values, axis=0))
            loop = real(*args, **kwargs)
        assert _bits_equal(fast, loop)
        taken.append(kwargs["weight_decay"] == 0.0)
        return fast

    monkeypatch.setattr(compare_module, "coupled_tolerances", both)
    for case in _cases():
        compare(case, reference_trajectory(case), _differing(case))
    assert sum(taken) >= 20 and not all(taken)  # the fast path and the loop, many times


def test_param_tolerance_is_the_plain_cumsums_bit_for_bit(monkeypatch):
    real = tolerance.param_tolerance
    checked = []

    def both(*args, **kwargs):
        fast = real(*args, **kwargs)
        with monkeypatch.context() as patch:
            patch.setattr(tolerance, "running_sum", lambda values: np.cumsum(values, axis=0))
            plain = real(*args, **kwargs)
        assert _bits_equal([fast], [plain])
        checked.append(args[0].shape[1] >= 64)
        return fast

    monkeypatch.setattr(compare_module, "param_tolerance", both)
    for case in _cases():
        compare(case, reference_trajectory(case), _differing(case))
    assert any(checked)  # the row-wise sum was taken


@pytest.mark.parametrize("poison", [np.inf, np.nan])
def test_non_finite_inputs_take_the_recursion(poison):
    rng = np.random.default_rng(0)
    shape = (6, 3)
    own = [np.abs(rng.standard_normal(shape)) for _ in range(3)]
    grads = rng.standard_normal(shape)
    grads[2, 1] = poison
    kwargs = dict(grads=grads, params_before=rng.standard_normal(shape), weight_decay=0.0, lrs=np.full(6, 1e-3),
                  beta1=0.9, beta2=0.999, eps=1e-8, exp_avg=rng.standard_normal(shape),
                  second_moment=np.abs(rng.standard_normal(shape)))
    magnitude = np.abs(grads)
    assert tolerance._uncoupled_tolerances(*own, magnitude, np.ones(shape), np.ones(shape)) is None
    fast = tolerance.coupled_tolerances(*own, **kwargs)
    loop = tolerance._coupled_recursion(*own, magnitude, *_gains(**kwargs), 0.0, 0.9, 0.999)
    assert _bits_equal(fast, loop)


def _gains(grads, params_before, weight_decay, lrs, beta1, beta2, eps, exp_avg, second_moment):
    t = np.arange(1, grads.shape[0] + 1, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        denom = np.sqrt(second_moment / (1.0 - beta2**t)[:, None]) + eps
        update = lrs[:, None] * np.abs(exp_avg) / (1.0 - beta1**t)[:, None] / denom
        first_gain = lrs[:, None] / (1.0 - beta1**t)[:, None] / denom
        second_gain = np.where(second_moment > 0, update / (2.0 * second_moment), 0.0)
    return np.nan_to_num(first_gain, nan=np.inf), np.nan_to_num(second_gain, nan=np.inf)


def _same_comparison(a, b) -> bool:
    series = (a.worst_series is None and b.worst_series is None) or (
        a.worst_series is not None and b.worst_series is not None and _bits_equal([a.worst_series], [b.worst_series]))
    return (a.violations, a.worst_ratio, a.worst, a.probed) == (b.violations, b.worst_ratio, b.worst, b.probed) \
        and series


def _probe(trajectory, steps):
    return {(quantity, name, index): step
            for name, quantities in trajectory.data.items() for quantity in list(quantities) + ["missing"]
            for index in (0, 1, 10**6) for step in steps}


def test_an_identical_trajectory_compares_as_the_full_comparison_does(monkeypatch):
    for case in _cases():
        reference = reference_trajectory(case)
        again = reference_trajectory(case)
        probe = _probe(reference, (1,))
        fast = compare(case, reference, again, probe=probe)
        with monkeypatch.context() as patch:
            patch.setattr(compare_module, "_identical", lambda a, b: False)
            full = compare(case, reference, again, probe=probe)
        assert _same_comparison(fast, full)
    # Not identical -> the full comparison.
    case = _cases()[0]
    changed = reference_trajectory(case)
    changed.data[case.params[0].name]["param"][-1, 0] += 1.0
    assert compare(case, reference_trajectory(case), changed).violations


def test_probes_read_the_prefix_maxima_np_max_gives():
    rng = np.random.default_rng(5)
    ratio = np.abs(rng.standard_normal((9, 4))) * 10.0 ** rng.integers(-3, 3, (9, 4))
    ratio[rng.random((9, 4)) < 0.2] = 0.0
    ratio[3, 1] = np.inf
    for step in range(-1, 12):
        probes = [(("param", "w", i), step) for i in range(4)]
        got = probe_maxima(ratio, probes)
        for key, _ in probes:
            assert got[key] == float(np.max(ratio[: max(step, 1), key[2]]))  # the expression compare() used


def test_tolerances_shared_by_comparisons_are_the_fresh_ones():
    """A comparison reading tolerances an earlier one computed (the reference's cache)
    gives what it gives on a fresh reference, probes included."""
    for case in _cases():
        shared = reference_trajectory(case)
        compare(case, shared, reference_trajectory(case, {"stored_in_case_dtype": True}))
        actual = _differing(case)
        probe = _probe(shared, (1, 2, case.num_steps + 1))
        assert _same_comparison(compare(case, shared, actual, probe=probe),
                                compare(case, reference_trajectory(case), actual, probe=probe))


def test_tolerances_are_computed_once_per_case_and_reference():
    case = GROUPED
    reference = reference_trajectory(case)
    first = tolerances_of(case, reference, case.num_steps)
    assert tolerances_of(case, reference, case.num_steps) is first
    other = case_from_dict(case_to_dict(case))
    assert tolerances_of(other, reference, case.num_steps) is not first  # another case object: recomputed
    assert tolerances_of(case, reference, case.num_steps - 1) is not first


@pytest.mark.parametrize("shape", [(1, 100), (2, 64), (300, 1024), (7, 3), (5,), (0, 80)])
def test_running_sum_is_cumsum_bit_for_bit(shape):
    values = np.random.default_rng(1).standard_normal(shape) * 10.0 ** np.random.default_rng(2).integers(-8, 8, shape)
    assert _bits_equal([tolerance.running_sum(values)], [np.cumsum(values, axis=0)])


def test_attribution_sharing_variant_runs_gives_the_rows_fresh_runs_give():
    """The variant runs (and their tolerances) one implementation's attribution made are
    reused for the next implementation of the same case object: the rows are those
    fresh runs give (a copy of the case is another object, so it runs everything anew)."""
    from harness import attribution
    from harness.attribution import attribute, candidate_variants

    # The params row's dtype, storage and input mechanisms (named: the rows' tables grow).
    wanted = [{"moments_dtype": "case dtype"}, {"moments_dtype": "case dtype", "gradient_square_dtype": "case dtype"},
              {"storage_dtype": None}, {"missing_gradient": "zero"}, {"parameter_update_lost": True}]
    variants = [dict(v, stored_in_case_dtype=True) for _, v in candidate_variants() if v in wanted]
    assert len(variants) == len(wanted)
    variants.append({"eps_placement": "before_bias_correction", "stored_in_case_dtype": True})
    reused = 0
    for case in [load_case(path) for path in CASE_FILES if "attribution" in path.name] + _cases()[-12:]:
        actuals = [reference_trajectory(case, variant) for variant in variants]
        fresh = []
        for actual in actuals:  # each on its own copy of the case: nothing shared
            fresh_case = case_from_dict(case_to_dict(case))
            violations = compare(fresh_case, reference_trajectory(fresh_case), actual).violations
            fresh.append((attribute(fresh_case, actual, violations), [(v.rows, v.joint) for v in violations]))
        reference = reference_trajectory(case)
        for actual, expected in zip(actuals, fresh):  # one after another on one case object
            warm = bool(attribution._variant_runs[0] is case and attribution._variant_runs[1])
            violations = compare(case, reference, actual).violations
            assert (attribute(case, actual, violations), [(v.rows, v.joint) for v in violations]) == expected
            reused += warm and bool(violations)
    assert reused >= 5


def test_attribution_on_variant_runs_cut_at_the_last_probed_step_gives_the_rows_full_runs_give(monkeypatch):
    """Attribution runs each variant only up to the last step it probes
    (attribution.steps_probed); the rows and their jointness are those full-length runs
    give, for violations early and late in the run, of several implementations of one
    case object in turn (shorter requests served from longer runs, and the reverse)."""
    from harness import attribution
    from harness.attribution import attribute

    variants = [{"eps_placement": "before_bias_correction", "stored_in_case_dtype": True},
                {"betas_precision": "float32", "stored_in_case_dtype": True},
                {"weight_decay_mode": "decoupled", "stored_in_case_dtype": True}]
    cut_short = 0
    for case in _cases():
        actuals = [reference_trajectory(case, variant) for variant in variants]
        full_rows, cut_rows = [], []
        for steps_probed, rows in ((lambda probe: None, full_rows), (attribution.steps_probed, cut_rows)):
            monkeypatch.setattr(attribution, "steps_probed", steps_probed)
            fresh_case = case_from_dict(case_to_dict(case))  # nothing shared between the two ways
            reference = reference_trajectory(fresh_case)
            for actual in actuals:
                violations = compare(fresh_case, reference, actual).violations
                rows.append((attribute(fresh_case, actual, violations), [(v.rows, v.joint) for v in violations]))
                cut_short += bool(violations) and max(v.step for v in violations) < case.num_steps
        assert cut_rows == full_rows, case.comment
    assert cut_short >= 10


def test_attribution_comparing_each_distinct_variant_run_once_gives_the_rows_comparing_every_run_gives(monkeypatch):
    """attribute() compares a variant run that is bit for bit one it has compared already
    only once (its ratios are a function of the run); the rows and their jointness are
    those a comparison of every run gives."""
    import itertools

    from harness import attribution
    from harness.attribution import attribute

    variants = [{"eps_placement": "before_bias_correction", "stored_in_case_dtype": True},
                {"betas_precision": "float32", "stored_in_case_dtype": True},
                {"eps_placement": "before_bias_correction", "betas_precision": "float32", "stored_in_case_dtype": True},
                {"weight_decay_mode": "decoupled", "stored_in_case_dtype": True}]
    real_digest, real_ratios = attribution._digest, attribution._ratios
    fresh_digests = itertools.count()
    mode = "distinct"
    compared = {"every": 0, "distinct": 0}

    def digest(trajectory):  # "every": no two runs alike, so every run is compared
        return real_digest(trajectory) if mode == "distinct" else next(fresh_digests)

    def ratios(*args):
        compared[mode] += 1
        return real_ratios(*args)

    monkeypatch.setattr(attribution, "_digest", digest)
    monkeypatch.setattr(attribution, "_ratios", ratios)
    for case in _cases():
        actuals = [reference_trajectory(case, variant) for variant in variants]
        outcomes = {}
        for mode in ("every", "distinct"):
            fresh_case = case_from_dict(case_to_dict(case))  # nothing shared between the two ways
            reference = reference_trajectory(fresh_case)
            outcomes[mode] = []
            for actual in actuals:
                violations = compare(fresh_case, reference, actual).violations
                outcomes[mode].append((attribute(fresh_case, actual, violations, "mindspore"),
                                       [(v.rows, v.joint) for v in violations]))
        assert outcomes["distinct"] == outcomes["every"], case.comment
    assert compared["distinct"] < 0.8 * compared["every"], compared


def test_a_declared_failure_runs_until_the_framework_has_made_it_once_and_a_stale_claim_runs_every_time(monkeypatch):
    """recording.record_in_process: a case its catalogue record declares unsupported is run;
    once the framework has failed on one case of a declared kind (the reason without its
    numbers), later cases of that kind are `unsupported` without running. A declaration
    the framework does not bear out (it runs the case) is never memoised: every case runs
    and says so. A case without counterpart is built and stepped once per kind, for the
    framework's own error, and never compared."""
    from harness import engine, recording
    from harness.adapters.reference import ReferenceAdapter
    from harness.catalogue import NO_COUNTERPART, UNSUPPORTED, Outside

    built = {"failing": 0, "stale": 0, "no-counterpart": 0}

    class Failing(ReferenceAdapter):
        name = "test-failing"

        def __init__(self, case):
            built["failing"] += 1
            super().__init__(case)

        def step(self, grads):
            raise RuntimeError("past the end")

    class Stale(Failing):
        name = "test-stale"

        def __init__(self, case):
            built["stale"] += 1
            ReferenceAdapter.__init__(self, case)

        step = ReferenceAdapter.step

    class NoCounterpart(Failing):
        name = "test-no-counterpart"

        def __init__(self, case):
            built["no-counterpart"] += 1
            ReferenceAdapter.__init__(self, case)

    def declared(name, case):
        kind = NO_COUNTERPART if name == "test-no-counterpart" else UNSUPPORTED
        return Outside(kind, f"a schedule of {case.num_steps} steps")

    monkeypatch.setattr(recording, "load_adapter", lambda name: {"test-failing": Failing, "test-stale": Stale,
                                                                 "test-no-counterpart": NoCounterpart}[name])
    monkeypatch.setattr(recording, "outside", declared)
    monkeypatch.setattr(recording, "_confirmed_declarations", {})
    cases = bench_cases(6)
    for case in cases:
        failing, _ = engine.run_implementation("test-failing", case, reference_trajectory(case))
        stale, _ = engine.run_implementation("test-stale", case, reference_trajectory(case))
        absent, trajectory = engine.run_implementation("test-no-counterpart", case, reference_trajectory(case))
        assert failing.status == engine.UNSUPPORTED and failing.message.startswith("a schedule of")
        assert "RuntimeError: past the end" in failing.message  # the framework's error, measured once
        assert stale.status == engine.PASS and "declared unsupported" in stale.message
        assert absent.status == engine.NO_COUNTERPART and trajectory is None
        assert absent.message.startswith("no counterpart: a schedule of") and "past the end" in absent.message
    kinds = {recording.declaration_kind(declared("test-failing", case).reason) for case in cases}
    assert kinds == {"a schedule of # steps"}
    assert built == {"failing": 1, "stale": len(cases), "no-counterpart": 1}


def test_the_stored_run_of_a_float64_case_is_the_spec_run_bit_for_bit():
    """variant_run(case, {}) of a float64 case is the shared spec run (storing in float64
    keeps every value): what a fresh stored run gives, every quantity, every step."""
    from harness.attribution import forget_variant_runs, variant_run

    float64 = [case for case in _cases() if case.dtype == "float64"]
    assert len(float64) >= 5
    for case in float64:
        forget_variant_runs()
        stored = reference_trajectory(case, {"stored_in_case_dtype": True})
        for steps in (None, 1):
            shortcut = variant_run(case, {}, steps)
            expected = stored if steps is None else reference_trajectory(case, {"stored_in_case_dtype": True}, steps)
            assert shortcut.completed_steps == expected.completed_steps
            assert shortcut.data.keys() == expected.data.keys()
            for name, quantities in expected.data.items():
                assert quantities.keys() == shortcut.data[name].keys()
                assert all(_bits_equal([shortcut.data[name][q]], [quantities[q]]) for q in quantities)


def test_the_reference_history_records_what_a_snapshot_after_every_step_records():
    """ReferenceHistory against SnapshotHistory over the adapter's snapshot(), with every
    row variant (amsgrad toggled adds or drops max_exp_avg_sq), stored in the case dtype,
    on generated and committed cases: missing gradients, row-sparse lazy steps with
    repeated rows, lr lists, groups, float16/bfloat16, non-finite gradients."""
    import functools
    import sys

    sys.path.insert(0, str(ROOT / "tests"))
    from history_checks import history_matches_snapshots

    from harness.adapters.reference import ReferenceAdapter
    from harness.attribution import candidate_variants
    from harness.strategies import lr_schedule_cases, missing_gradient_cases, sparse_cases

    cases = (_cases() + draw_cases(missing_gradient_cases(), 6, 6) + draw_cases(lr_schedule_cases(), 4, 7)
             + draw_cases(sparse_cases(), 12, 8))
    variants = [{}, {"stored_in_case_dtype": True}] + [v for _, v in candidate_variants()]
    compared = 0
    for index, case in enumerate(cases):
        # every case plain and stored; each variant on a share of the cases (time)
        chosen = variants[:2] + variants[2 + index % (len(variants) - 2)::7]
        for variant in chosen:
            assert history_matches_snapshots(functools.partial(ReferenceAdapter, variant=variant), case)
            compared += 1
    assert compared >= 3 * len(cases)


def _better_key_by_key(new, held, storage_in_every_run):
    """attribution._better for one violation, as it was written before it was vectorised;
    an explanation is (coverage, ratio, rows, joint)."""
    from harness.attribution import CONFIDENT, IMPROVEMENT, explanation_size

    if new[0] != held[0]:
        return new[0] > held[0]
    if explanation_size(new[2], storage_in_every_run) > explanation_size(held[2], storage_in_every_run):
        return held[1] > CONFIDENT and new[1] < held[1] * IMPROVEMENT
    return new[1] < held[1]


def _attribute_key_by_key(case, actual, violations, framework=None):
    """attribution.attribute as it was written before its weighing was vectorised: one
    explanation per violation key, replaced one key at a time (_better_key_by_key).
    The oracle of the test below (same runs, same ratios, same order of candidates)."""
    from collections import defaultdict
    from itertools import combinations

    from harness import attribution as a

    probe = a._element_probe(actual, violations)
    steps = a.steps_probed(probe)
    base = a.variant_run(case, {}, steps)
    low_precision = a.unit_roundoff(case.dtype) > a.unit_roundoff("float32")
    first_steps = {v.key: v.step for v in violations}
    element_keys = defaultdict(list)
    for key in first_steps:
        element_keys[(key[1], key[2])].append(key)
    base_ratios = a._ratios(case, base, actual, probe)
    best = {}

    def consider(rows, variant_reference, joint):
        ratios = a._ratios(case, variant_reference, actual, probe)
        worsened = {(name, index) for (q, name, index), ratio in ratios.items()
                    if ratio > max(a.GROSS, 2.0 * base_ratios[(q, name, index)])}
        inside = {key for key in first_steps if ratios[key] <= 1.0 and (key[1], key[2]) not in worsened}
        for key in inside:
            candidate = (sum(k in inside for k in element_keys[(key[1], key[2])]), ratios[key], rows, joint)
            if key not in best or _better_key_by_key(candidate, best[key], low_precision):
                best[key] = candidate

    def settled(key):
        held = best.get(key)
        return held is not None and held[1] <= a.CONFIDENT and held[0] == len(element_keys[(key[1], key[2])])

    if low_precision:
        consider(("params",), base, joint=False)
    candidates = [(rows, v) for rows, v in a.candidate_variants(framework) if a._relevant(case, v)]
    for rows, variant in candidates:
        variant_reference = a.variant_run(case, variant, steps)
        if not a._same(variant_reference, base):
            consider(rows, variant_reference, joint=False)
    for size in range(2, min(a.MAX_JOINT_ROWS, len(candidates)) + 1):
        if all(settled(key) for key in first_steps):
            break
        for combination in combinations(candidates, size):
            row_ids = tuple(sorted({row for rows, _ in combination for row in rows}))
            merged = [v for _, v in combination]
            if len(row_ids) < size or any(set(x) & set(y) for x, y in combinations(merged, 2)):
                continue
            consider(row_ids, a.variant_run(case, {k: v for m in merged for k, v in m.items()}, steps), joint=True)
    return [(v.key, sorted(best[v.key][2]), best[v.key][3]) if v.key in best else (v.key, [a.UNEXPLAINED], False)
            for v in violations]


def test_attribution_weighing_every_violation_at_once_gives_the_key_by_key_rows():
    """attribute() weighs a variant's explanations for all violations at once (arrays
    over the probed keys); every violation gets the rows and jointness the key-by-key
    rule gives, in float32/float64 and low precision, with and without a
    framework's variants."""
    from harness.attribution import attribute

    variants = [{"eps_placement": "before_bias_correction", "stored_in_case_dtype": True},
                {"betas_precision": "float32", "stored_in_case_dtype": True},
                {"eps_placement": "before_bias_correction", "betas_precision": "float32", "stored_in_case_dtype": True},
                {"weight_decay_mode": "decoupled", "stored_in_case_dtype": True}]
    attributed = 0
    for case in _cases():
        for variant in variants:
            actual = reference_trajectory(case, variant)
            for framework in (None, "mindspore", "torch"):
                violations = compare(case, reference_trajectory(case), actual).violations
                expected = _attribute_key_by_key(case, actual, violations, framework)
                attribute(case, actual, violations, framework)
                assert [(v.key, v.rows, v.joint) for v in violations] == expected, (case.comment, variant, framework)
                attributed += bool(violations)
    assert attributed >= 100


def test_column_blocks_and_unshared_tolerances_give_the_whole_comparison_bit_for_bit(monkeypatch):
    """compare() in blocks of columns (3 wide here), with tolerances computed per block
    instead of shared, is the one-block comparison with shared tolerances: the same
    violations, worst, probes and series."""
    for case in _cases():
        reference, differing = reference_trajectory(case), _differing(case)
        probe = _probe(reference, (1, case.num_steps))
        whole = compare(case, reference, differing, probe=probe)
        with monkeypatch.context() as patch:
            patch.setattr(compare_module, "BLOCK_ELEMENT_STEPS", 1)
            patch.setattr(compare_module, "MIN_BLOCK_COLUMNS", 3)
            patch.setattr(compare_module, "KEPT_WHOLE_MAX", 0)
            blocked = compare(case, reference_trajectory(case), differing, probe=probe)
        assert _same_comparison(whole, blocked) and whole.violation_count == blocked.violation_count


def test_the_sample_is_every_violation_when_few_and_bounded_when_many():
    case = WIDE
    reference, differing = reference_trajectory(case), reference_trajectory(case)
    state = differing.data["w"]
    state["param"][1:] *= 1.0 + 1e-3 * np.arange(128) / 128  # every element out, by more further along
    state["exp_avg"][5:, ::3] *= 1.01  # every third, from step 5
    full = compare(case, reference, differing, sample=10**9)
    elements = {v.index for v in full.violations}
    assert len(elements) > 8 and full.violation_count == len(full.violations)
    sampled = compare(case, reference, differing, sample=8)
    kept = {v.index for v in sampled.violations}
    assert len(kept) <= 8 + 4 * 3 + 1 and kept < elements  # the limit, plus the first / worst picks
    assert sampled.violation_count == full.violation_count
    assert sampled.violations == [v for v in full.violations if v.index in kept]
    assert (sampled.worst_ratio, sampled.worst) == (full.worst_ratio, full.worst)
    first = min(full.violations, key=lambda v: (v.step, v.param, v.index))
    assert first in sampled.violations


def test_a_column_reference_compares_as_the_whole_reference_bit_for_bit(monkeypatch):
    """A large case's spec run made one column block at a time (ColumnReference: each
    block the run of the case narrowed to its columns) gives the comparison with the
    whole run: the same violations, worst, probes and series, on every dense case here
    (blocks of 3 columns)."""
    compared = 0
    for case in _cases():
        if case.sparse_rows:
            continue
        differing = _differing(case)
        probe = _probe(differing, (1, case.num_steps))
        whole = compare(case, reference_trajectory(case), differing, probe=probe)
        with monkeypatch.context() as patch:
            patch.setattr(compare_module, "BLOCK_ELEMENT_STEPS", 1)
            patch.setattr(compare_module, "MIN_BLOCK_COLUMNS", 3)
            by_columns = compare(case, compare_module.ColumnReference(case), differing, probe=probe)
        assert _same_comparison(whole, by_columns) and whole.violation_count == by_columns.violation_count
        compared += 1
    assert compared > 40


def test_only_a_large_dense_case_gets_a_column_reference(monkeypatch):
    case = WIDE  # 128 elements x 12 steps
    assert not isinstance(compare_module.spec_reference(case), compare_module.ColumnReference)
    monkeypatch.setattr(compare_module, "KEPT_WHOLE_MAX", 128 * 12 - 1)
    assert isinstance(compare_module.spec_reference(case), compare_module.ColumnReference)
