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

from pathlib import Path
from typing import Sequence

from harness.catalogue import DEFAULT_IMPLEMENTATIONS
from harness.collect import case_entry
from harness.html_report import render_parity_html
from harness.engine import CRASH, ImplementationResult, forget_confirmed_declarations, run_case
from harness.registry import Divergence, classify
from harness.shard import in_shard
from harness.results import failed, results_document, write_json, write_text_atomic

# --------------------------------------------------------------------------- running

def _crash_result(name: str, error: BaseException) -> ImplementationResult:
    message = " ".join(str(error).split())[:400]
    return ImplementationResult(name, CRASH, f"harness error: {type(error).__name__}: {message}")


def _sweep(seed: int, examples: int | None, registry: Sequence[Divergence]) -> list:
    from harness.sweep import sweep_cases

    return list(sweep_cases(seed, examples, registry=list(registry)))


# --------------------------------------------------------------------------- writing

def write_report(out_dir: Path, document: dict, case_entries: list[dict], registry: Sequence[Divergence],
                 results_name: str = "results.json") -> None:
    """Case files first (they are never lost), then results.json and parity.html."""
    out_dir = Path(out_dir)
    for entry in case_entries:
        write_text_atomic(entry["case_text"], out_dir / entry["case_file"])
    page = render_parity_html(document, out_dir)  # rendered (reading the case files) before anything is replaced
    write_json(document, out_dir / results_name, compact=True)
    write_text_atomic(page, out_dir / "parity.html")


def print_summary(document: dict, out_dir: Path, write=print) -> None:
    compared = [n for n in document["run"]["implementations"] if n != "reference"]
    for row in document["rows"]:
        verdicts = "; ".join(f"{n}: {row['implementations'][n]['verdict']}" for n in compared)
        write(f"{row['row']:<13} {row['cases']:>4} case(s)  {verdicts}")
    coverage = document.get("coverage", {})
    partial = {name: c for name, c in coverage.items() if c["uncovered"]}
    expressible = sum(c["pairs_expressible"] for c in coverage.values())
    write(f"pairwise coverage: {len(coverage) - len(partial)} of {len(coverage)} implementation(s) cover every "
          f"expressible pair ({expressible - sum(len(c['uncovered']) for c in coverage.values())} of {expressible})"
          + "".join(f"; {name}: {c['pairs_covered']} of {c['pairs_expressible']}" for name, c in partial.items()))
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
    forget_confirmed_declarations()
    entries = []
    for sweep_case in cases:
        names = list(implementations) if sweep_case.implementations is None else \
            [n for n in sweep_case.implementations if n in implementations]
        if names == ["reference"]:
            continue  # a covering case of an implementation --impl left out
        run = None
        try:
            run = run_case(sweep_case.case, names)
            results = run.results
            for result in results:
                classify(result, sweep_case.case, registry)
        except Exception as error:  # a harness bug in one case must not lose the others
            results = [_crash_result(name, error) for name in names]
            run = None
        entries.append(case_entry(case=sweep_case.case, run=run, results=results, row=sweep_case.row, test=None,
                                  source=str(sweep_case.source), entry_id=sweep_case.id))
    document, to_save = results_document(entries, registry, source="sweep", profile=None, seed=seed)
    write_report(Path(out_dir), document, to_save, registry)
    print_summary(document, Path(out_dir))
    return 1 if failed(document) else 0
