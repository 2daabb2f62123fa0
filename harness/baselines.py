"""Baselines: committed results files under reports/baselines/, one per set of versions.

    optim-parity baseline save --from reports/latest/results.json [--name NAME]

stores a copy as reports/baselines/NAME.json (default name: the framework versions,
e.g. torch-2.13.0+cpu_mindspore-2.10.0_ci). Loading checks the schema: a corrupted or
foreign file is one error line and exit 2 (harness.results.load_results).
"""

from __future__ import annotations

import re
from pathlib import Path

from harness.results import ResultsError, load_results, write_json

BASELINES_DIR = Path(__file__).resolve().parent.parent / "reports" / "baselines"


def default_name(document: dict) -> str:
    packages = document["environment"]["packages"]
    run = document["run"]
    parts = [f"torch-{packages.get('torch', 'none')}", f"mindspore-{packages.get('mindspore', 'none')}",
             run.get("profile") or f"sweep-seed{run.get('seed')}"]
    return re.sub(r"[^A-Za-z0-9.+_-]", "_", "_".join(parts))


def baseline_path(name: str, directory: Path = BASELINES_DIR) -> Path:
    if not re.fullmatch(r"[A-Za-z0-9.+_-]+", name or ""):
        raise ResultsError(f"baseline name {name!r}: use letters, digits and . + _ - only")
    return Path(directory) / f"{name}.json"


def save_baseline(source: str | Path, name: str | None = None, directory: Path = BASELINES_DIR) -> Path:
    document = load_results(source)
    path = baseline_path(name or default_name(document), directory)
    # The case files stay with the report; a baseline keeps verdicts, statuses, errors
    # and violations (what `compare` needs), so case_file paths are dropped.
    for case in document["cases"]:
        case["case_file"] = None
    for row in document["rows"]:
        for info in row["implementations"].values():
            info["worst_case_file"] = None
    return write_json(document, path)
