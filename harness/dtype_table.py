"""Verdicts per implementation and dtype: one line per (implementation, dtype) a run exercised.

The difference table (harness/verdicts.py) folds dtypes into rows; a user migrating float16
or bfloat16 training asks the other question first: "in my dtype, which implementations
follow the spec, and how far off are the others?". This table answers it from a results
document alone (the report's `cases`), so it works on any results file, baselines included.

Per line: how many cases, how many of each status, the worst tolerance ratio among passing
cases (how close "pass" came to failing), the worst relative error among violating
elements (registered or not) and the registry entries that explained them.
"""

from __future__ import annotations

import math
from collections import Counter

from harness.nonfinite import from_json
from harness.statuses import CRASH, KNOWN, NO_COUNTERPART, PASS, STATUSES, UNSUPPORTED, VIOLATION
from harness.verdicts import implementation_order

DTYPE_ORDER = ("float64", "float32", "bfloat16", "float16")


def _dtype_key(dtype: str) -> tuple[int, str]:
    return (DTYPE_ORDER.index(dtype) if dtype in DTYPE_ORDER else len(DTYPE_ORDER), dtype)


def _worse(current: float | None, candidate: float) -> float:
    """The larger, NaN counting as the worst (a NaN error is a NaN where the spec is finite)."""
    if current is None or math.isnan(candidate):
        return candidate
    if math.isnan(current):
        return current
    return max(current, candidate)


def implementation_dtype_table(document: dict) -> list[dict]:
    lines: dict[tuple[str, str], dict] = {}
    for case in document["cases"]:
        for result in case["implementations"]:
            name = result["implementation"]
            if name == "reference":
                continue
            line = lines.setdefault((name, case["dtype"]), {
                "implementation": name, "dtype": case["dtype"], "cases": 0, "statuses": Counter(),
                "worst_pass_ratio": None, "worst_violation_relative_error": None, "entries": set()})
            line["cases"] += 1
            line["statuses"][result["status"]] += 1
            worst = result.get("worst")
            if result["status"] == PASS:
                line["worst_pass_ratio"] = _worse(line["worst_pass_ratio"], from_json(result["worst_ratio"]))
            elif result["status"] in (KNOWN, VIOLATION) and worst is not None:
                line["worst_violation_relative_error"] = _worse(line["worst_violation_relative_error"],
                                                                from_json(worst["relative_error"]))
            line["entries"].update(result.get("divergence", []))
    table = []
    for key in sorted(lines, key=lambda k: (implementation_order(k[0]), _dtype_key(k[1]))):
        line = lines[key]
        statuses = line["statuses"]
        table.append({**line,
                      "statuses": {s: statuses[s] for s in STATUSES if statuses[s]}
                      | {s: n for s, n in sorted(statuses.items()) if s not in STATUSES},
                      "entries": sorted(line["entries"]), "verdict_class": _verdict_class(statuses)})
    return table


def _verdict_class(statuses: Counter) -> str:
    """The difference table's colour classes (harness/html_report.py COLOURS)."""
    if statuses[CRASH]:  # a timeout is a crash too (harness/engine.py judge)
        return "crash"
    if statuses[VIOLATION]:
        return "divergent"
    if statuses[KNOWN]:
        return "known"
    if statuses[NO_COUNTERPART] == sum(statuses.values()):
        return "no-counterpart"
    if statuses[UNSUPPORTED] + statuses[NO_COUNTERPART] == sum(statuses.values()):
        return "unsupported"
    return "consistent"


def format_table(table: list[dict]) -> str:
    """Markdown, for notes and terminals."""
    def number(x):
        return "-" if x is None else format(x, ".3g")

    out = ["| implementation | dtype | cases | statuses | worst pass ratio | worst violating rel. error | entries |",
           "|---|---|---|---|---|---|---|"]
    for line in table:
        statuses = ", ".join(f"{s} {n}" for s, n in line["statuses"].items())
        out.append(f"| {line['implementation']} | {line['dtype']} | {line['cases']} | {statuses} | "
                   f"{number(line['worst_pass_ratio'])} | {number(line['worst_violation_relative_error'])} | "
                   f"{', '.join(line['entries']) or '-'} |")
    return "\n".join(out)
