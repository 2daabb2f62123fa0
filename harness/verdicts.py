"""Row verdicts: one per row of the difference table and implementation, from case entries.

A case counts toward the row whose test (or sweep row) generated it and toward every row
it exercises (`rows` of its entry: the rows whose option it sets, harness/rows.py
exercised_rows); in addition every violation counts toward the rows attribution named
for it (an unexplained one toward the case's own row, or, for a case generated for no
single row such as the pairwise ones, toward every row it exercises; in a "defaults"
case also toward "defaults", the seed's overall claim).
Per implementation, first match wins:

    not exercised              no case of the row and no violation attributed to it
    diverges (UNREGISTERED)    an unregistered violation attributed to the row
    crash                      a case of the row crashed
    diverges (known: ids)      registered divergences of the row occurred
    no counterpart             every case of the row was one the implementation's API has no
                               counterpart for (harness/catalogue.py)
    unsupported                every case of the row was outside the implementation's space, some
                               because the framework is measured to fail on them
    no counterpart (plain ...) a torch implementation on a MindSpore-only row otherwise: plain
                               Adam (torch has no such option) is consistent with the option's meaning
    consistent within tolerance
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict

from harness.catalogue import framework_of
from harness.nonfinite import from_json, to_json
from harness.framework_defaults import ENTRY_POINTS_BY_PATH, concept_default
from harness.rows import (DEFAULTS_CLAIM_EN, DEFAULTS_CLAIM_ZH, DIFFERENT_DEFAULTS, FRAMEWORKS, MINDSPORE_ONLY,
                          ROW_IDS, ROWS, ROWS_BY_ID, SAME_DEFAULTS, SEED_TABLES, UNEXPLAINED)
from harness.statuses import CRASH, NO_COUNTERPART as NO_COUNTERPART_STATUS, PASS, UNSUPPORTED

DEFAULTS = "defaults"
# Beyond the difference table: input classes with a test module of their own; their
# unexplained violations count here.
BEYOND_TABLE = (("extreme_gradients", "(input class)", "(input class)", "-",
                 "NaN, +-Inf, g*g overflow, subnormal gradients: not in the seed's table", "beyond-table"),
                ("missing_gradients", "(input class)", "(input class)", "-",
                 "a parameter without a gradient at some steps: not in the seed's table", "beyond-table"))
REPORT_ROWS = (DEFAULTS,) + ROW_IDS + tuple(row[0] for row in BEYOND_TABLE)

CONSISTENT = "consistent within tolerance"
UNREGISTERED = "diverges (UNREGISTERED)"
KNOWN_PREFIX = "diverges (known: "
CRASHED = "crash"
NO_COUNTERPART = "no counterpart"
# A torch implementation on a MindSpore-only option whose meaning plain Adam has
# (use_locking, use_lazy and use_offload with dense gradients, loss_scale with unscaled
# gradients): the seed's "PyTorch has no such parameter" holds, and nothing is lost.
NO_COUNTERPART_PLAIN = "no counterpart (plain Adam consistent within tolerance)"
ALL_UNSUPPORTED = "unsupported"
NOT_EXERCISED = "not exercised"

# verdict_class: what a reader (and a colour) makes of a verdict.
CLASSES = ("consistent", "known", "divergent", "crash", "no-counterpart", "unsupported", "not-exercised")


def verdict_class(verdict: str) -> str:
    if verdict == CONSISTENT:
        return "consistent"
    if verdict.startswith(KNOWN_PREFIX):
        return "known"
    return {UNREGISTERED: "divergent", CRASHED: "crash", NO_COUNTERPART: "no-counterpart",
            NO_COUNTERPART_PLAIN: "no-counterpart", ALL_UNSUPPORTED: "unsupported",
            NOT_EXERCISED: "not-exercised"}[verdict]


def implementation_order(name: str) -> tuple[int, str]:
    order = ("reference",) + FRAMEWORKS
    framework = framework_of(name)
    return (order.index(framework) if framework in order else len(order), name)


def _table() -> list[tuple[str, str, str, str, str, str]]:
    table = [(DEFAULTS, "(all defaults)", "(all defaults)", DEFAULTS_CLAIM_ZH, DEFAULTS_CLAIM_EN, "overall")]
    table += [(r.id, r.torch_name or "-", r.mindspore_name or "-", r.claim_zh, r.claim_en, r.kind) for r in ROWS]
    return table + list(BEYOND_TABLE)


def _new_stats() -> dict:
    return {"cases": 0, "statuses": Counter(), "known": set(), "unregistered": 0, "violations": [],
            "worst_relative_error": 0.0, "worst_pass_ratio": 0.0, "worst_ratio": -1.0, "worst_case": None}


def row_verdicts(cases: list[dict], entry_rows: dict[str, str], implementations: list[str]) -> list[dict]:
    """Rows (defaults first) with a verdict per implementation (every one but the
    reference), from case entries that hold every violation.

    entry_rows maps a registry id to its row: a jointly explained violation names
    several entries, and each row lists only its own.
    """
    stats: dict = defaultdict(_new_stats)
    case_counts: Counter = Counter(row for entry in cases for row in _case_rows(entry))
    params_of = {entry["id"]: {p["name"]: p["shape"] for p in entry["params"]} for entry in cases}
    for entry in cases:
        case_rows = _case_rows(entry)
        unexplained_rows = [entry["row"]] if entry["row"] in REPORT_ROWS else case_rows
        for impl in entry["implementations"]:
            name = impl["implementation"]
            if name == "reference":
                continue
            ratio = from_json(impl["worst_ratio"])
            for row in case_rows:
                own = stats[(row, name)]
                own["cases"] += 1
                own["statuses"][impl["status"]] += 1
                if impl["status"] == PASS:
                    # How close the passing cases came: "consistent" with its margin.
                    own["worst_pass_ratio"] = max(own["worst_pass_ratio"], ratio)
                if impl["status"] not in (UNSUPPORTED, NO_COUNTERPART_STATUS, CRASH) and ratio > own["worst_ratio"]:
                    own["worst_ratio"], own["worst_case"] = ratio, entry["id"]
            for violation in impl["violations"]:
                rows = (list(unexplained_rows) if violation["rows"] in ([UNEXPLAINED], [])
                        else list(violation["rows"]))
                if entry["row"] == DEFAULTS and DEFAULTS not in rows:
                    rows.append(DEFAULTS)  # the seed's overall claim is about whatever differs
                listed = dict(violation, case=entry["id"], dtype=entry["dtype"],
                              shape=params_of[entry["id"]].get(violation["param"]),
                              ratio=to_json(_ratio(violation)))
                for row in rows:
                    target = stats[(row, name)]
                    target["violations"].append(listed)
                    if violation["divergence"]:
                        ids = violation["divergence"].split(",")
                        target["known"].update(i for i in ids if entry_rows.get(i) == row or row == DEFAULTS)
                    else:
                        target["unregistered"] += 1
                    target["worst_relative_error"] = max(target["worst_relative_error"],
                                                         from_json(violation["relative_error"]))
                    if row not in case_rows and _ratio(violation) > target["worst_ratio"]:
                        target["worst_ratio"], target["worst_case"] = _ratio(violation), entry["id"]

    verdicts = []
    for row_id, torch_name, ms_name, claim_zh, claim_en, kind in _table():
        per_impl = {}
        for name in implementations:
            own = stats.get((row_id, name)) or _new_stats()
            verdict = _verdict(own, name, kind)
            violations = sorted(own["violations"], key=lambda v: (v["case"], v["param"], v["quantity"], v["index"]))
            per_impl[name] = {
                "verdict": verdict,
                "verdict_class": verdict_class(verdict),
                "cases": own["cases"],
                "statuses": {s: own["statuses"][s] for s in sorted(own["statuses"])},
                "worst_ratio": to_json(max(own["worst_ratio"], 0.0)),
                "worst_case": own["worst_case"],
                "known": sorted(own["known"]),
                "attributed_violations": len(violations),
                "unregistered_violations": own["unregistered"],
                "worst_relative_error": to_json(own["worst_relative_error"]),
                "worst_pass_ratio": to_json(own["worst_pass_ratio"]),
                "violations": violations,
            }
        concept = ROWS_BY_ID.get(row_id)
        verdicts.append({"row": row_id, "kind": kind, "torch_name": torch_name, "mindspore_name": ms_name,
                         # every framework's word for the row's concept (None: no counterpart)
                         "names": {fw: concept.word(fw) for fw in FRAMEWORKS} if concept is not None else {},
                         "claim_zh": claim_zh, "claim_en": claim_en, "cases": case_counts[row_id],
                         "implementations": per_impl})
    return verdicts


def _case_rows(entry: dict) -> list[str]:
    """The report rows a case entry counts toward: its own and those it exercises (a
    results file from before `rows` existed: its own)."""
    return [row for row in dict.fromkeys([entry["row"], *entry.get("rows", [])]) if row in REPORT_ROWS]


def _ratio(violation: dict) -> float:
    error, tolerance = from_json(violation["error"]), from_json(violation["tolerance"])
    if error == 0.0:
        return 0.0
    return math.inf if tolerance == 0.0 else error / tolerance


def _verdict(own: dict, name: str, kind: str) -> str:
    statuses = own["statuses"]
    torch_on_mindspore_only = framework_of(name) == "torch" and kind == MINDSPORE_ONLY
    if own["cases"] == 0 and not own["violations"]:
        return NOT_EXERCISED
    if own["unregistered"]:
        return UNREGISTERED
    if statuses[CRASH]:
        return CRASHED
    if own["known"]:
        return f"{KNOWN_PREFIX}{', '.join(sorted(own['known']))})"
    if own["cases"] and statuses[UNSUPPORTED] + statuses[NO_COUNTERPART_STATUS] == own["cases"]:
        # Some cases it could express failed: the framework's failure is the verdict.
        return NO_COUNTERPART if not statuses[UNSUPPORTED] or torch_on_mindspore_only else ALL_UNSUPPORTED
    return NO_COUNTERPART_PLAIN if torch_on_mindspore_only else CONSISTENT


def summary(rows: list[dict], implementations: list[str]) -> dict:
    """Per implementation: how many rows fall in each verdict class."""
    out = {}
    for name in implementations:
        counts = Counter(row["implementations"][name]["verdict_class"] for row in rows)
        out[name] = {cls: counts[cls] for cls in CLASSES}
    return out


def _defaults_verdict(claim, torch_default, mindspore_default) -> dict:
    """What the claim says of the two defaults against what the signatures declare."""
    if "(none)" in (torch_default, mindspore_default):
        return {"torch": torch_default, "mindspore": mindspore_default, "measured": None, "verdict": "-"}
    same = torch_default == mindspore_default or (
        isinstance(torch_default, (int, float)) and isinstance(mindspore_default, (int, float))
        and float(torch_default) == float(mindspore_default))
    measured = SAME_DEFAULTS if same else DIFFERENT_DEFAULTS
    if claim.defaults_claim is None:
        verdict = "same" if same else "differ (the table does not say so)"
    else:
        verdict = "as claimed" if claim.defaults_claim == measured else "not as claimed"
    return {"torch": torch_default, "mindspore": mindspore_default, "measured": measured, "verdict": verdict}


def seed_table_verdicts(rows: list[dict]) -> list[dict]:
    """The seed tables beyond the first (harness/rows.py SEED_TABLES): each claim with the
    verdicts of the table's implementations on the claim's row (those that ran) and what
    the claim says of the defaults against the entry points' signatures
    (harness/framework_defaults.py)."""
    by_row = {row["row"]: row for row in rows}
    out = []
    for table in SEED_TABLES:
        torch_entry = ENTRY_POINTS_BY_PATH[table.torch_entry]
        mindspore_entry = ENTRY_POINTS_BY_PATH[table.mindspore_entry]
        claims = []
        for claim in table.claims:
            measured = (by_row.get(claim.row) or {}).get("implementations", {})
            claims.append({
                "row": claim.row, "torch_name": claim.torch_name or "-", "mindspore_name": claim.mindspore_name or "-",
                "claim_zh": claim.claim_zh, "claim_en": claim.claim_en,
                "defaults": _defaults_verdict(claim, concept_default(torch_entry, claim.row),
                                              concept_default(mindspore_entry, claim.row)),
                "implementations": {name: {"verdict": measured[name]["verdict"],
                                           "verdict_class": measured[name]["verdict_class"]}
                                    for name in table.implementations if name in measured},
            })
        out.append({"id": table.id, "title": table.title, "source": table.source,
                    "torch_entry": table.torch_entry, "mindspore_entry": table.mindspore_entry,
                    "overall_claim_zh": table.overall_claim_zh, "overall_claim_en": table.overall_claim_en,
                    "claims": claims})
    return out
