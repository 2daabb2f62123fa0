"""parity.html: the results document (schema optim-parity/results/1) as one page people
read at a glance — self-contained (CSS and SVG inline, reproducers as data: links), readable
offline and printable.

    the difference table in the seed's shape, a coloured verdict cell per implementation
        linking to its details; a summary line (rows consistent / divergent / no counterpart)
    per row x implementation with violations: the violating parameters (name, shape, dtype,
        first failing step, worst error vs tolerance), attributed rows and registry entries,
        a plot of error/tolerance against step for the worst cases, for the eps row the update
        ratio to the spec against |g| / eps, and a standalone reproducer script per framework
    the registry, the hyperparameter acceptance sets, the environment

Rendering is pure (the same document and case files give the same bytes): a Jinja2
template with autoescaping (every string from a case is escaped), matplotlib SVG with a
fixed hash salt and no date. Names from cases are untrusted: plot labels are plain text
(no mathtext: a name like `$\\frac{$` is not parsed), and a lone surrogate, which neither
FreeType nor UTF-8 takes, is written as its escape (`\\ud800`) in plots and on the page.
"""

from __future__ import annotations

import base64
import io
from collections import defaultdict
from pathlib import Path
from typing import Any

from harness.dtype_table import implementation_dtype_table

MAX_PARAMETERS_LISTED = 30
MAX_SERIES_PER_PLOT = 6
COLOURS = {"consistent": "#d7f5d7", "known": "#fde8b8", "divergent": "#f7c6c6", "crash": "#f7c6c6",
           "no-counterpart": "#e6e6e6", "unsupported": "#e6e6e6", "not-exercised": "#f3f3f3"}


def _float(x: Any) -> float:
    return float(x)


def _anchor(row: str, implementation: str) -> str:
    return f"row-{row}-{implementation}"


def _parameters(violations: list[dict]) -> list[dict]:
    """Violations per (case, parameter): first failing step, worst error vs tolerance."""
    grouped: dict[tuple[str, str], dict] = {}
    for v in violations:
        key = (v["case"], v["param"])
        entry = grouped.setdefault(key, {"case": v["case"], "param": v["param"], "shape": v.get("shape"),
                                         "dtype": v.get("dtype"), "first_step": v["step"], "worst": v,
                                         "elements": 0, "rows": set(), "divergence": set()})
        entry["elements"] += 1
        entry["first_step"] = min(entry["first_step"], v["step"])
        if _float(v["ratio"]) > _float(entry["worst"]["ratio"]):
            entry["worst"] = v
        entry["rows"].update(v["rows"] or ["unexplained"])
        if v["divergence"]:
            entry["divergence"].update(v["divergence"].split(","))
    out = sorted(grouped.values(), key=lambda e: -_float(e["worst"]["ratio"]))
    for entry in out:
        entry["rows"], entry["divergence"] = sorted(entry["rows"]), sorted(entry["divergence"])
    return out


def _printable(text: str) -> str:
    """`text` with lone surrogates as backslash escapes: encodable as UTF-8, drawable."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _legend(axes, **kwargs) -> None:
    # Labels carry case and parameter names: "$...$" in one must stay text, not mathtext
    # (a malformed formula made savefig raise and the whole report was lost).
    for text in axes.legend(**kwargs).get_texts():
        text.set_parse_math(False)


def _svg(figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # drop the XML prologue and doctype: inline SVG


def _plots_module():
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "optim-parity"
    matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text: smaller, searchable
    import matplotlib.pyplot as plt

    return plt


def _error_plot(cases: list[dict], implementation: str) -> str | None:
    """error/tolerance against step of the worst element, for the worst cases."""
    series = []
    for case in cases:
        for impl in case["implementations"]:
            if impl["implementation"] == implementation and impl.get("series"):
                series.append((case["id"], impl["series"], _float(impl["worst_ratio"])))
    if not series:
        return None
    series = sorted(series, key=lambda s: (-s[2], s[0]))[:MAX_SERIES_PER_PLOT]
    plt = _plots_module()
    figure, axes = plt.subplots(figsize=(6.4, 3.0))
    for case_id, data, _ in series:
        ratios = [min(_float(r), 1e300) for r in data["ratio"]]
        axes.plot(data["steps"], [max(r, 1e-3) for r in ratios], marker="." if len(ratios) < 40 else None,
                  label=_printable(f"{case_id}: {data['quantity']} {data['param']}[{data['index']}]"[:60]))
    axes.axhline(1.0, color="black", linestyle="--", linewidth=0.8)
    axes.set_yscale("log")
    axes.set_xlabel("step")
    axes.set_ylabel("error / tolerance (running max)")
    _legend(axes, fontsize=6, loc="best")
    svg = _svg(figure)
    plt.close(figure)
    return svg


def _eps_plot(cases: list[dict], implementations: list[str]) -> str | None:
    """First update of each implementation relative to the spec's, against |g| / eps."""
    points: dict[str, list] = defaultdict(list)
    for case in cases:
        for impl in case["implementations"]:
            if impl["implementation"] in implementations and impl.get("update_ratio"):
                points[impl["implementation"]].extend(impl["update_ratio"])
    if not points:
        return None
    plt = _plots_module()
    figure, axes = plt.subplots(figsize=(6.4, 3.0))
    for name in implementations:
        if points[name]:
            xs, ys = zip(*sorted(points[name]))
            axes.scatter([max(x, 1e-30) for x in xs], ys, s=6, label=_printable(name), alpha=0.7)
    axes.axhline(1.0, color="black", linestyle="--", linewidth=0.8)
    axes.set_xscale("log")
    axes.set_xlabel("|g| / eps (first step)")
    axes.set_ylabel("first update / spec's")
    _legend(axes, fontsize=7)
    svg = _svg(figure)
    plt.close(figure)
    return svg


