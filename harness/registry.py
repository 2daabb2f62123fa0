"""The strict registry of known divergences (cases/known_divergences.toml).

An entry says: implementation X diverges from the spec under row R when condition C
holds, by mechanism M (with its source), with measured bound B, reproduced by case
file P. A violation is "known" only when an entry for its implementation predicts
the case (C holds) and attribution named the entry's row for that violation.
Every entry's reproducer must keep violating (cases/test_known_divergences.py), so
an upstream fix is noticed.

Conditions (`when`, all must hold):
    always = true
    dtype_in = ["float32", ...]
    nondefault = ["loss_scale", ...]   every listed hyperparameter differs from its default
    default = ["use_lazy", ...]        every listed hyperparameter is at its default
    weight_decay_applied = true        some parameter has weight decay > 0 (the case's or its group's)
    param_name_matches = "regex"       some parameter with weight decay > 0 has a matching name
    eps_over_gradient_above_roundoffs = x
                                       eps / sqrt(1 - beta2) > x * u * |g + weight_decay * w| for
                                       some element and step (w along the reference; u the unit
                                       roundoff of the case dtype, whose tolerance scales with it)
    beta1_below = x                    beta1 < x
    nonfinite_gradients = true         some gradient element is NaN or +-Inf
    gradient_above = x                 some finite |gradient| > x
    gradient_nonfinite_or_above = x    some gradient is NaN or +-Inf, or some |gradient| > x
    subnormal_values = true            some gradient, or some m, v of the reference run stored in
                                       the case dtype, is subnormal in the case dtype
    lr_zero = true                     some parameter's learning rate is 0 at some step
    repeated_sparse_rows = true        some step's row-sparse gradient lists a row more than once
    sparse_rows = true                 the gradients are row-sparse
    missing_gradients = true           some parameter has no gradient at some step (`null`)

Versions (optional `versions`, a table of package -> PEP 440 specifier, e.g.
`versions = { mindspore = ">=2.10" }`): the framework versions the entry holds for. Strict
both ways: inside the range the reproducer must reproduce; outside it the entry is not
applied, and its reproducer is judged like any other case (cases/test_known_divergences.py:
it must then conform, or the range is wrong).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from packaging.specifiers import InvalidSpecifier, SpecifierSet

from harness.attribution import variant_run
from harness.casefile import DEFAULT_HYPERPARAMETERS, Case
from harness.catalogue import IMPLEMENTATIONS, PACKAGES, extra_implementations, versions_match
from harness.trajectory_comparison import effective_weight_decay, kept_whole
from harness.rows import ROW_IDS
from harness.statuses import KNOWN, VIOLATION
from harness.tolerance import unit_roundoff
from harness.trajectory import shared_reference, spec_states
from harness.untrusted import (expect_bool, expect_list, expect_number, expect_str, expect_table, read_toml,
                               shown)
from reference.adam import lr_at
from reference.dtypes import STORAGE

DEFAULT_REGISTRY = Path(__file__).resolve().parent.parent / "cases" / "known_divergences.toml"
_ENTRY_KEYS = {"id", "row", "implementation", "when", "mechanism", "source", "bound", "max_relative_error",
               "reproducer"}
_OPTIONAL_KEYS = {"versions"}
# The packages an entry's `versions` may name.
VERSIONED_PACKAGES = PACKAGES


class RegistryError(ValueError):
    """A malformed registry; the message is one line."""


@dataclass(frozen=True)
class Divergence:
    id: str
    row: str
    # The implementation(s) the entry covers; the TOML key `implementation` takes one
    # name or a list (one mechanism shared by several implementations, e.g. the same
    # kernel under PyNative and GRAPH_MODE).
    implementations: tuple[str, ...]
    when: dict[str, Any]
    mechanism: str
    source: str
    bound: str  # the measured bound in words, with the numbers
    # Largest |error| / reference path length measured for this divergence; a known
    # violation beyond it is reported as a new divergence (it got worse).
    max_relative_error: float
    reproducer: str  # path relative to the repository root
    base_dir: Path = field(default=DEFAULT_REGISTRY.parent.parent, compare=False)
    # package -> PEP 440 specifier: the versions the entry holds for (empty: all).
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def applies(self) -> bool:
        """Whether the installed framework versions are inside the entry's range."""
        return versions_match(self.versions)

    @property
    def reproducer_path(self) -> Path:
        return self.base_dir / self.reproducer

    def covers(self, implementation: str) -> bool:
        return implementation in self.implementations

    def predicts(self, case: Case) -> bool:
        return all(_PREDICATES[name](self, case, arg) for name, arg in self.when.items())


