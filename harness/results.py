"""Results files and the environment they came from.

    optim-parity/result/1    one case through the implementations (`replay --json`)
    optim-parity/results/1   a run (`pytest cases/ --parity-report DIR`, `optim-parity report`):

{"schema": "optim-parity/results/1",
 "environment": {"python", "platform", "machine", "cpu_flags": [...], "packages": {name: version}},
 "run": {"source": "pytest" | "sweep", "profile", "seed", "implementations": [...]},
 "registry": [every known-divergence entry],
 "summary": {implementation: {verdict class: number of rows}},
 "rows": [{"row", "kind", "torch_name", "mindspore_name", "claim_zh", "claim_en", "cases",
           "implementations": {name: {"verdict", "verdict_class", "cases", "statuses", "worst_ratio",
                                      "worst_case", "worst_case_file", "known", "attributed_violations",
                                      "unregistered_violations", "worst_relative_error", "worst_pass_ratio",
                                      "violations": [{"case", "quantity", "param", "shape", "dtype", "step",
                                                      "index", "expected", "actual", "error", "tolerance",
                                                      "ratio", "reference_scale", "relative_error", "rows",
                                                      "joint", "divergence"}]}}}],
 "coverage": {implementation: {"pairs_expressible", "pairs_covered", "uncovered": ["factor=class × factor=class"]}},
 "catalogue": {implementation: {"name", "framework", "call", "mode",
                                "exclusions": [{"kind", "when", "reason", "versions", "applied"}]}},
 "cases": [{"id", "row", "rows", "features", "test", "source", "case_file", "dtype", "steps", "hyperparameters",
            "params",
            "implementations": [{"implementation", "description", "status", "message", "rows",
                                 "divergence", "worst_ratio", "worst", "violation_count",
                                 "series"?, "update_ratio"?}],
            "nonfinite"?: {implementation: {"param.quantity": {"nan"|"+inf"|"-inf": first step}}}}],
 "validation"?: [{"key", "class", "spec", "frameworks": {name: {"outcome", "result", "error", "example",
                                                                "rule"}}}]}

`coverage` (harness/coverage.py): per implementation of the catalogue, how many pairs of
(factor = value class) settings its space can express, how many the run's cases covered
(ran and compared), and the uncovered ones. `rows` of a case: the other rows it exercises;
`features`: its value class per factor (harness/catalogue.py).
Every violation is listed under each row it is attributed to (harness/verdicts.py), with
the id of its case; the cases list carries each case's recipe and per-implementation
status. A case file (relative to the results file's directory) exists for the worst case
of every row x implementation and for every case with an unregistered violation or a
crash. Non-finite numbers are the strings "inf" / "nan". Deterministic: no timestamps,
no timings, cases sorted by row and id.
"""

from __future__ import annotations

import json
import platform
import re
from importlib import metadata
from pathlib import Path
from typing import Iterable

RESULT_SCHEMA = "optim-parity/result/1"
RESULTS_SCHEMA = "optim-parity/results/1"

