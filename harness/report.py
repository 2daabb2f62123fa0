"""`optim-parity report`: run the sweep, write reports/latest/results.json and parity.html.

For every case of the sweep each implementation runs in lockstep with the reference
and is classified against the registry. Every case with an unregistered violation or
a crash is saved as out_dir/cases/<id>.json (replay it with `optim-parity replay`);
they are written as the sweep goes, so a sweep that dies half-way keeps them.
results.json and parity.html are written last, each atomically (temp file + rename),
after both have been rendered: a failure leaves the previous report untouched.

Both outputs are deterministic: the same cases, registry and versions give
byte-identical files (no timestamps, no timings, cases sorted by row and id).

Row verdicts (schema optim-parity/report/1, "rows"): a case belongs to its sweep row;
in addition every violation counts toward the rows attribution named for it (an
unexplained one toward the case's row; in a "defaults" case also toward "defaults",
the seed's overall claim). Per framework, first match wins:
    not exercised              no case of the row and no violation attributed to it
    diverges (UNREGISTERED)    an unregistered violation attributed to the row
    crash                      a case of the row crashed
    diverges (known: ids)      registered divergences of the row occurred
    no counterpart             torch on a MindSpore-only row, every case unsupported
    unsupported                every case of the row was unsupported
    no counterpart (plain ...) torch on a MindSpore-only row otherwise: plain Adam (torch
                               has no such option) is consistent with the option's meaning
    consistent within tolerance
"""

from __future__ import annotations

import html
import json
import math
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Sequence

from harness.adapters import DEFAULT_IMPLEMENTATIONS
from harness.casefile import save_case
from harness.engine import CRASH, KNOWN, PASS, UNSUPPORTED, VIOLATION, ImplementationResult, run_case
from harness.registry import Divergence, classify
from harness.results import versions, write_json
from harness.rows import DEFAULTS_CLAIM_EN, DEFAULTS_CLAIM_ZH, MINDSPORE_ONLY, ROW_IDS, ROWS, UNEXPLAINED

REPORT_SCHEMA = "optim-parity/report/1"
MAX_VIOLATIONS_LISTED = 20
FRAMEWORKS = ("torch", "mindspore")
DEFAULTS = "defaults"
REPORT_ROWS = (DEFAULTS,) + ROW_IDS

CONSISTENT = "consistent within tolerance"
UNREGISTERED = "diverges (UNREGISTERED)"
KNOWN_PREFIX = "diverges (known: "
CRASHED = "crash"
NO_COUNTERPART = "no counterpart"
# torch on a MindSpore-only option whose meaning plain Adam has (use_locking, use_lazy and
# use_offload with dense gradients, loss_scale with unscaled gradients): the seed's "PyTorch
# has no such parameter" holds, and nothing is lost by its absence.
NO_COUNTERPART_PLAIN = "no counterpart (plain Adam consistent within tolerance)"
ALL_UNSUPPORTED = "unsupported"
NOT_EXERCISED = "not exercised"


# --------------------------------------------------------------------------- running

def _crash_result(name: str, error: BaseException) -> ImplementationResult:
    message = " ".join(str(error).split())[:400]
    return ImplementationResult(name, CRASH, f"harness error: {type(error).__name__}: {message}")


def _case_file_name(case_id: str) -> str:
    """A file name for a case id (ids from the sweep are already safe)."""
    return (re.sub(r"[^A-Za-z0-9._-]", "_", case_id) or "case") + ".json"


def _sweep(seed: int, examples: int | None, registry: Sequence[Divergence]) -> list:
    from harness.sweep import sweep_cases

    return list(sweep_cases(seed, examples, registry=list(registry)))


def _row_order(row: str) -> tuple[int, str]:
    return (REPORT_ROWS.index(row) if row in REPORT_ROWS else len(REPORT_ROWS), row)


def _json_float(x: float) -> float | str:
    return x if math.isfinite(x) else str(x)


def _float(x: Any) -> float:
    return float(x)  # to_json writes non-finite numbers as "inf"/"nan"; float() reads them back


def _case_entry(sweep_case, results: list[ImplementationResult], case_file: str | None) -> dict:
    """The case's results.json entry, with every violation (truncated later)."""
    case = sweep_case.case
    implementations = []
    for result in results:
        entry = result.to_json()
        entry.pop("timing")  # timings vary run to run; the report must not
        entry["violation_count"] = len(entry["violations"])
        implementations.append(entry)
    return {
        "id": sweep_case.id, "row": sweep_case.row, "source": str(sweep_case.source), "case_file": case_file,
        "dtype": case.dtype, "steps": case.num_steps, "hyperparameters": case.hyperparameters,
        "params": [{"name": p.name, "shape": list(p.shape)} for p in case.params],
        "implementations": implementations,
    }


