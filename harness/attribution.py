"""Attribution: which row of the difference table explains a violation.

For every row that has reference variants (harness/rows.py), the reference is re-run
with that variant switched and the implementation is compared again. A variant
explains a violation (quantity, parameter, element) when under it that element stays
inside tolerance up to the step where it first left it; the explanation's quality is
the largest error/tolerance it leaves there (0 = exact). A right mechanism typically
leaves almost nothing; a coincidence lands just inside. An explanation is judged per
element: one that brings more of the element's violating quantities inside beats one
that fits a single number (see `_better`). So when the best single-row explanation is
not clearly inside (ratio above CONFIDENT) or leaves some of its element outside,
variants of 2, 3, 4 rows switched together are tried as well (a violation explained
by several rows carries all of them and `joint`). What nothing explains is
"unexplained".
"""

from __future__ import annotations

import hashlib
from itertools import combinations

import numpy as np

import dataclasses

from harness.casefile import Case
from harness.narrowing import narrowable, narrowed_case, narrowed_trajectory
from harness.trajectory_comparison import Violation, compare
from harness.rows import COMBINABLE_SWITCHES, ROWS, UNEXPLAINED, variant_models, variant_models_implementation
from harness.tolerance import unit_roundoff
from harness.trajectory import Trajectory, prefix, reference_trajectory, shared_reference

# Largest number of rows tried together (C(7, 4) = 35 reference runs at most per size).
MAX_JOINT_ROWS = 4
# An explanation leaving less than this fraction of the tolerance is taken without
# looking for a better one among combinations.
CONFIDENT = 0.5
# A variant that pushes another quantity of the element beyond this many tolerances
# (and beyond twice its base ratio) is no explanation for that element.
GROSS = 100.0
# A combination of more rows replaces an explanation only below this fraction of its ratio.
IMPROVEMENT = 0.5
# Attribution runs on the violating elements alone (element_subcase) when they are at
# most this fraction of a case's elements: every variant run is then as small as the
# sample of violations (harness/trajectory_comparison.py SAMPLE_PER_PARAMETER), not as
# large as the case (a 1e6-element case, ~100 variant runs of up to every step each).
SUBCASE_FRACTION = 0.5


def candidate_variants(framework: str | None = None,
                       implementation: str | None = None) -> list[tuple[tuple[str, ...], dict]]:
    """Every row's variants; with a framework, those that model its code (rows.SWITCH_FRAMEWORKS),
    and with an implementation, not those that model another's only (rows.SWITCH_IMPLEMENTATIONS)."""
    return [((row.id,), dict(variant)) for row in ROWS for variant in row.variants
            if (framework is None or variant_models(variant, framework))
            and (implementation is None or variant_models_implementation(variant, implementation))]


def _relevant(case: Case, variant: dict) -> bool:
    """Whether a variant can change anything for this case (cheap, from the case alone)."""
    decays = [case.weight_decay_for(p.name) > 0 for p in case.params]
    if "weight_decay_exempt_substrings" in variant:
        parts = variant["weight_decay_exempt_substrings"]
        return any(d and any(part in p.name for part in parts) for d, p in zip(decays, case.params))
    if "weight_decay_mode" in variant:
        return any(decays)
    if "moments_dtype" in variant or "denominator_dtype" in variant:
        # Rounding before use differs from rounding after the step by less than float32
        # tolerance; it matters where the dtype underflows or overflows (float16) or is
        # coarser than the tolerance's 8 roundings assume.
        return unit_roundoff(case.dtype) > unit_roundoff("float32")
    if "missing_gradient" in variant:
        return bool(case.missing)
    if "row_sparse" in variant or variant.get("betas_precision") == "float32_direct":
        # Row-sparse mechanisms, and the float32 betas of MindSpore's in-graph sparse paths.
        return bool(case.sparse_rows)
    if "amsgrad_max_keeps_on_nan" in variant:
        # A NaN v comes from a NaN or infinite gradient, or from g * g overflowing.
        grads = np.concatenate([np.asarray(g, dtype=np.float64).reshape(-1) for step in case.grads for g in step])
        return case.hp("amsgrad") and bool(np.any(~np.isfinite(grads)) or np.any(np.abs(grads) > 1e18))
    if "hyperparameters_float32" in variant:
        # Rounding lr, eps, weight decay to float32 is below float32 tolerance by
        # construction; only a wider dtype can show it.
        return np.finfo(case.np_dtype).bits > 32
    return True