def _eps_over_gradient_above_roundoffs(entry: Divergence, case: Case, roundoffs: Any) -> bool:
    """Some step's eps / sqrt(1 - beta2) exceeds `roundoffs` unit roundoffs of the case
    dtype times |g_eff| of an element, g_eff = g + weight_decay * w along the reference.
    (The eps placement changes an update by about that ratio; the tolerance is a multiple
    of the same unit roundoff, so one threshold serves float32 and float64.)"""
    threshold = float(roundoffs) * unit_roundoff(case.dtype)
    beta2 = case.hp("betas")[1]
    eps_first_step = case.hp("eps") / np.sqrt(1.0 - beta2)
    # The spec's parameters before each step: the shared run, or a large case's a step at a time.
    if kept_whole(case):
        reference = shared_reference(case)
        before = ({spec.name: reference.data[spec.name]["param"][t] for spec in case.params}
                  for t in range(case.num_steps))
    else:
        before = ({name: state["param"] for name, state in states.items()} for states in spec_states(case))
    for step, params in zip(case.grads, before):  # a step at a time: one step's temporaries
        for index, spec in enumerate(case.params):
            g_eff = np.abs(step[index].astype(np.float64) + effective_weight_decay(case, spec.name) * params[spec.name])
            with np.errstate(divide="ignore"):
                if np.any(eps_first_step / g_eff > threshold):
                    return True
    return False



def _gradients(case: Case):
    """Every gradient, one flat float64 array at a time (a 1e6-element, 100-step case's
    would be 800 MB at once, and each predicate's temporaries as much again)."""
    return (np.asarray(g, dtype=np.float64).reshape(-1) for step in case.grads for g in step)


def _has_nonfinite_gradient(case: Case) -> bool:
    return not all(np.all(np.isfinite(grads)) for grads in _gradients(case))


def _gradient_above(entry: Divergence, case: Case, bound: Any) -> bool:
    return any(np.any(np.abs(grads[np.isfinite(grads)]) > float(bound)) for grads in _gradients(case))


def _subnormal_values(entry: Divergence, case: Case, arg: Any) -> bool:
    tiny = np.finfo(case.np_dtype).tiny

    def subnormal(values) -> bool:
        magnitude = np.abs(np.asarray(values, dtype=np.float64))
        return bool(np.any((magnitude > 0) & (magnitude < tiny)))

    if any(subnormal(grads) for grads in _gradients(case)):
        return bool(arg)
    if kept_whole(case):
        stored = variant_run(case, {})  # stored in the case dtype; shared with attribution
        found = any(subnormal(stored.data[p.name][q]) for p in case.params for q in ("exp_avg", "exp_avg_sq"))
    else:  # the same run a step at a time, nothing kept (attribution runs on a sample of elements)
        found = any(subnormal(state[q]) for states in spec_states(case, {"stored_in_case_dtype": True})
                    for state in states.values() for q in ("exp_avg", "exp_avg_sq"))
    return found == bool(arg)


def _param_name_matches(entry: Divergence, case: Case, pattern: Any) -> bool:
    return any(re.search(pattern, p.name) and case.weight_decay_for(p.name) > 0 for p in case.params)


def _lr_zero(entry: Divergence, case: Case, arg: Any) -> bool:
    zero = any(lr_at(case.lr_for(p.name), t) == 0.0 for p in case.params for t in range(1, case.num_steps + 1))
    return zero == bool(arg)