def _truncated(entry: dict) -> dict:
    out = dict(entry)
    out["implementations"] = [dict(impl, violations=impl["violations"][:MAX_VIOLATIONS_LISTED])
                              for impl in entry["implementations"]]
    return out


# --------------------------------------------------------------------------- verdicts

def row_verdicts(cases: list[dict], entry_rows: dict[str, str]) -> list[dict]:
    """One verdict per row ("defaults" first) per framework, from case entries that
    still hold every violation (not the truncated lists of results.json).

    entry_rows maps a registry id to its row: a jointly explained violation names
    several entries, and each row lists only its own.
    """
    stats: dict = defaultdict(lambda: {"cases": 0, "statuses": Counter(), "known": set(), "unregistered": 0,
                                       "attributed": 0, "worst_relative_error": 0.0,
                                       "worst_pass_ratio": 0.0})
    case_counts: Counter = Counter(entry["row"] for entry in cases)
    for entry in cases:
        for impl in entry["implementations"]:
            name = impl["implementation"]
            if name not in FRAMEWORKS:
                continue
            own = stats[(entry["row"], name)]
            own["cases"] += 1
            own["statuses"][impl["status"]] += 1
            if impl["status"] == PASS:
                # How close the passing cases came: "consistent" with its margin.
                own["worst_pass_ratio"] = max(own["worst_pass_ratio"], _float(impl["worst_ratio"]))
            for violation in impl["violations"]:
                rows = [entry["row"]] if violation["rows"] in ([UNEXPLAINED], []) else list(violation["rows"])
                if entry["row"] == DEFAULTS and DEFAULTS not in rows:
                    rows.append(DEFAULTS)  # the seed's overall claim is about whatever differs
                for row in rows:
                    target = stats[(row, name)]
                    target["attributed"] += 1
                    if violation["divergence"]:
                        ids = violation["divergence"].split(",")
                        target["known"].update(i for i in ids if entry_rows.get(i) == row or row == DEFAULTS)
                    else:
                        target["unregistered"] += 1
                    target["worst_relative_error"] = max(target["worst_relative_error"],
                                                         _float(violation["relative_error"]))

    verdicts = []
    table = [(DEFAULTS, "(all defaults)", "(all defaults)", DEFAULTS_CLAIM_ZH, DEFAULTS_CLAIM_EN, "overall")]
    table += [(r.id, r.torch_name or "-", r.mindspore_name, r.claim_zh, r.claim_en, r.kind) for r in ROWS]
    for row_id, torch_name, ms_name, claim_zh, claim_en, kind in table:
        per_impl = {}
        for name in FRAMEWORKS:
            own = stats.get((row_id, name)) or stats.default_factory()
            statuses = own["statuses"]
            if own["cases"] == 0 and own["attributed"] == 0:
                verdict = NOT_EXERCISED
            elif own["unregistered"]:
                verdict = UNREGISTERED
            elif statuses[CRASH]:
                verdict = CRASHED
            elif own["known"]:
                verdict = f"{KNOWN_PREFIX}{', '.join(sorted(own['known']))})"
            elif own["cases"] and statuses[UNSUPPORTED] == own["cases"]:
                verdict = NO_COUNTERPART if name == "torch" and kind == MINDSPORE_ONLY else ALL_UNSUPPORTED
            else:
                verdict = NO_COUNTERPART_PLAIN if name == "torch" and kind == MINDSPORE_ONLY else CONSISTENT
            per_impl[name] = {
                "verdict": verdict,
                "cases": own["cases"],
                "statuses": {s: statuses[s] for s in sorted(statuses)},
                "known": sorted(own["known"]),
                "attributed_violations": own["attributed"],
                "unregistered_violations": own["unregistered"],
                "worst_relative_error": _json_float(own["worst_relative_error"]),
                "worst_pass_ratio": _json_float(own["worst_pass_ratio"]),
            }
        verdicts.append({"row": row_id, "kind": kind, "torch_name": torch_name, "mindspore_name": ms_name,
                         "claim_zh": claim_zh, "claim_en": claim_en, "cases": case_counts[row_id],
                         "implementations": per_impl})
    return verdicts