def _combinable_within_rows(combination) -> bool:
    """Whether variants sharing a row may combine: every pair of one row has a variant
    made of input-mechanism switches only (rows.COMBINABLE_SWITCHES)."""
    for (rows_a, a), (rows_b, b) in combinations(combination, 2):
        if set(rows_a) & set(rows_b) and not (set(a) <= COMBINABLE_SWITCHES or set(b) <= COMBINABLE_SWITCHES):
            return False
    return True


def _same(a: Trajectory, b: Trajectory) -> bool:
    return all(
        a.data[name].keys() == b.data[name].keys()
        and all(np.array_equal(a.data[name][q], b.data[name][q], equal_nan=True) for q in a.data[name])
        for name in a.data
    )


def _ratios(case: Case, variant_reference: Trajectory, actual: Trajectory,
            first_steps: dict[tuple, int]) -> dict[tuple, float]:
    """Per violation key: the largest error/tolerance under the variant up to the step
    where the element first left tolerance (inf when the variant lacks the quantity,
    e.g. amsgrad toggled off has no max_exp_avg_sq)."""
    probed = compare(case, variant_reference, actual, probe=first_steps).probed
    return {key: probed.get(key, float("inf")) for key in first_steps}


def _digest(trajectory: Trajectory) -> bytes:
    """A digest of a trajectory's values bit for bit (names, quantities, dtypes, shapes, bytes)."""
    digest = hashlib.blake2b(digest_size=16)
    for name, quantities in trajectory.data.items():
        for quantity, values in quantities.items():
            digest.update(f"{name}\0{quantity}\0{values.dtype.str}{values.shape}\0".encode())
            digest.update(np.ascontiguousarray(values).data)
    return digest.digest()


def _element_probe(actual: Trajectory, violations: list[Violation]) -> dict[tuple, int]:
    """Every quantity of every violating element, probed up to the element's first violation."""
    first_by_element: dict[tuple, int] = {}
    for v in violations:
        element = (v.param, v.index)
        first_by_element[element] = min(first_by_element.get(element, v.step), v.step)
    probe = {v.key: v.step for v in violations}
    for (name, index), step in first_by_element.items():
        for quantity in actual.data[name]:
            if quantity != "step":
                probe.setdefault((quantity, name, index), step)
    return probe


def explanation_size(rows: tuple[str, ...], storage_in_every_run: bool, mechanisms: int | None = None) -> int:
    """How many mechanisms an explanation takes: its variants (one per row, or two of
    one row where one is an input mechanism, rows.COMBINABLE_SWITCHES), plus params
    where every run stores its state in the case dtype (float16 / bfloat16; see `_better`)."""
    return (len(rows) if mechanisms is None else mechanisms) + int(storage_in_every_run and "params" not in rows)


def _better(coverage: np.ndarray, ratio: np.ndarray, size: int,
            held_coverage: np.ndarray, held_ratio: np.ndarray, held_size: np.ndarray) -> np.ndarray:
    """Per violation: whether a new explanation (its coverage, ratio and size) should
    replace the one held (where one is held; elementwise over the violations).

    A mechanism explains an element, not one number of it: the variant that brings more
    of the element's violating quantities (param, exp_avg, exp_avg_sq, ...) inside wins.
    A coincidence fits one number at one step (Nesterov at beta1 = 1e-3 changes the
    first update by 0.1%, about what float32 betas do) and leaves the rest outside.
    At equal coverage more rows must earn their place: a combination never replaces a
    confident smaller explanation (what is left is rounding noise that a near-no-op row
    can shave) and otherwise only when it halves what is left.

    In float16 / bfloat16 every run stores its state in the dtype, which is the params
    row's mechanism (`explanation_size`): a variant of another row is then in effect
    params plus that row, and is weighed as such. (Thorough-profile finding: torch's
    fused float16 Adam ran away by 1 a step on a v stored as 0; the plain stored run
    explained it to 0.05 of tolerance, and beta1 as torch's lerp weight, which only
    matches the lerp's rounding, took it with 0.0 and found no entry.)
    """
    with np.errstate(invalid="ignore"):  # a NaN ratio compares False
        return np.where(coverage != held_coverage, coverage > held_coverage,
                        np.where(size > held_size, (held_ratio > CONFIDENT) & (ratio < held_ratio * IMPROVEMENT),
                                 ratio < held_ratio))


