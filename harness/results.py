"""Result files (schema "optim-parity/result/1") and the environment they came from."""

from __future__ import annotations

import json
import platform
from importlib import metadata
from pathlib import Path
from typing import Iterable

from harness.engine import ImplementationResult

RESULT_SCHEMA = "optim-parity/result/1"


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for package in ("optim-parity", "numpy", "torch", "mindspore", "hypothesis"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "not installed"
    return out


def result_document(results: Iterable[ImplementationResult], case_path: str | None = None) -> dict:
    doc = {"schema": RESULT_SCHEMA, "versions": versions()}
    if case_path is not None:
        doc["case"] = case_path
    doc["implementations"] = [r.to_json() for r in results]
    return doc


def write_json(document: dict, path: str | Path) -> Path:
    """Write atomically: a reader never sees half a file, an old file survives a failure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(document, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