def _reproducers(row: dict, name: str, info: dict, cases_by_id: dict, report_dir: Path) -> list[dict]:
    """The reproducer of the worst violation of this row x implementation (if the case file is there)."""
    from harness.casefile import CaseError, load_case
    from harness.reproducer_script import reproducer_script, supported

    # A step-count mismatch has no value to watch step by step; the script shows a quantity.
    watchable = [v for v in info["violations"] if v["quantity"] != "step"]
    if not watchable or not supported(name):
        return []
    worst = max(watchable, key=lambda v: (_float(v["ratio"]), v["case"]))
    case_file = cases_by_id.get(worst["case"], {}).get("case_file")
    if not case_file:
        return []
    try:
        case = load_case(Path(report_dir) / case_file)
    except CaseError:
        return []
    script = reproducer_script(case, name, worst, worst["case"])
    file_name = f"reproduce_{row['row']}_{name}.py"
    return [{"implementation": name, "file_name": file_name, "script": script,
             "href": "data:text/x-python;base64," + base64.b64encode(script.encode("utf-8")).decode("ascii")}]


def render_parity_html(document: dict, report_dir: Path) -> str:
    import jinja2

    implementations = [n for n in document["run"]["implementations"] if n != "reference"]
    cases_by_id = {c["id"]: c for c in document["cases"]}
    details = []
    for row in document["rows"]:
        row_cases = [c for c in document["cases"] if c["row"] == row["row"]]
        for name in implementations:
            info = row["implementations"][name]
            if not info["violations"] and info["verdict_class"] not in ("crash", "divergent"):
                continue
            violating_cases = sorted({v["case"] for v in info["violations"]})
            parameters = _parameters(info["violations"])
            plotted = [cases_by_id[c] for c in violating_cases if c in cases_by_id]
            details.append({
                "anchor": _anchor(row["row"], name), "row": row, "implementation": name, "info": info,
                "parameters": parameters[:MAX_PARAMETERS_LISTED],
                "parameter_count": len(parameters),
                "error_plot": _error_plot(plotted, name),
                "eps_plot": _eps_plot(row_cases, [name]) if row["row"] == "eps" else None,
                "reproducers": _reproducers(row, name, info, cases_by_id, report_dir),
                "crashes": [(c["id"], i["message"].splitlines()[0] if i["message"] else "") for c in row_cases
                            for i in c["implementations"] if i["implementation"] == name and i["status"] == "crash"],
            })
    eps_row = next((r for r in document["rows"] if r["row"] == "eps"), None)
    eps_overview = _eps_plot([c for c in document["cases"] if c["row"] == "eps"], implementations) if eps_row else None
    summary = document["summary"]
    environment = jinja2.Environment(loader=jinja2.PackageLoader("harness", "templates"),
                                     autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
                                     undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    template = environment.get_template("parity.html.j2")
    return _printable(template.render(
        document=document, implementations=implementations, details=details, anchor=_anchor,
        colours=COLOURS, summary=summary, eps_overview=eps_overview, number=_number,
        with_details={d["anchor"] for d in details}, dtype_table=implementation_dtype_table(document),
    ))


def _number(x: Any) -> str:
    if isinstance(x, str):
        return x
    return format(float(x), ".3g")