# The reference runs attribution makes depend on the case and the variant alone, so the
# implementations of one case share them (run_case attributes them one after another; the
# torch implementations of a case mostly violate alike): kept for the latest case object,
# per variant the longest run made, with the tolerances each one's comparisons computed
# (Trajectory.cache).
_variant_runs: tuple[Case | None, dict[str, Trajectory]] = (None, {})


def forget_variant_runs() -> None:
    """Drop the kept variant runs (the bench times a case's attribution from scratch)."""
    global _variant_runs
    _variant_runs = (None, {})


def variant_run(case: Case, variant: dict, steps: int | None = None, shared: bool = True) -> Trajectory:
    """The reference stepped through `case` (its first `steps` steps when given) with
    `variant`, its state stored in the case dtype as the implementation stores it (the
    same deterministic recording each call would make; made once per case object and
    variant, a shorter request served by a prefix of a longer run). `shared`: the case's
    own spec run may be the one the engine shares (trajectory.shared_reference); not for
    a case made here (element_subcase), which must not displace the engine's."""
    global _variant_runs
    owner, runs = _variant_runs
    if owner is not case:
        runs = {}
        _variant_runs = (case, runs)
    steps = case.num_steps if steps is None else min(steps, case.num_steps)
    key = repr(sorted(variant.items()))
    held = runs.get((key, steps)) or runs.get(key)
    if held is None or held.completed_steps < steps:
        if not variant and case.dtype == "float64":
            # Storing in float64 keeps every value the spec computes (adapters/reference.py
            # _stored): the stored run is the spec's own run, already made for the case.
            held = runs[key] = shared_reference(case) if shared else reference_trajectory(case)
        else:
            held = runs[key] = reference_trajectory(case, {**variant, "stored_in_case_dtype": True}, steps)
    if held.completed_steps > steps:
        held = runs[(key, steps)] = prefix(held, steps)
    return held


def steps_probed(probe: dict[tuple, int]) -> int:
    """How many steps of a variant run attribution reads: the comparison it makes is
    causal (a step's tolerance, error and running maximum depend on that step and the
    ones before it: harness/tolerance.py), and every probe stops at the element's first
    violation, so a run beyond the last probed step changes no ratio it ranks. (A
    violation at step 3 of a 10000-step run: 3 steps per variant, not 10000.)"""
    return max(max(probe.values(), default=1), 1)


def attribute(case: Case, actual: Trajectory, violations: list[Violation], framework: str | None = None,
              implementation: str | None = None) -> list[str]:
    """Fill `rows` and `joint` of every violation; return the sorted union of rows.

    `framework` (the implementation's: torch, mindspore) limits the variants to the
    mechanisms of its code, `implementation` further to those not specific to another
    implementation; None tries them all.

    A variant is disqualified for an element when it makes any quantity of that element
    grossly worse than the plain reference does (beyond GROSS times its tolerance and
    twice the base ratio): decoupled weight decay can land a parameter inside tolerance
    by coincidence while throwing its second moment off by 10^5, and is then no
    mechanism. Small side effects are allowed, because a variant may bundle a whole
    story (float32 betas fix torch's exp_avg and add MindSpore's 1.3e-5 to exp_avg_sq).
    """
    if not violations:
        return []
    smaller = element_subcase(case, actual, violations)
    if smaller is not None:
        sub_case, sub_actual, sub_violations = smaller
        union = attribute_elements(sub_case, sub_actual, sub_violations, framework, implementation, shared=False)
        for violation, attributed in zip(violations, sub_violations):
            violation.rows, violation.joint = attributed.rows, attributed.joint
        return union
    return attribute_elements(case, actual, violations, framework, implementation)