# CPU features that change floating-point results (fused multiply-add contracts a*b+c
# into one rounding; vector widths change reduction order; bf16/fp16 units change
# half-precision paths).
FLOAT_RELEVANT_CPU_FLAGS = ("sse4_1", "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw",
                            "avx512vl", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_fp16", "asimd", "sve")


class ResultsError(ValueError):
    """A results file that cannot be used; the message is one line."""


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for package in ("optim-parity", "numpy", "torch", "mindspore", "hypothesis"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "not installed"
    return out


def cpu_flags() -> list[str]:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    match = re.search(r"^(?:flags|Features)\s*:\s*(.*)$", text, re.MULTILINE)
    flags = set(match.group(1).split()) if match else set()
    return [f for f in FLOAT_RELEVANT_CPU_FLAGS if f in flags]


def environment() -> dict:
    packages = versions()
    return {"python": packages.pop("python"), "platform": platform.platform(), "machine": platform.machine(),
            "cpu_flags": cpu_flags(), "packages": packages}


def result_document(results: Iterable, case_path: str | None = None) -> dict:
    doc = {"schema": RESULT_SCHEMA, "versions": versions()}
    if case_path is not None:
        doc["case"] = case_path
    doc["implementations"] = [r.to_json() for r in results]
    return doc


def _registry_json(registry) -> list[dict]:
    return [{"id": d.id, "row": d.row, "implementation": list(d.implementations), "when": d.when,
             "mechanism": d.mechanism, "source": d.source, "bound": d.bound,
             "max_relative_error": d.max_relative_error if d.max_relative_error != float("inf") else "inf",
             "reproducer": d.reproducer, "versions": d.versions, "applies": d.applies}
            for d in sorted(registry, key=lambda d: d.id)]


def results_document(entries: list[dict], registry, *, source: str, profile: str | None, seed: int | None,
                     env: dict | None = None) -> tuple[dict, list[dict]]:
    """The results document for case entries (harness/collect.py), and the entries
    whose case file must be written (each gets its "case_file")."""
    from harness.catalogue import describe, known
    from harness.coverage import coverage
    from harness.engine import CRASH, VIOLATION
    from harness.verdicts import REPORT_ROWS, implementation_order, row_verdicts, summary

    validation = [e for e in entries if e.get("kind") == "validation"]
    entries = [e for e in entries if e.get("kind") != "validation"]
    by_id: dict[str, dict] = {}
    for entry in entries:
        by_id.setdefault(entry["id"], entry)  # Hypothesis may run the same example twice
    order = {row: i for i, row in enumerate(REPORT_ROWS)}
    cases = sorted(by_id.values(), key=lambda e: (order.get(e["row"], len(order)), e["row"], e["id"]))
    implementations = sorted({i["implementation"] for e in cases for i in e["implementations"]},
                             key=implementation_order)
    compared = [n for n in implementations if n != "reference"]
    rows = row_verdicts(cases, {d.id: d.row for d in registry}, compared)

    needs_file = {e["id"] for e in cases
                  if any(i["status"] in (VIOLATION, CRASH) for i in e["implementations"])}
    needs_file |= {info["worst_case"] for row in rows for info in row["implementations"].values()
                   if info["worst_case"]}
    # (an entry rebuilt from a results file has its case text only if that file had it)
    needs_file = {case_id for case_id in needs_file if "case_text" in by_id[case_id]}
    files = {case_id: f"cases/{_file_name(case_id)}" for case_id in sorted(needs_file)}
    for row in rows:
        for info in row["implementations"].values():
            info["worst_case_file"] = files.get(info["worst_case"])
    listed = []
    for entry in cases:
        out = {k: v for k, v in entry.items() if k != "case_text"}
        out["case_file"] = files.get(entry["id"])
        out["implementations"] = [{k: v for k, v in impl.items() if k != "violations"}
                                  for impl in entry["implementations"]]
        listed.append(out)
    document = {
        "schema": RESULTS_SCHEMA,
        "environment": env or environment(),
        "run": {"source": source, "profile": profile, "seed": seed, "implementations": implementations},
        "registry": _registry_json(registry),
        "summary": summary(rows, compared),
        "coverage": coverage(cases, compared),
        "catalogue": {name: describe(name) for name in compared if known(name)},
        "rows": rows,
        "cases": listed,
    }
    if validation:
        from harness.validation import acceptance_summary

        document["validation"] = acceptance_summary(validation)
    return document, [dict(by_id[case_id], case_file=path) for case_id, path in files.items()]


def _file_name(case_id: str) -> str:
    return (re.sub(r"[^A-Za-z0-9._-]", "_", case_id) or "case") + ".json"


def failed(document: dict) -> bool:
    """Some implementation has an unregistered violation or crashed somewhere."""
    from harness.engine import CRASH, VIOLATION

    return any(i["status"] in (VIOLATION, CRASH) for c in document["cases"] for i in c["implementations"])


def write_json(document: dict, path: str | Path, compact: bool = False) -> Path:
    """Write atomically: a reader never sees half a file, an old file survives a failure.
    compact: no indentation (a results file of a ci run: 33 MB indented, about 2/3 of it compact)."""
    text = json.dumps(document, separators=(",", ":")) if compact else json.dumps(document, indent=1)
    return write_text_atomic(text + "\n", path)


def write_text_atomic(text: str, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except BaseException:  # a full disk, Ctrl-C, SIGTERM (harness/cli.py): no half-written .tmp left behind
        tmp.unlink(missing_ok=True)
        raise
    return path


def load_results(path: str | Path) -> dict:
    """A results file, checked enough to be used; one-line ResultsError otherwise."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ResultsError(f"{path}: cannot read ({exc.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ResultsError(f"{path}: not a results file (invalid JSON: {exc})") from None
    if not isinstance(document, dict) or document.get("schema") != RESULTS_SCHEMA:
        schema = document.get("schema") if isinstance(document, dict) else type(document).__name__
        raise ResultsError(f"{path}: not a results file (schema {schema!r}, expected {RESULTS_SCHEMA!r})")
    for key, kind in (("environment", dict), ("run", dict), ("rows", list), ("cases", list), ("registry", list)):
        if not isinstance(document.get(key), kind):
            raise ResultsError(f"{path}: corrupted results file (field {key!r} missing or not a {kind.__name__})")
    return document


def case_entries(document: dict, directory: Path | None = None) -> list[dict]:
    """The case entries (harness/collect.py) a results document was built from: each
    case with its implementations' violations gathered back from the rows they are
    listed under, and its case text when `directory` holds its case file.
    Merging shards and rebuilding verdicts goes through these."""
    violations: dict[tuple[str, str], dict[tuple, dict]] = {}
    for row in document["rows"]:
        for name, info in row["implementations"].items():
            for violation in info["violations"]:
                listed = {k: v for k, v in violation.items() if k not in ("case", "dtype", "shape", "ratio")}
                key = (violation["quantity"], violation["param"], violation["index"])
                violations.setdefault((violation["case"], name), {}).setdefault(key, listed)
    entries = []
    for case in document["cases"]:
        entry = {k: v for k, v in case.items() if k != "case_file"}
        entry["implementations"] = []
        for impl in case["implementations"]:
            found = violations.get((case["id"], impl["implementation"]), {})
            ordered = [found[k] for k in sorted(found, key=lambda k: (k[1], k[0], k[2]))]
            entry["implementations"].append(dict(impl, violations=ordered))
        if directory is not None and case.get("case_file"):
            path = Path(directory) / case["case_file"]
            try:
                entry["case_text"] = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise ResultsError(f"{path}: case file named by the results cannot be read ({exc.strerror})") from None
        entries.append(entry)
    return entries


def _validation_records(document: dict) -> list[dict]:
    """The validation outcomes of a results file, as the records they were summarised from."""
    return [{"kind": "validation", "framework": name, "key": row["key"], "class": row["class"], "spec": row["spec"],
             "value": outcome["example"], "outcome": outcome["outcome"], "result": outcome["result"],
             "error": outcome["error"], "rule": outcome["rule"]}
            for row in document.get("validation", []) for name, outcome in row["frameworks"].items()]


def _comparable_key(document: dict) -> tuple:
    run = document["run"]
    return (document["environment"].get("packages"), (run.get("profile"), run.get("seed")), run.get("source"))


def merge_documents(documents: list[tuple[Path, dict]], registry) -> tuple[dict, list[dict]]:
    """One results document from several (shards of one sweep). Refuses documents from
    different package versions, profiles or sources, and shards that overlap."""
    (first_path, first), *rest = documents
    for path, document in rest:
        if _comparable_key(document) != _comparable_key(first):
            mine, theirs = _comparable_key(first), _comparable_key(document)
            what = "package versions" if mine[0] != theirs[0] else "profiles or seeds" if mine[1] != theirs[1] else "sources"
            raise ResultsError(f"{path}: cannot merge with {first_path}: different {what} "
                               f"({_describe(theirs)} vs {_describe(mine)})")
    entries, seen = [], {}
    for path, document in documents:
        entries += _validation_records(document)
        for entry in case_entries(document, path.parent):
            if entry["id"] in seen:
                raise ResultsError(f"{path}: case {entry['id']} is also in {seen[entry['id']]} (overlapping shards)")
            seen[entry["id"]] = path
            entries.append(entry)
    return results_document(entries, registry, source=first["run"]["source"], profile=first["run"]["profile"],
                            seed=first["run"]["seed"], env=first["environment"])


def _describe(key: tuple) -> str:
    packages, (profile, seed), source = key
    versions_text = ", ".join(f"{k} {v}" for k, v in sorted((packages or {}).items()) if k != "optim-parity")
    return f"{versions_text}; profile {profile}, seed {seed}; source {source}"
