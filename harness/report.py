"""`optim-parity report`: run the sweep, write reports/latest/results.json and parity.html.

The HTML is static and self-contained, and deterministic: the same seed and versions
give byte-identical output (no timestamps, no timings, everything sorted).
"""

from __future__ import annotations

import html
from collections import Counter, defaultdict
from pathlib import Path
from typing import Sequence

from harness.adapters import DEFAULT_IMPLEMENTATIONS
from harness.casefile import save_case
from harness.engine import CRASH, KNOWN, PASS, UNSUPPORTED, VIOLATION, ImplementationResult, run_case
from harness.registry import Divergence, classify
from harness.results import versions, write_json
from harness.rows import DEFAULTS_CLAIM_EN, DEFAULTS_CLAIM_ZH, MINDSPORE_ONLY, ROWS, UNEXPLAINED

REPORT_SCHEMA = "optim-parity/report/1"
MAX_VIOLATIONS_LISTED = 20
FRAMEWORKS = ("torch", "mindspore")

CONSISTENT = "consistent within tolerance"
NO_COUNTERPART = "no counterpart"
NOT_EXERCISED = "not exercised"


def _crash_result(name: str, error: BaseException) -> ImplementationResult:
    return ImplementationResult(name, CRASH, f"harness error: {type(error).__name__}: {error}")


def _case_entry(sweep_case, results: list[ImplementationResult], case_file: str | None) -> dict:
    case = sweep_case.case
    implementations = []
    for result in results:
        entry = result.to_json()
        entry.pop("timing")  # timings vary run to run; reports must not
        entry["violation_count"] = len(entry["violations"])
        entry["violations"] = entry["violations"][:MAX_VIOLATIONS_LISTED]
        implementations.append(entry)
    return {
        "id": sweep_case.id, "row": sweep_case.row, "source": sweep_case.source, "case_file": case_file,
        "dtype": case.dtype, "steps": case.num_steps, "hyperparameters": case.hyperparameters,
        "params": [{"name": p.name, "shape": list(p.shape)} for p in case.params],
        "implementations": implementations,
    }


