"""`optim-parity report` and the report writer behind `pytest --parity-report DIR`.

`build_report` runs the deterministic sweep (harness/sweep.py): every case through
every implementation in lockstep with the reference, classified against the registry.
`write_report` writes a results document (harness/results.py, schema
optim-parity/results/1) to a directory: the case files it names (cases/<id>.json,
replay them with `optim-parity replay`), then results.json and parity.html, each
atomically (temp file + rename) and only after both have been rendered: a failure
leaves the previous report untouched.

Both outputs are deterministic: the same cases, registry and versions give
byte-identical files (no timestamps, no timings, cases sorted by row and id).
Row verdicts: harness/verdicts.py.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any, Sequence

from harness.adapters import DEFAULT_IMPLEMENTATIONS
from harness.collect import case_entry
from harness.engine import CRASH, KNOWN, PASS, UNSUPPORTED, ImplementationResult, run_case
from harness.registry import Divergence, classify
from harness.shard import in_shard
from harness.results import failed, results_document, write_json, write_text_atomic
from harness.verdicts import (ALL_UNSUPPORTED, CONSISTENT, KNOWN_PREFIX, NO_COUNTERPART, NO_COUNTERPART_PLAIN,
                              NOT_EXERCISED)

# --------------------------------------------------------------------------- running

def _crash_result(name: str, error: BaseException) -> ImplementationResult:
    message = " ".join(str(error).split())[:400]
    return ImplementationResult(name, CRASH, f"harness error: {type(error).__name__}: {message}")


def _sweep(seed: int, examples: int | None, registry: Sequence[Divergence]) -> list:
    from harness.sweep import sweep_cases

    return list(sweep_cases(seed, examples, registry=list(registry)))


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
    implementations = document["run"]["implementations"]
    compared = [n for n in implementations if n != "reference"]
    env = document["environment"]
    versions_text = ", ".join(f"{e(k)} {e(str(v))}" for k, v in sorted({"python": env["python"], **env["packages"]}.items()))
    parts = [
        "<!doctype html>",
        "<html lang='en'><head><meta charset='utf-8'><title>optim-parity: Adam</title>"
        f"<style>{_CSS}</style></head><body>",
        "<h1>Adam parity: torch.optim.Adam vs mindspore.nn.Adam vs the numpy spec</h1>",
        f"<p>Versions: {versions_text}.<br>Seed {e(str(document['run']['seed']))}; {len(document['cases'])} cases; "
        f"implementations: {e(', '.join(implementations))}.</p>",
        "<p><span class='consistent'>consistent</span> <span class='known'>known divergence</span> "
        "<span class='bad'>unregistered divergence or crash</span> "
        "<span class='grey'>no counterpart / unsupported / not exercised</span></p>",
        "<h2>The difference table, measured</h2>",
        "<table><tr><th>row</th><th>PyTorch</th><th>MindSpore</th><th>the seed says</th>"
        + "".join(f"<th>{e(n)}</th>" for n in compared) + "</tr>",
    ]
    for row in document["rows"]:
        cells = []
        for name in compared:
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



# --------------------------------------------------------------------------- writing

def write_report(out_dir: Path, document: dict, case_entries: list[dict], registry: Sequence[Divergence],
                 results_name: str = "results.json") -> None:
    """Case files first (they are never lost), then results.json and parity.html."""
    out_dir = Path(out_dir)
    for entry in case_entries:
        write_text_atomic(entry["case_text"], out_dir / entry["case_file"])
    page = render_html(document, registry)  # rendered before anything is replaced
    write_json(document, out_dir / results_name, compact=True)
    write_text_atomic(page, out_dir / "parity.html")


def print_summary(document: dict, out_dir: Path, write=print) -> None:
    compared = [n for n in document["run"]["implementations"] if n != "reference"]
    for row in document["rows"]:
        verdicts = "; ".join(f"{n}: {row['implementations'][n]['verdict']}" for n in compared)
        write(f"{row['row']:<13} {row['cases']:>4} case(s)  {verdicts}")
    saved = sum(1 for c in document["cases"] if c["case_file"])
    write(f"wrote {Path(out_dir) / 'results.json'}, {Path(out_dir) / 'parity.html'}"
          + (f" and {saved} case file(s) under {Path(out_dir) / 'cases'}" if saved else ""))


# --------------------------------------------------------------------------- entry point

def build_report(out_dir: Path, *, registry: Sequence[Divergence], seed: int = 0, examples: int | None = None,
                 cases=None, implementations: Sequence[str] = DEFAULT_IMPLEMENTATIONS,
                 shard: tuple[int, int] | None = None) -> int:
    """Run `cases` (default: the sweep for `seed`/`examples`; with `shard`, only the
    cases of that shard, harness/shard.py) and write the report.

    Returns 1 when some implementation has an unregistered violation or crashed in
    some case, else 0.
    """
    registry = list(registry)
    cases = _sweep(seed, examples, registry) if cases is None else list(cases)
    cases = [c for c in cases if in_shard(c.id, shard)]
    ids = [c.id for c in cases]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"duplicate case ids: {duplicates}")
    entries = []
    for sweep_case in cases:
        run = None
        try:
            run = run_case(sweep_case.case, implementations)
            results = run.results
            for result in results:
                classify(result, sweep_case.case, registry)
        except Exception as error:  # a harness bug in one case must not lose the others
            results = [_crash_result(name, error) for name in implementations]
            run = None
        entries.append(case_entry(case=sweep_case.case, run=run, results=results, row=sweep_case.row, test=None,
                                  source=str(sweep_case.source), entry_id=sweep_case.id))
    document, to_save = results_document(entries, registry, source="sweep", profile=None, seed=seed)
    write_report(Path(out_dir), document, to_save, registry)
    print_summary(document, Path(out_dir))
    return 1 if failed(document) else 0
