"""Pairwise coverage of every implementation's case space (harness/catalogue.py).

A *pair* is two settings (factor = value class) of two different factors, e.g.
`amsgrad=true × dtype=float16`. A pair is *expressible* for an implementation when some
case with both settings is inside its space: no factor-level exclusion of its catalogue
record holds for some completion of the other factors (the finer conditions, such as
0-d parameters, can always be avoided by the case built). It is *covered* when a case
with both settings ran on the implementation (status pass, known or violation).

`covering_rows(name)` gives a few dozen complete assignments (one value class per
factor), each inside the space, that together cover every expressible pair: a greedy
covering array (AETG-style: each new row starts from the first uncovered pair and
takes, factor by factor, the value that covers most uncovered pairs with the factors
already set), deterministic. `harness.strategies.covering_case` builds a case from each;
`cases/test_option_pairs.py` runs them; `coverage` summarises what a run covered.
"""

from __future__ import annotations

import functools
import itertools
import json
from typing import Any, Iterable, Mapping

from harness.catalogue import FACTORS, Exclusion, lookup

Setting = tuple[str, Any]  # (factor, value class)
Pair = tuple[Setting, Setting]  # factors in FACTORS order

_ORDER = {factor: i for i, factor in enumerate(FACTORS)}
# Statuses under which a case exercised the implementation (it ran and was compared).
RAN = ("pass", "known", "violation")


def _factor_level(name: str) -> tuple[Exclusion, ...]:
    return tuple(e for e in lookup(name).applicable() if e.factor_level)


def _violates(exclusions: tuple[Exclusion, ...], assignment: Mapping[str, Any]) -> bool:
    """Some exclusion whose factors are all assigned holds."""
    return any(all(key in assignment for key in e.when) and e.matches(assignment) for e in exclusions)


@functools.lru_cache(maxsize=None)
def _completable(name: str, partial: tuple[Setting, ...]) -> bool:
    exclusions = _factor_level(name)
    assignment = dict(partial)
    if _violates(exclusions, assignment):
        return False
    free = [factor for factor in FACTORS if factor not in assignment]

    def extend(i: int) -> bool:
        if i == len(free):
            return True
        for value in FACTORS[free[i]]:
            assignment[free[i]] = value
            if not _violates(exclusions, assignment) and extend(i + 1):
                return True
        del assignment[free[i]]
        return False

    return extend(0)


def completable(name: str, partial: Mapping[str, Any]) -> bool:
    """Whether some complete assignment extending `partial` is inside the space."""
    return _completable(name, tuple(sorted(partial.items(), key=lambda kv: _ORDER[kv[0]])))


def expresses(name: str, factor: str, value: Any) -> bool:
    """Whether some case with `factor` = `value` is inside the implementation's space."""
    return completable(name, {factor: value})


def pairs_of(assignment: Mapping[str, Any]) -> set[Pair]:
    settings = sorted(((f, v) for f, v in assignment.items() if f in _ORDER), key=lambda s: _ORDER[s[0]])
    return set(itertools.combinations(settings, 2))


@functools.lru_cache(maxsize=None)
def expressible_pairs(name: str) -> frozenset[Pair]:
    out = set()
    for first, second in itertools.combinations(FACTORS, 2):
        for a in FACTORS[first]:
            for b in FACTORS[second]:
                if completable(name, {first: a, second: b}):
                    out.add(((first, a), (second, b)))
    return frozenset(out)


@functools.lru_cache(maxsize=None)
def covering_rows(name: str) -> tuple[dict[str, Any], ...]:
    """Complete assignments inside the space covering every expressible pair."""
    uncovered = set(expressible_pairs(name))
    rows: list[dict[str, Any]] = []
    while uncovered:
        (f1, v1), (f2, v2) = min(uncovered, key=_pair_key)
        row = {f1: v1, f2: v2}
        for factor in FACTORS:
            if factor in row:
                continue
            best, best_gain = None, -1
            for value in FACTORS[factor]:
                trial = {**row, factor: value}
                if not completable(name, trial):
                    continue
                gain = sum(1 for pair in pairs_of({factor: value, **{g: row[g] for g in row}})
                           if (factor, value) in pair and pair in uncovered)
                if gain > best_gain:
                    best, best_gain = value, gain
            row[factor] = best
        rows.append(row)
        uncovered -= pairs_of(row)
    return tuple(rows)


def _pair_key(pair: Pair) -> tuple:
    (f1, v1), (f2, v2) = pair
    return (_ORDER[f1], FACTORS[f1].index(v1), _ORDER[f2], FACTORS[f2].index(v2))


def setting_label(factor: str, value: Any) -> str:
    return f"{factor}={json.dumps(value) if isinstance(value, bool) else value}"


def pair_label(pair: Pair) -> str:
    return " × ".join(setting_label(*setting) for setting in pair)


def _from_json(features: Mapping[str, Any]) -> dict[str, Any]:
    return {f: v for f, v in features.items() if f in _ORDER}


def coverage(entries: Iterable[dict], implementations: Iterable[str]) -> dict[str, dict]:
    """Per implementation the catalogue knows: pairs expressible, pairs covered by the
    case entries (harness/collect.py) that ran on it, and the uncovered ones."""
    covered: dict[str, set[Pair]] = {}
    for entry in entries:
        if "features" not in entry:
            continue
        pairs = pairs_of(_from_json(entry["features"]))
        for impl in entry["implementations"]:
            if impl["status"] in RAN:
                covered.setdefault(impl["implementation"], set()).update(pairs)
    out = {}
    for name in implementations:
        try:
            expressible = expressible_pairs(name)
        except KeyError:  # a test-only implementation
            continue
        missing = sorted(expressible - covered.get(name, set()), key=_pair_key)
        out[name] = {"pairs_expressible": len(expressible),
                     "pairs_covered": len(expressible) - len(missing),
                     "uncovered": [pair_label(pair) for pair in missing]}
    return out