def element_subcase(case: Case, actual: Trajectory,
                    violations: list[Violation]) -> tuple[Case, Trajectory, list[Violation]] | None:
    """The case and the implementation's trajectory narrowed to the violating elements
    (each parameter a 1-d vector of them; one element where a parameter has none), with
    the violations renumbered: the spec is elementwise for dense gradients, so each
    element's runs, tolerances and ratios are the full case's (tests/test_attribution.py
    compares the two; harness/narrowing.py). None where that does not hold or gains nothing: row-sparse
    gradients (a lazy step acts on rows), or violating elements beyond SUBCASE_FRACTION."""
    if not narrowable(case):
        return None
    chosen = {spec.name: sorted({v.index for v in violations if v.param == spec.name and v.quantity != "step"})
              or [0] for spec in case.params}
    if sum(map(len, chosen.values())) > SUBCASE_FRACTION * sum(spec.value.size for spec in case.params):
        return None
    columns = {name: np.array(indices, dtype=np.intp) for name, indices in chosen.items()}
    position = {name: {index: k for k, index in enumerate(indices)} for name, indices in chosen.items()}
    sub_violations = [dataclasses.replace(v, index=v.index if v.quantity == "step" else position[v.param][v.index],
                                          rows=[]) for v in violations]
    return narrowed_case(case, columns), narrowed_trajectory(case, actual, columns), sub_violations