def row_verdicts(cases: list[dict], entry_rows: dict[str, str]) -> list[dict]:
    """One verdict per row (and "defaults") per framework, from the case entries.

    entry_rows maps a registry id to its row: a jointly explained violation names
    several entries, and each row lists only its own.
    """
    stats: dict = defaultdict(lambda: {"cases": 0, "statuses": Counter(), "known": set(), "unregistered": 0,
                                       "worst_relative_error": 0.0})
    case_counts: Counter = Counter()
    for entry in cases:
        case_counts[entry["row"]] += 1
        for impl in entry["implementations"]:
            name = impl["implementation"]
            if name not in FRAMEWORKS:
                continue
            own = stats[(entry["row"], name)]
            own["cases"] += 1
            own["statuses"][impl["status"]] += 1
            # Violations count toward the rows attribution named (and toward the case's row
            # when unexplained).
            for violation in impl["violations"]:
                rows = [entry["row"]] if violation["rows"] == [UNEXPLAINED] else list(violation["rows"])
                if entry["row"] == "defaults":
                    rows.append("defaults")  # the seed's overall claim is about whatever differs
                for row in rows:
                    target = stats[(row, name)]
                    if violation["divergence"]:
                        ids = violation["divergence"].split(",")
                        target["known"].update(i for i in ids if entry_rows.get(i) == row or row == "defaults")
                    else:
                        target["unregistered"] += 1
                    rel = violation["relative_error"]
                    rel = float("inf") if isinstance(rel, str) else rel
                    target["worst_relative_error"] = max(target["worst_relative_error"], rel)
            if impl["status"] == CRASH:
                own["unregistered"] += 1

    verdicts = []
    table = [("defaults", "(all defaults)", "(all defaults)", DEFAULTS_CLAIM_ZH, DEFAULTS_CLAIM_EN, "overall")]
    table += [(r.id, r.torch_name or "-", r.mindspore_name, r.claim_zh, r.claim_en, r.kind) for r in ROWS]
    for row_id, torch_name, ms_name, claim_zh, claim_en, kind in table:
        per_impl = {}
        for name in FRAMEWORKS:
            own = stats.get((row_id, name))
            if own is None or (own["cases"] == 0 and not own["known"] and not own["unregistered"]):
                verdict = NOT_EXERCISED
            elif own["unregistered"]:
                verdict = "diverges (UNREGISTERED)"
            elif own["known"]:
                verdict = f"diverges (known: {', '.join(sorted(own['known']))})"
            elif name == "torch" and kind == MINDSPORE_ONLY and own["statuses"][UNSUPPORTED] == own["cases"]:
                verdict = NO_COUNTERPART
            else:
                verdict = CONSISTENT
            per_impl[name] = {
                "verdict": verdict,
                "cases": own["cases"] if own else 0,
                "statuses": dict(sorted(own["statuses"].items())) if own else {},
                "known": sorted(own["known"]) if own else [],
                "unregistered_violations": own["unregistered"] if own else 0,
                "worst_relative_error": own["worst_relative_error"] if own else 0.0,
            }
        verdicts.append({"row": row_id, "kind": kind, "torch_name": torch_name, "mindspore_name": ms_name,
                         "claim_zh": claim_zh, "claim_en": claim_en, "cases": case_counts[row_id],
                         "implementations": per_impl})
    return verdicts


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:.3em .6em;vertical-align:top;font-size:.9em}
th{background:#eee}.consistent{background:#d7f5d7}.known{background:#fde8b8}.bad{background:#f7c6c6}
.grey{background:#e6e6e6}code{font-size:.9em}
"""


def _verdict_class(verdict: str) -> str:
    if verdict == CONSISTENT or verdict == PASS:
        return "consistent"
    if verdict.startswith("diverges (known") or verdict == KNOWN:
        return "known"
    if verdict in (NO_COUNTERPART, NOT_EXERCISED, UNSUPPORTED):
        return "grey"
    return "bad"


def render_html(document: dict, registry: Sequence[Divergence]) -> str:
    e = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>optim-parity: Adam</title>"
             f"<style>{_CSS}</style></head><body>",
             "<h1>Adam parity: torch.optim.Adam vs mindspore.nn.Adam vs the numpy spec</h1>",
             "<p>" + ", ".join(f"{e(k)} {e(v)}" for k, v in document["versions"].items())
             + f"; seed {document['seed']}; {len(document['cases'])} cases.</p>",
             "<h2>The difference table, measured</h2><table><tr><th>row</th><th>PyTorch</th><th>MindSpore</th>"
             "<th>the seed says</th><th>torch</th><th>mindspore</th></tr>"]
    for row in document["rows"]:
        cells = []
        for name in FRAMEWORKS:
            info = row["implementations"][name]
            detail = f"<br><small>{info['cases']} cases; {e(str(info['statuses']))}"
            if info["worst_relative_error"]:
                detail += f"; worst relative error {info['worst_relative_error']:.3g}"
            detail += "</small>"
            cells.append(f"<td class='{_verdict_class(info['verdict'])}'>{e(info['verdict'])}{detail}</td>")
        parts.append(f"<tr><td><code>{e(row['row'])}</code></td><td>{e(row['torch_name'])}</td>"
                     f"<td>{e(row['mindspore_name'])}</td><td>{e(row['claim_zh'])}<br><small>{e(row['claim_en'])}"
                     f"</small></td>{''.join(cells)}</tr>")
    parts.append("</table><h2>Known divergences (cases/known_divergences.toml)</h2><table><tr><th>id</th><th>row</th>"
                 "<th>implementation</th><th>condition</th><th>mechanism</th><th>source</th><th>measured bound</th>"
                 "<th>reproducer</th></tr>")
    for entry in sorted(registry, key=lambda d: d.id):
        parts.append(f"<tr><td><code>{e(entry.id)}</code></td><td>{e(entry.row)}</td><td>{e(entry.implementation)}</td>"
                     f"<td><code>{e(str(entry.when))}</code></td><td>{e(entry.mechanism)}</td><td>{e(entry.source)}</td>"
                     f"<td>{e(entry.bound)} (max relative error {entry.max_relative_error})</td>"
                     f"<td><code>{e(entry.reproducer)}</code></td></tr>")
    parts.append("</table><h2>Cases</h2><table><tr><th>case</th><th>row</th><th>dtype</th><th>steps</th>"
                 "<th>hyperparameters</th>" + "".join(f"<th>{n}</th>" for n in DEFAULT_IMPLEMENTATIONS) + "</tr>")
    for case in document["cases"]:
        name = e(case["id"])
        if case["case_file"]:
            name = f"<a href='{e(case['case_file'])}'>{name}</a>"
        cells = []
        for impl in case["implementations"]:
            text = impl["status"]
            if impl["status"] in (VIOLATION, KNOWN):
                text += f" ({impl['violation_count']} el., worst {impl['worst_ratio'] if isinstance(impl['worst_ratio'], str) else format(impl['worst_ratio'], '.3g')}x; rows {','.join(impl['rows'])})"
            elif impl["status"] in (UNSUPPORTED, CRASH):
                text += f": {impl['message'].splitlines()[0][:160]}"
            cells.append(f"<td class='{_verdict_class(impl['status'])}'>{e(text)}</td>")
        parts.append(f"<tr><td>{name}</td><td>{e(case['row'])}</td><td>{e(case['dtype'])}</td><td>{case['steps']}</td>"
                     f"<td><code>{e(str(case['hyperparameters']))}</code></td>{''.join(cells)}</tr>")
    parts.append("</table></body></html>\n")
    return "\n".join(parts)


def build_report(out_dir: Path, *, registry: Sequence[Divergence], seed: int = 0, examples: int | None = None,
                 cases=None, implementations: Sequence[str] = DEFAULT_IMPLEMENTATIONS) -> int:
    if cases is None:
        from harness.sweep import sweep_cases

        cases = sweep_cases(seed, examples, list(registry))
    out_dir = Path(out_dir)
    entries = []
    failed = False
    for sweep_case in cases:
        try:
            results = run_case(sweep_case.case, implementations).results
            for result in results:
                classify(result, sweep_case.case, list(registry))
        except Exception as error:  # a harness bug on one case must not lose the others
            results = [_crash_result(name, error) for name in implementations]
        case_file = None
        if any(r.status in (VIOLATION, CRASH) for r in results):
            failed = True
            save_case(sweep_case.case, out_dir / "cases" / f"{sweep_case.id}.json")
            case_file = f"cases/{sweep_case.id}.json"  # relative to the report directory
        entries.append(_case_entry(sweep_case, results, case_file))
    document = {"schema": REPORT_SCHEMA, "versions": versions(), "seed": seed, "rows": row_verdicts(entries, {d.id: d.row for d in registry}),
                "cases": entries}
    write_json(document, out_dir / "results.json")
    html_path = out_dir / "parity.html"
    tmp = html_path.with_suffix(".html.tmp")
    tmp.write_text(render_html(document, registry), encoding="utf-8")
    tmp.replace(html_path)
    for row in document["rows"]:
        verdicts = "; ".join(f"{n}: {row['implementations'][n]['verdict']}" for n in FRAMEWORKS)
        print(f"{row['row']:<13} {verdicts}")
    print(f"wrote {out_dir / 'results.json'} and {html_path}")
    return 1 if failed else 0