# --------------------------------------------------------------------------- HTML

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:110em}
table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #bbb;padding:.3em .6em;vertical-align:top;font-size:.9em;text-align:left}
th{background:#eee}
.consistent{background:#d7f5d7}.known{background:#fde8b8}.bad{background:#f7c6c6}.grey{background:#e6e6e6}
code{font-size:.9em}small{color:#444}
"""


def _verdict_class(verdict: str) -> str:
    if verdict in (CONSISTENT, NO_COUNTERPART_PLAIN, PASS):
        return "consistent"
    if verdict.startswith(KNOWN_PREFIX) or verdict == KNOWN:
        return "known"
    if verdict in (NO_COUNTERPART, NOT_EXERCISED, ALL_UNSUPPORTED, UNSUPPORTED):
        return "grey"
    return "bad"  # unregistered divergence, violation, crash


def _number(x: Any) -> str:
    return x if isinstance(x, str) else format(x, ".3g")


def render_html(document: dict, registry: Sequence[Divergence]) -> str:
    e = html.escape
    implementations = sorted({impl["implementation"] for case in document["cases"] for impl in case["implementations"]},
                             key=lambda n: (DEFAULT_IMPLEMENTATIONS.index(n) if n in DEFAULT_IMPLEMENTATIONS
                                            else len(DEFAULT_IMPLEMENTATIONS), n))
    versions_text = ", ".join(f"{e(k)} {e(str(v))}" for k, v in sorted(document["versions"].items()))
    parts = [
        "<!doctype html>",
        "<html lang='en'><head><meta charset='utf-8'><title>optim-parity: Adam</title>"
        f"<style>{_CSS}</style></head><body>",
        "<h1>Adam parity: torch.optim.Adam vs mindspore.nn.Adam vs the numpy spec</h1>",
        f"<p>Versions: {versions_text}.<br>Seed {e(str(document['seed']))}; {len(document['cases'])} cases; "
        f"implementations: {e(', '.join(implementations))}.</p>",
        "<p><span class='consistent'>consistent</span> <span class='known'>known divergence</span> "
        "<span class='bad'>unregistered divergence or crash</span> "
        "<span class='grey'>no counterpart / unsupported / not exercised</span></p>",
        "<h2>The difference table, measured</h2>",
        "<table><tr><th>row</th><th>PyTorch</th><th>MindSpore</th><th>the seed says</th>"
        + "".join(f"<th>{e(n)}</th>" for n in FRAMEWORKS) + "</tr>",
    ]
    for row in document["rows"]:
        cells = []
        for name in FRAMEWORKS:
            info = row["implementations"][name]
            statuses = ", ".join(f"{e(k)} {v}" for k, v in info["statuses"].items())
            detail = f"<br><small>{info['cases']} case(s)" + (f": {statuses}" if statuses else "")
            if info["attributed_violations"]:
                detail += (f"; {info['attributed_violations']} violating element(s) attributed, worst relative "
                           f"error {e(_number(info['worst_relative_error']))}")
            if info["statuses"].get(PASS):
                detail += f"; passing cases within {e(_number(info['worst_pass_ratio']))}x tolerance"
            detail += "</small>"
            cells.append(f"<td class='{_verdict_class(info['verdict'])}'>{e(info['verdict'])}{detail}</td>")
        parts.append(f"<tr><td><code>{e(row['row'])}</code></td><td>{e(row['torch_name'])}</td>"
                     f"<td>{e(row['mindspore_name'])}</td><td>{e(row['claim_zh'])}<br><small>{e(row['claim_en'])}"
                     f"</small></td>{''.join(cells)}</tr>")
    parts.append("</table>")

    parts.append("<h2>Known divergences (registry)</h2>")
    if registry:
        parts.append("<table><tr><th>id</th><th>row</th><th>implementation</th><th>condition</th><th>mechanism</th>"
                     "<th>source</th><th>measured bound</th><th>reproducer</th></tr>")
        for entry in sorted(registry, key=lambda d: d.id):
            parts.append(
                f"<tr><td><code>{e(entry.id)}</code></td><td>{e(entry.row)}</td><td>{e(', '.join(entry.implementations))}</td>"
                f"<td><code>{e(json.dumps(entry.when, sort_keys=True))}</code></td><td>{e(entry.mechanism)}</td>"
                f"<td>{e(entry.source)}</td><td>{e(entry.bound)}<br><small>max relative error "
                f"{e(str(entry.max_relative_error))}</small></td><td><code>{e(entry.reproducer)}</code></td></tr>")
        parts.append("</table>")
    else:
        parts.append("<p>The registry is empty.</p>")

    parts.append("<h2>Cases</h2><table><tr><th>case</th><th>row</th><th>dtype</th><th>steps</th>"
                 "<th>hyperparameters</th>" + "".join(f"<th>{e(n)}</th>" for n in implementations) + "</tr>")
    for case in document["cases"]:
        name = f"<code>{e(case['id'])}</code>"
        if case["case_file"]:
            name = f"<a href='{e(case['case_file'])}'>{name}</a>"
        by_name = {impl["implementation"]: impl for impl in case["implementations"]}
        cells = []
        for impl_name in implementations:
            impl = by_name.get(impl_name)
            if impl is None:
                cells.append("<td class='grey'>not run</td>")
                continue
            text = impl["status"]
            if impl["status"] in (UNSUPPORTED, CRASH):
                text += f": {(impl['message'].splitlines() or [''])[0][:160]}"
            else:
                text += f"; worst {_number(impl['worst_ratio'])}x tolerance"
                if impl["violation_count"]:
                    text += f"; {impl['violation_count']} element(s) out; rows {','.join(impl['rows'])}"
                if impl["divergence"]:
                    text += f"; known: {','.join(impl['divergence'])}"
            cells.append(f"<td class='{_verdict_class(impl['status'])}'>{e(text)}</td>")
        parts.append(f"<tr><td>{name}</td><td>{e(case['row'])}</td><td>{e(case['dtype'])}</td><td>{case['steps']}</td>"
                     f"<td><code>{e(json.dumps(case['hyperparameters'], sort_keys=True))}</code></td>"
                     f"{''.join(cells)}</tr>")
    parts.append("</table></body></html>")
    return "\n".join(parts) + "\n"


def _write_text_atomic(text: str, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


# --------------------------------------------------------------------------- entry point

def build_report(out_dir: Path, *, registry: Sequence[Divergence], seed: int = 0, examples: int | None = None,
                 cases=None, implementations: Sequence[str] = DEFAULT_IMPLEMENTATIONS) -> int:
    """Run `cases` (default: the sweep for `seed`/`examples`) and write the report.

    Returns 1 when some implementation has an unregistered violation or crashed in
    some case, else 0.
    """
    registry = list(registry)
    cases = _sweep(seed, examples, registry) if cases is None else list(cases)
    ids = [c.id for c in cases]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"duplicate case ids: {duplicates}")
    cases.sort(key=lambda c: (_row_order(c.row), c.id))
    out_dir = Path(out_dir)
    entries = []
    saved = 0
    for sweep_case in cases:
        try:
            results = run_case(sweep_case.case, implementations).results
            for result in results:
                classify(result, sweep_case.case, registry)
        except Exception as error:  # a harness bug in one case must not lose the others
            results = [_crash_result(name, error) for name in implementations]
        case_file = None
        if any(r.status in (VIOLATION, CRASH) for r in results):
            file_name = _case_file_name(sweep_case.id)
            save_case(sweep_case.case, out_dir / "cases" / file_name)
            case_file = f"cases/{file_name}"  # relative to the report directory
            saved += 1
        entries.append(_case_entry(sweep_case, results, case_file))

    failed = any(impl["status"] in (VIOLATION, CRASH) for entry in entries for impl in entry["implementations"])
    document = {"schema": REPORT_SCHEMA, "versions": versions(), "seed": seed,
                "rows": row_verdicts(entries, {d.id: d.row for d in registry}),
                "cases": [_truncated(entry) for entry in entries]}
    page = render_html(document, registry)  # rendered before anything is replaced
    json_path = write_json(document, out_dir / "results.json")
    html_path = _write_text_atomic(page, out_dir / "parity.html")

    for row in document["rows"]:
        verdicts = "; ".join(f"{n}: {row['implementations'][n]['verdict']}" for n in FRAMEWORKS)
        print(f"{row['row']:<13} {row['cases']:>4} case(s)  {verdicts}")
    print(f"wrote {json_path}")
    print(f"wrote {html_path}")
    if saved:
        print(f"wrote {saved} case file(s) under {out_dir / 'cases'} (replay: optim-parity replay FILE)")
    return 1 if failed else 0
