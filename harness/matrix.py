"""The version-matrix page: rows x implementations x framework versions.

`optim-parity matrix reports/matrix --out reports/matrix/index.html` reads every
reports/matrix/<env>/results.json (written by the tox `matrix-*` environments), orders
them by the frameworks' versions (torch, MindSpore, then the optional extra's: jax,
jaxlib, optax, keras, paddlepaddle; harness/catalogue.py PACKAGES), and writes one page: a verdict cell per row,
implementation and version, and what changed between consecutive versions (the output
of `optim-parity compare`, harness/results_diff.py). A summary goes to matrix.json beside it.
The page's template: harness/templates/matrix.html.j2.
"""

from __future__ import annotations

import re
from pathlib import Path

from harness.catalogue import PACKAGES
from harness.results_diff import diff_results, format_diff
from harness.results import ResultsError, load_results, write_json, write_text_atomic
from harness.verdicts import implementation_order


def _version_key(version: str) -> tuple:
    return tuple(int(part) for part in re.findall(r"\d+", version.split("+")[0]))


def load_matrix(directory: Path) -> list[tuple[str, dict]]:
    found = sorted(Path(directory).glob("*/results.json"))
    if not found:
        raise ResultsError(f"{directory}: no <env>/results.json found (run the tox matrix-* environments first)")
    documents = [(path.parent.name, load_results(path)) for path in found]

    def key(item):
        packages = item[1]["environment"]["packages"]
        return (*(_version_key(packages.get(package, "0")) for package in PACKAGES), item[0])

    return sorted(documents, key=key)


def _label(document: dict) -> str:
    """The versions a column stands for: MindSpore and torch, then every other framework
    package the run had installed."""
    packages = document["environment"]["packages"]
    others = [f"{package} {packages[package]}" for package in PACKAGES
              if package not in ("torch", "mindspore") and packages.get(package, "not installed") != "not installed"]
    return " / ".join([f"MindSpore {packages.get('mindspore')}", f"torch {packages.get('torch')}", *others])


def matrix_summary(documents: list[tuple[str, dict]]) -> dict:
    implementations = sorted({n for _, d in documents for n in d["run"]["implementations"] if n != "reference"},
                             key=implementation_order)
    columns = [{"env": env, "label": _label(d), "packages": d["environment"]["packages"],
                "cases": len(d["cases"])} for env, d in documents]
    # Rows by id, in the order the files list them: a file from another version of the
    # harness may have rows the others lack, or list them in another order.
    rows_by_id = [{row["row"]: row for row in document["rows"]} for _, document in documents]
    row_ids = list(dict.fromkeys(row["row"] for _, document in documents for row in document["rows"]))
    rows = []
    for row_id in row_ids:
        for name in implementations:
            cells = []
            for document_rows in rows_by_id:
                info = document_rows[row_id]["implementations"].get(name) if row_id in document_rows else None
                cells.append(None if info is None else {
                    "verdict": info["verdict"], "verdict_class": info["verdict_class"],
                    "statuses": info["statuses"], "worst_ratio": info["worst_ratio"],
                    "worst_relative_error": info["worst_relative_error"]})
            # A cell whose verdict or case statuses differ from the column before it.
            for before, cell in zip(cells, cells[1:]):
                if cell is not None:
                    cell["changed"] = before is None or (before["verdict"], before["statuses"]) != \
                        (cell["verdict"], cell["statuses"])
            rows.append({"row": row_id, "implementation": name, "cells": cells,
                         "changed": any(cell and cell.get("changed") for cell in cells)})
    # What changed comes first (stable: table order within each part).
    rows.sort(key=lambda r: not r["changed"])
    steps = []
    for (old_env, old), (new_env, new) in zip(documents, documents[1:]):
        diff = diff_results(old, new, names=(f"{old_env}/results.json", f"{new_env}/results.json"))
        steps.append({"old": old_env, "new": new_env, "regressions": diff["regressions"],
                      "changes": diff["changes"], "text": format_diff(diff)})
    return {"schema": "optim-parity/matrix/1", "columns": columns, "rows": rows, "steps": steps}


def write_matrix(directory: Path, out: Path) -> dict:
    import jinja2  # deferred: only the page needs it (the command line imports this module)

    summary = matrix_summary(load_matrix(directory))
    environment = jinja2.Environment(loader=jinja2.PackageLoader("harness", "templates"), autoescape=True)
    # 3 significant digits on the page (matrix.json keeps every digit): 17 told nothing more
    environment.filters["number"] = lambda x: x if isinstance(x, str) or x is None else format(float(x), ".3g")
    page = environment.get_template("matrix.html.j2").render(matrix=summary)
    write_json(summary, Path(out).with_name("matrix.json"))
    write_text_atomic(page, out)
    return summary