def attribute_elements(case: Case, actual: Trajectory, violations: list[Violation], framework: str | None = None,
                       implementation: str | None = None, shared: bool = True) -> list[str]:
    """attribute() on the case as given (`shared`: variant_run's)."""
    # Every reference run here stores its state in the case dtype, as the implementation
    # does: a right mechanism then matches to far below the ulp-sized floor of the
    # tolerance, and float32 storage noise (a parameter at 5e3 moved by 0.5 ulp a step)
    # cannot make a coincidental extra row look better than the mechanism.
    probe = _element_probe(actual, violations)
    steps = steps_probed(probe)

    def run(variant: dict) -> Trajectory:
        return variant_run(case, variant, steps, shared)

    base = run({})
    low_precision = unit_roundoff(case.dtype) > unit_roundoff("float32")
    # Every probed key, its element, and the violation keys among them, as arrays: the
    # explanations are weighed for all violations of a variant at once (a 4096-element
    # MindSpore case has ~6000 violations and ~100 variants to weigh).
    probe_keys = list(probe)
    position = {key: p for p, key in enumerate(probe_keys)}
    element_ids: dict[tuple, int] = {}
    probe_element = np.array([element_ids.setdefault((key[1], key[2]), len(element_ids)) for key in probe_keys],
                             dtype=np.intp)
    keys = list(dict.fromkeys(v.key for v in violations))  # the violation keys, each once
    key_position = np.array([position[key] for key in keys], dtype=np.intp)
    key_element = probe_element[key_position]
    elements = len(element_ids)
    keys_per_element = np.bincount(key_element, minlength=elements)
    # Many variant runs are bit for bit another one (a switch this case does not exercise,
    # alone or in a combination: 58% of the comparisons of the bench's attributed cases),
    # and their ratios are a function of the run: each distinct run is compared once.
    compared: dict[bytes, tuple[Trajectory, np.ndarray]] = {}

    def ratios_of(variant_reference: Trajectory) -> np.ndarray:
        """Per probed key (probe_keys' order), the largest error/tolerance under the run."""
        key = _digest(variant_reference)
        held = compared.get(key)
        if held is None or not _same(held[0], variant_reference):
            ratios = _ratios(case, variant_reference, actual, probe)
            held = compared[key] = (variant_reference,
                                    np.fromiter((ratios[k] for k in probe_keys), dtype=np.float64, count=len(probe_keys)))
        return held[1]

    # Per probed key: beyond this ratio a variant makes the element grossly worse.
    gross = np.maximum(GROSS, 2.0 * ratios_of(base))
    # The best explanation so far, per violation key: whether there is one, its coverage,
    # ratio, size (explanation_size) and which (rows, joint) it is.
    held = np.zeros(len(keys), dtype=bool)
    held_coverage = np.zeros(len(keys), dtype=np.int64)
    held_ratio = np.zeros(len(keys))
    held_size = np.zeros(len(keys), dtype=np.int64)
    held_which = np.zeros(len(keys), dtype=np.intp)
    explanations: list[tuple[tuple[str, ...], bool]] = []

    def consider(rows: tuple[str, ...], variant_reference: Trajectory, joint: bool,
                 mechanisms: int | None = None) -> None:
        ratios = ratios_of(variant_reference)
        worsened = np.bincount(probe_element, weights=ratios > gross, minlength=elements) > 0
        key_ratios = ratios[key_position]
        inside = (key_ratios <= 1.0) & ~worsened[key_element]
        if not inside.any():
            return
        coverage = np.bincount(key_element, weights=inside, minlength=elements).astype(np.int64)[key_element]
        size = explanation_size(rows, low_precision, mechanisms)
        take = inside & (~held | _better(coverage, key_ratios, size, held_coverage, held_ratio, held_size))
        if take.any():
            explanations.append((rows, joint))
            held[take] = True
            held_coverage[take] = coverage[take]
            held_ratio[take] = key_ratios[take]
            held_size[take] = size
            held_which[take] = len(explanations) - 1

    def all_settled() -> bool:
        return bool(np.all(held & (held_ratio <= CONFIDENT) & (held_coverage == keys_per_element[key_element])))

    # In float16 / bfloat16 holding the state in the case dtype is itself a mechanism
    # (float16 underflows (1 - beta2) * g^2 below |g| = 5.5e-3 and overflows it above
    # 8.1e3): the base run, which stores its state so, explains for the params row (the
    # parameters' dtype is the optimizer state's dtype). Implementations that also use
    # the rounded moments within the step are the params row's moments_dtype variant.
    if low_precision:
        consider(("params",), base, joint=False)
    # Every relevant variant takes part in combinations, even one that alone changes
    # nothing (float32 betas do nothing while g + wd * w cancels exactly, and matter as
    # soon as another row's variant breaks the cancellation).
    candidates = [(rows, variant) for rows, variant in candidate_variants(framework, implementation)
                  if _relevant(case, variant)]
    # Input mechanisms (rows.COMBINABLE_SWITCHES) join a combination without counting
    # toward MAX_JOINT_ROWS: a missing gradient fed as zeros comes on top of however
    # many computing mechanisms the case already shows.
    inputs = sum(1 for _, variant in candidates if set(variant) <= COMBINABLE_SWITCHES)
    for rows, variant in candidates:
        variant_reference = run(variant)
        if not _same(variant_reference, base):
            consider(rows, variant_reference, joint=False)
    for size in range(2, min(MAX_JOINT_ROWS + inputs, len(candidates)) + 1):
        if all_settled():
            break
        for combination in combinations(candidates, size):
            if sum(1 for _, variant in combination if not set(variant) <= COMBINABLE_SWITCHES) > MAX_JOINT_ROWS:
                continue
            row_ids = tuple(sorted({row for rows, _ in combination for row in rows}))
            merged = [variant for _, variant in combination]
            if any(set(a) & set(b) for a, b in combinations(merged, 2)):
                continue  # two settings of one switch
            if len(row_ids) < size and not _combinable_within_rows(combination):
                continue  # two variants of one row: alternatives, unless one is an input mechanism
            consider(row_ids, run({k: v for variant in merged for k, v in variant.items()}), joint=True,
                     mechanisms=size)

    union: set[str] = set()
    index_of = {key: k for k, key in enumerate(keys)}
    for violation in violations:
        k = index_of[violation.key]
        if held[k]:
            rows, joint = explanations[held_which[k]]
            violation.rows, violation.joint = sorted(rows), joint
        else:
            violation.rows, violation.joint = [UNEXPLAINED], False
        union.update(violation.rows)
    return sorted(union)
