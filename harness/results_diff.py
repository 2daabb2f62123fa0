"""What changed between two results files (`optim-parity compare OLD NEW`).

Cases are matched by id (a hash of the case and its implementations, harness/collect.py),
so both files must come from the same case set: the derandomized `ci` profile, or the
`optim-parity report` sweep with the same seed and --examples. Per row x implementation
(a case counts toward the row that generated it), each change is one of:

    regression   newly violating   a case's status became `violation` (unregistered)
                 now crashes       ... became `crash`
                 newly known       ... went from `pass` to `known` (a registered divergence now occurs)
                 became unsupported ... became `unsupported` (the framework rejects what it ran)
                 error grew        error/tolerance grew more than THRESHOLD times and is now >= 0.5
                 entry fires       a registry entry fires on a case (present in both runs) where it
                                   did not before (not where that case violated: "now registered")
    improvement  newly passing     a case that violated, was known or crashed now passes
                 became supported  an unsupported case now runs
                 now registered    a case that violated is now a known divergence (registry grew)
                 entry stopped     a registry entry no longer fires for the row (retire it?)
    info         verdict, implementations added/removed, cases only on one side, an entry
                 that fires for the row only on cases the old run did not have, a case that
                 became (or stopped being) one the implementation has no counterpart for

Exit 1 when there is any regression, else 0. Two files with no case x implementation
result in common have nothing to compare (different case sets): bad input, not "no
regression".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from harness.nonfinite import from_json
from harness.results import ResultsError
from harness.statuses import CRASH, KNOWN, NO_COUNTERPART, PASS, UNSUPPORTED, VIOLATION

DEFAULT_THRESHOLD = 2.0
# Growth counts once the error reaches half its tolerance: below that, a different CPU
# (FMA contraction, vector width) moves ulp-sized errors by factors of a few.
RATIO_FLOOR = 0.5
EXAMPLES = 5  # case ids listed per change


@dataclass
class Change:
    row: str
    implementation: str
    kind: str
    regression: bool
    detail: str
    cases: list[str] = field(default_factory=list)
    count: int = 0


def _case_kind(old: dict, new: dict, threshold: float) -> tuple[str, bool] | None:
    before, after = old["status"], new["status"]
    if before != after:
        # What the API can ask for is the catalogue's statement, not the framework's behaviour.
        if after == NO_COUNTERPART:
            return "now without counterpart", False
        if before == NO_COUNTERPART:
            return "now with a counterpart", False
        if after == VIOLATION:
            return "newly violating", True
        if after == CRASH:
            return "now crashes", True
        if after == UNSUPPORTED:
            return "became unsupported", True
        if before == UNSUPPORTED:
            return "became supported", False
        if after == KNOWN and before == PASS:
            return "newly known", True
        if after == KNOWN and before == VIOLATION:
            return "now registered", False
        if after == PASS:
            return "newly passing", False
    if before in (PASS, KNOWN) and after == before:
        old_ratio, new_ratio = from_json(old["worst_ratio"]), from_json(new["worst_ratio"])
        if new_ratio >= RATIO_FLOOR and new_ratio > threshold * old_ratio:
            return "error grew", True
    return None


def diff_results(old: dict, new: dict, threshold: float = DEFAULT_THRESHOLD,
                 names: tuple[str, str] = ("OLD", "NEW")) -> dict:
    """The changes from `old` to `new` (results documents; `names` say which files they
    are in messages). ResultsError when they have no result in common to compare."""
    changes: dict[tuple[str, str, str], Change] = {}

    def add(row: str, name: str, kind: str, regression: bool, detail: str, case: str | None = None) -> None:
        change = changes.setdefault((row, name, kind), Change(row, name, kind, regression, detail))
        if case is not None:
            change.count += 1
            if len(change.cases) < EXAMPLES:
                change.cases.append(case)

    old_cases = {c["id"]: c for c in old["cases"]}
    new_cases = {c["id"]: c for c in new["cases"]}
    common = sorted(set(old_cases) & set(new_cases))
    compared = identical = 0
    for case_id in common:
        before = {i["implementation"]: i for i in old_cases[case_id]["implementations"]}
        after = {i["implementation"]: i for i in new_cases[case_id]["implementations"]}
        row = new_cases[case_id]["row"]
        for name in sorted(set(before) & set(after)):
            compared += 1
            # Same status and the same worst error/tolerance to the last bit: almost surely
            # the same arithmetic.
            identical += (before[name]["status"], before[name]["worst_ratio"]) == \
                (after[name]["status"], after[name]["worst_ratio"])
            if before[name]["status"] != VIOLATION:
                for entry in sorted(set(after[name]["divergence"]) - set(before[name]["divergence"])):
                    add(row, name, "entry fires", True, entry, case_id)
            found = _case_kind(before[name], after[name], threshold)
            if found:
                kind, regression = found
                old_i, new_i = before[name], after[name]
                add(row, name, kind, regression, "", case_id)
                change = changes[(row, name, kind)]
                if change.count == 1:
                    change.detail = (f"{old_i['status']} (worst {_short(old_i['worst_ratio'])}x tolerance) -> "
                                     f"{new_i['status']} (worst {_short(new_i['worst_ratio'])}x)"
                                     + (f": {new_i['message'].splitlines()[0]}" if new_i.get("message") else ""))

    if not compared:
        # "0 regression(s)" would pass a check that checked nothing.
        reason = "no case in common" if not common else "no implementation in common on their common cases"
        raise ResultsError(f"{names[0]} and {names[1]}: nothing to compare, {reason} (use the ci profile, or "
                           "the same sweep seed and --examples, on both sides)")

    old_rows = {r["row"]: r for r in old["rows"]}
    for row in new["rows"]:
        before_row = old_rows.get(row["row"])
        if before_row is None:
            continue
        for name, info in row["implementations"].items():
            previous = before_row["implementations"].get(name)
            if previous is None:
                continue
            # Firing on a case both runs have is judged per case above; here only what is
            # new to the row because the new run has cases the old one did not.
            for entry in sorted(set(info["known"]) - set(previous["known"])):
                if (row["row"], name, "entry fires") not in changes:
                    add(row["row"], name, "entry fires on new cases only", False, entry)
            for entry in sorted(set(previous["known"]) - set(info["known"])):
                add(row["row"], name, "entry stopped", False, entry)
            if info["verdict"] != previous["verdict"]:
                add(row["row"], name, "verdict", False, f"{previous['verdict']} -> {info['verdict']}")

    old_impls, new_impls = set(old["run"]["implementations"]), set(new["run"]["implementations"])
    for name in sorted(new_impls - old_impls):
        add("*", name, "implementation added", False, "")
    for name in sorted(old_impls - new_impls):
        add("*", name, "implementation removed", False, "")
    only_old, only_new = len(set(old_cases) - set(new_cases)), len(set(new_cases) - set(old_cases))
    ordered = sorted(changes.values(), key=lambda c: (not c.regression, c.row, c.implementation, c.kind))
    return {
        "schema": "optim-parity/compare/1",
        "old": _side(old), "new": _side(new),
        "threshold": threshold,
        "cases": {"compared": len(common), "only_old": only_old, "only_new": only_new,
                  "results_compared": compared, "results_identical": identical},
        "regressions": sum(1 for c in ordered if c.regression),
        "changes": [asdict(c) for c in ordered],
    }


def _side(document: dict) -> dict:
    return {"packages": document["environment"]["packages"], "run": document["run"]}


def _short(x) -> str:
    return x if isinstance(x, str) else format(float(x), ".3g")


def format_diff(diff: dict) -> list[str]:
    lines = []
    old, new = diff["old"]["packages"], diff["new"]["packages"]
    changed = [f"{k} {old.get(k)} -> {new.get(k)}" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    lines.append(f"compare: {', '.join(changed) or 'same versions'}; {diff['cases']['compared']} case(s) compared"
                 + (f", {diff['cases']['only_old']} only in OLD" if diff["cases"]["only_old"] else "")
                 + (f", {diff['cases']['only_new']} only in NEW" if diff["cases"]["only_new"] else ""))
    cases = diff["cases"]
    if cases["results_compared"]:
        lines.append(f"{cases['results_identical']} of {cases['results_compared']} case x implementation results "
                     "identical (same status, same worst error/tolerance to the last bit)")
    for change in diff["changes"]:
        tag = "REGRESSION" if change["regression"] else "changed   "
        where = f"row {change['row']}, {change['implementation']}"
        count = f" in {change['count']} case(s) (e.g. {', '.join(change['cases'])})" if change["count"] else ""
        detail = f": {change['detail']}" if change["detail"] else ""
        lines.append(f"{tag} {where}: {change['kind']}{count}{detail}")
    lines.append(f"{diff['regressions']} regression(s)")
    return lines


def render_diff_html(diff: dict) -> str:
    """The HTML diff report (`compare --html`): harness/templates/compare.html.j2."""
    import jinja2  # deferred: only --html needs it (the command line imports this module)

    environment = jinja2.Environment(loader=jinja2.PackageLoader("harness", "templates"), autoescape=True,
                                     undefined=jinja2.StrictUndefined)
    packages = sorted(set(diff["old"]["packages"]) | set(diff["new"]["packages"]))
    return environment.get_template("compare.html.j2").render(
        diff=diff, packages=packages, improvements=("newly passing", "became supported", "entry stopped", "now registered"))