_PREDICATES: dict[str, Callable[[Divergence, Case, Any], bool]] = {
    "always": lambda entry, case, arg: bool(arg),
    "dtype_in": lambda entry, case, arg: case.dtype in arg,
    "nondefault": lambda entry, case, arg: all(key in case.non_default_options() for key in arg),
    "default": lambda entry, case, arg: not any(key in case.non_default_options() for key in arg),
    "weight_decay_applied": lambda entry, case, arg: bool(arg) == any(
        case.weight_decay_for(p.name) > 0 for p in case.params),
    "param_name_matches": _param_name_matches,
    "eps_over_gradient_above_roundoffs": _eps_over_gradient_above_roundoffs,
    "beta1_below": lambda entry, case, arg: case.hp("betas")[0] < float(arg),
    "nonfinite_gradients": lambda entry, case, arg: bool(arg) == _has_nonfinite_gradient(case),
    "gradient_above": _gradient_above,
    "gradient_nonfinite_or_above": lambda entry, case, arg: (_has_nonfinite_gradient(case)
                                                             or _gradient_above(entry, case, arg)),
    "subnormal_values": _subnormal_values,
    "lr_zero": _lr_zero,
    "missing_gradients": lambda entry, case, arg: bool(arg) == bool(case.missing),
    "sparse_rows": lambda entry, case, arg: bool(arg) == bool(case.sparse_rows),
    "repeated_sparse_rows": lambda entry, case, arg: bool(arg) == any(
        len(set(rows)) < len(rows) for step in case.sparse_rows for rows in step),
}


def _names(of: Any) -> Callable[[Any, str], Any]:
    """A checker of a list of names from `of`."""
    return lambda value, where: expect_list(value, where, RegistryError, non_empty=True,
                                            item=lambda x, at: expect_str(x, at, RegistryError, choices=of))


def _regex(value: Any, where: str) -> str:
    expect_str(value, where, RegistryError)
    try:
        re.compile(value)
    except re.error as exc:
        raise RegistryError(f"{where}: not a regular expression ({exc})") from None
    return value


def _flag(value: Any, where: str) -> bool:
    return expect_bool(value, where, RegistryError)


def _threshold(value: Any, where: str) -> float:
    return expect_number(value, where, RegistryError, minimum=0.0)


# The argument each condition takes, checked when the registry is read (a predicate
# never sees a value of the wrong type).
_ARGUMENTS: dict[str, Callable[[Any, str], Any]] = {
    "always": _flag, "weight_decay_applied": _flag, "nonfinite_gradients": _flag, "subnormal_values": _flag,
    "lr_zero": _flag, "missing_gradients": _flag, "sparse_rows": _flag, "repeated_sparse_rows": _flag,
    "dtype_in": _names(sorted(STORAGE)), "nondefault": _names(sorted(DEFAULT_HYPERPARAMETERS)),
    "default": _names(sorted(DEFAULT_HYPERPARAMETERS)), "param_name_matches": _regex,
    "eps_over_gradient_above_roundoffs": _threshold, "beta1_below": _threshold, "gradient_above": _threshold,
    "gradient_nonfinite_or_above": _threshold,
}
assert set(_ARGUMENTS) == set(_PREDICATES)
_ID = re.compile(r"[a-z0-9][a-z0-9.-]*")


