"""Baselines: committed results files under reports/baselines/, one per set of versions.

    optim-parity baseline save --from reports/latest/results.json [--name NAME] [--force]

stores it as reports/baselines/NAME.json (default name: the framework versions without
their local build labels, e.g. torch-2.13.0_mindspore-2.10.0_ci for torch 2.13.0+cpu, so
the same release of a CPU and a CUDA wheel looks up the same baseline; the results file
itself keeps the full version; an existing baseline is replaced only with --force),
without the per-element violation lists and plot data (`compare` does not read them; the
report they came from has them). Loading checks every field a command reads: a corrupted,
foreign or mistyped file is one error line and exit 2 (harness.results.load_results).
"""

from __future__ import annotations

import re
from pathlib import Path

from packaging.version import InvalidVersion, Version

from harness.results import ResultsError, load_results, write_json

BASELINES_DIR = Path(__file__).resolve().parent.parent / "reports" / "baselines"


def release(version: object) -> str:
    """A version without its local build label ("2.13.0+cpu" -> "2.13.0")."""
    try:
        return Version(str(version)).public
    except InvalidVersion:
        return str(version)


def default_name(document: dict) -> str:
    packages = document["environment"]["packages"]
    run = document["run"]
    parts = [f"torch-{release(packages.get('torch', 'none'))}", f"mindspore-{release(packages.get('mindspore', 'none'))}",
             run.get("profile") or f"sweep-seed{run.get('seed')}"]
    return re.sub(r"[^A-Za-z0-9.+_-]", "_", "_".join(parts))


MAX_NAME_LENGTH = 200  # a file name: file systems refuse 255 bytes and more


def baseline_path(name: str, directory: Path = BASELINES_DIR) -> Path:
    if not re.fullmatch(r"[A-Za-z0-9.+_-]+", name or ""):
        raise ResultsError(f"baseline name {(name or '')[:60]!r}: use letters, digits and . + _ - only")
    if len(name) > MAX_NAME_LENGTH:
        raise ResultsError(f"baseline name {name[:60]!r}...: longer than {MAX_NAME_LENGTH} characters")
    return Path(directory) / f"{name}.json"


def save_baseline(source: str | Path, name: str | None = None, directory: Path = BASELINES_DIR,
                  force: bool = False) -> Path:
    """Store the results file as a baseline; an existing baseline of that name is replaced
    only with `force` (a baseline is what CI compares against: replacing it is a decision)."""
    document = load_results(source)
    path = baseline_path(name or default_name(document), directory)
    if path.exists() and not force:
        raise ResultsError(f"{path}: a baseline of that name exists (replace it with --force)")
    # A baseline keeps what `compare` reads — verdicts, case statuses, worst errors,
    # registry entries, violation counts — and leaves the per-element violation lists
    # (90% of a results file: 4.5 of 4.6 MB for a 20-case-per-row sweep) and the case
    # files with the report they came from.
    document["baseline_of"] = str(source)
    for case in document["cases"]:
        case["case_file"] = None
        for impl in case["implementations"]:
            impl.pop("series", None)
            impl.pop("update_ratio", None)
    for row in document["rows"]:
        for info in row["implementations"].values():
            info["worst_case_file"] = None
            info["violations"] = []  # attributed_violations keeps the count
    try:
        return write_json(document, path, compact=True)  # machine-read; indented they were 1.7 times the size
    except OSError as exc:
        raise ResultsError(f"{path}: cannot write ({exc.strerror or exc})") from None