def load_registry(path: str | Path = DEFAULT_REGISTRY) -> list[Divergence]:
    """The registry at `path`, every field checked; RegistryError (one line) otherwise."""
    path = Path(path)
    raw = read_toml(path, RegistryError)
    expect_table(raw, str(path), RegistryError, optional={"divergence"})
    entries = expect_list(raw.get("divergence", []), f"{path}: divergence", RegistryError)
    known_implementations = sorted({*IMPLEMENTATIONS, *extra_implementations()} - {"reference"})
    out: list[Divergence] = []
    for i, entry in enumerate(entries):
        where = f"{path}: divergence #{i + 1}"
        expect_table(entry, where, RegistryError, required=_ENTRY_KEYS, optional=_OPTIONAL_KEYS)
        if not isinstance(entry["id"], str) or not _ID.fullmatch(entry["id"]):
            raise RegistryError(f"{where}.id: expected lower-case letters, digits, '.' and '-', got "
                                f"{shown(entry['id'])}")
        if any(d.id == entry["id"] for d in out):
            raise RegistryError(f"{where}: duplicate id {entry['id']!r}")
        expect_str(entry["row"], f"{where}.row", RegistryError, choices=ROW_IDS)
        implementations = entry["implementation"]
        implementations = [implementations] if isinstance(implementations, str) else implementations
        _names(known_implementations)(implementations, f"{where}.implementation")
        when = expect_table(entry["when"], f"{where}.when", RegistryError, optional=_PREDICATES)
        for name, argument in when.items():
            _ARGUMENTS[name](argument, f"{where}.when.{name}")
        for key in ("mechanism", "source", "bound"):
            expect_str(entry[key], f"{where}.{key}", RegistryError)
        bound = expect_number(entry["max_relative_error"], f"{where}.max_relative_error", RegistryError,
                              finite=False, minimum=0.0)
        reproducer = expect_str(entry["reproducer"], f"{where}.reproducer", RegistryError)
        if Path(reproducer).is_absolute() or ".." in Path(reproducer).parts or not reproducer.endswith(".json"):
            raise RegistryError(f"{where}.reproducer: expected a .json path inside the repository, relative to "
                                f"its root, got {shown(reproducer)}")
        out.append(Divergence(
            id=entry["id"], row=entry["row"], implementations=tuple(implementations), when=dict(when),
            mechanism=entry["mechanism"], source=entry["source"], bound=entry["bound"], max_relative_error=bound,
            reproducer=reproducer, base_dir=path.resolve().parent.parent,
            versions=_versions(entry.get("versions", {}), where)))
    return out


def _versions(raw: Any, where: str) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise RegistryError(f"{where}: versions must be a table of package = \"PEP 440 specifier\"")
    for package, specifier in raw.items():
        if package not in VERSIONED_PACKAGES:
            raise RegistryError(f"{where}: versions names {shown(package)}; known: {list(VERSIONED_PACKAGES)}")
        try:
            SpecifierSet(specifier if isinstance(specifier, str) else "!")
        except InvalidSpecifier:
            raise RegistryError(f"{where}: versions.{package} = {shown(specifier)} is not a PEP 440 specifier") from None
    return dict(raw)


def applicable(registry: list[Divergence]) -> list[Divergence]:
    """The entries that hold for the installed framework versions."""
    return [d for d in registry if d.applies]


def _within(violation: Any, bound: float) -> bool:
    """The bound is on parameters: |error| / reference path length. A moment that
    weight decay couples to a diverged parameter has no scale of its own to be bounded
    against (it follows the other implementation's w), so moments are not bounded."""
    # An unbounded entry takes any parameter error, a NaN one (the spec's path went NaN) included.
    return violation.quantity != "param" or bound == float("inf") or violation.relative_error <= bound


def classify(result: Any, case: Case, registry: list[Divergence]) -> None:
    """Mark the violations of one implementation result that the registry predicts.

    The result becomes "known" when every violation is predicted: an entry for the
    same implementation that holds for the installed versions, whose condition holds for the case, whose row attribution
    named, and whose measured bound the violation's relative error stays within.
    A violation that rows explain only jointly needs an entry for each of its rows
    and stays within the sum of their bounds.
    """
    if result.status != VIOLATION:
        return
    candidates = [d for d in applicable(registry) if d.covers(result.implementation) and d.row in result.rows]
    predicted = [d for d in candidates if d.predicts(case)]
    for violation in result.violations:
        by_row = [d for d in predicted if d.row in violation.rows]
        if violation.joint:
            # Several mechanisms together: every row needs a predicting entry, and the
            # combined error may reach the sum of their bounds (to first order the
            # mechanisms' errors add).
            covered = {d.row for d in by_row} == set(violation.rows)
            bound = sum(d.max_relative_error for d in by_row)
            matching = by_row if covered and _within(violation, bound) else []
        else:
            matching = [d for d in by_row if _within(violation, d.max_relative_error)]
        violation.divergence = ",".join(sorted({d.id for d in matching})) or None
    result.divergence = sorted({d for v in result.violations if v.divergence for d in v.divergence.split(",")})
    if all(v.divergence for v in result.violations):
        result.status = KNOWN
