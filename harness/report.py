"""`optim-parity report` and the report writer behind `pytest --parity-report DIR`.

`build_report` runs the deterministic sweep (harness/sweep.py): every case through
every implementation in lockstep with the reference, classified against the registry.
`write_report` writes a results document (harness/results.py, schema
optim-parity/results/1) to a directory: the case files it names (cases/<id>.json, or
cases/<id>.npz for a case over results.BINARY_CASE_ELEMENT_STEPS; replay them with
`optim-parity replay`), then results.json and parity.html, each
atomically (temp file + rename) and only after both have been rendered: a failure
leaves the previous report untouched.

Both outputs are deterministic: the same cases, registry and versions give
byte-identical files (no timestamps, no timings, cases sorted by row and id).
Row verdicts: harness/verdicts.py.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Sequence

from harness.casefile import case_from_dict, save_case
from harness.catalogue import DEFAULT_IMPLEMENTATIONS, known, outside
from harness.collect import case_entry
from harness.console import Progress, findings_reason, statuses_reason, verdict_line
from harness.engine import ImplementationResult, record_implementation, run_case
from harness.html_report import render_parity_html
from harness.isolation import reset_declarations
from harness.recording import declaration_kind
from harness.registry import Divergence, classify
from harness.results import failed, results_document, write_json, write_text_atomic
from harness.shard import in_shard
from harness.statuses import CRASH, VIOLATION
from harness.sweep import DEFAULT_EXAMPLES, sweep_cases
from harness.verdicts import UNREGISTERED

# --------------------------------------------------------------------------- running

def _crash_result(name: str, error: BaseException) -> ImplementationResult:
    message = " ".join(str(error).split())[:400]
    return ImplementationResult(name, CRASH, f"harness error: {type(error).__name__}: {message}")


def _sweep(seed: int, examples: int, registry: Sequence[Divergence], progress: Progress | None = None) -> list:
    hook = (lambda what: progress.update(detail=what, force=True)) if progress is not None else None
    return list(sweep_cases(seed, examples, registry=list(registry), progress=hook))


def _names(sweep_case, implementations: Sequence[str]) -> list[str]:
    """The implementations a sweep case runs on; none for a covering case of an
    implementation --impl left out."""
    names = list(implementations) if sweep_case.implementations is None else \
        [n for n in sweep_case.implementations if n in implementations]
    return [] if names == ["reference"] else names


def _confirmations_to_replay(cases: list, mine: list[bool], implementations: Sequence[str]) -> dict[int, list[str]]:
    """For a shard: per position of another shard's case in the whole sweep, the
    implementations to record it on (result unused) before the shard's own cases.

    A case an implementation is declared not to take is measured once per worker and
    kind (harness/recording.py, confirmed declarations); a later case of the kind says
    that it was "not run again" and carries the error of the case that confirmed it.
    Which case that was depends on what ran before in the process: in a shard, the
    cases of the other shards did not. Recording them (only those of a kind the shard
    itself has later, on the implementations concerned; a kind already confirmed costs a
    round trip) leaves every worker, when a case of the shard runs, with the
    confirmations the whole run had there, so each case's message, and the merged
    results file, are the whole run's byte for byte."""
    kinds: list[list[tuple[str, str]]] = []
    last_of_mine: dict[tuple[str, str], int] = {}
    for position, sweep_case in enumerate(cases):
        declared = [(name, declaration_kind(found.reason)) for name in _names(sweep_case, implementations)
                    if known(name) and (found := outside(name, sweep_case.case)) is not None]
        kinds.append(declared)
        if mine[position]:
            last_of_mine.update((key, position) for key in declared)
    return {position: names for position in range(len(cases)) if not mine[position]
            if (names := [name for name, kind in kinds[position] if last_of_mine.get((name, kind), -1) > position])}


# --------------------------------------------------------------------------- writing

def write_report(out_dir: Path, document: dict, case_entries: list[dict], registry: Sequence[Divergence],
                 results_name: str = "results.json") -> None:
    """Case files first (they are never lost), then results.json and parity.html."""
    out_dir = Path(out_dir)
    for entry in case_entries:
        path = out_dir / entry["case_file"]
        if path.suffix == ".npz":
            _write_binary_case(entry["case_text"], path)
        else:
            write_text_atomic(entry["case_text"], path)
    page = render_parity_html(document, out_dir)  # rendered (reading the case files) before anything is replaced
    write_json(document, out_dir / results_name, compact=True)
    write_text_atomic(page, out_dir / "parity.html")


def _write_binary_case(case_text: str, path: Path) -> None:
    """The case of an entry's case text (harness/collect.py: JSON, the only form an entry
    carries, through the pytest workers' parts files too) as an .npz case file, written
    atomically by save_case; its temp file is not left behind by a failure."""
    case = case_from_dict(json.loads(case_text))
    try:
        save_case(case, path)
    except BaseException:  # a full disk, Ctrl-C, SIGTERM, as write_text_atomic
        path.with_suffix(path.suffix + ".tmp").unlink(missing_ok=True)  # save_case's temp file
        raise


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


# --------------------------------------------------------------------------- verdict line

def report_verdict(document: dict, code: int) -> str:
    """The verdict line of a results document (report, merge): its counts are of
    implementation results (one implementation on one case), so FAIL exactly when
    results.failed() holds; an implementation with violations is named with the rows
    the table marks UNREGISTERED, one that crashed with its number of cases."""
    statuses = Counter(i["status"] for c in document["cases"] for i in c["implementations"]
                       if i["implementation"] != "reference")
    crashes = Counter(i["implementation"] for c in document["cases"] for i in c["implementations"]
                      if i["status"] == CRASH)
    violating: dict[str, list[str]] = {}
    for row in document["rows"]:
        for name, info in row["implementations"].items():
            if info["verdict"] == UNREGISTERED:
                violating.setdefault(name, []).append(row["row"])
    if not code:
        return verdict_line(code, statuses_reason(statuses, f"{sum(statuses.values())} result(s) of "
                                                            f"{len(document['cases'])} case(s)"))
    return verdict_line(code, findings_reason(
        statuses[VIOLATION], [f"{name} on {', '.join(rows)}" for name, rows in violating.items()],
        sum(crashes.values()), [f"{name} in {count} case(s)" for name, count in crashes.items()]))


# --------------------------------------------------------------------------- entry point

def build_report(out_dir: Path, *, registry: Sequence[Divergence], seed: int = 0, examples: int | None = None,
                 cases=None, implementations: Sequence[str] = DEFAULT_IMPLEMENTATIONS,
                 shard: tuple[int, int] | None = None, progress: Progress | None = None) -> int:
    """Run `cases` (default: the sweep for `seed`/`examples`; with `shard`, only the
    cases of that shard, harness/shard.py) and write the report.

    Returns 1 when some implementation has an unregistered violation or crashed in
    some case, else 0, and prints the summary and the verdict line. progress: the
    command line's progress display (harness/console.py), told each case and
    implementation as it runs.
    """
    registry = list(registry)
    if cases is None:
        examples = DEFAULT_EXAMPLES if examples is None else examples
        cases = _sweep(seed, examples, registry, progress)
    cases = list(cases)
    ids = [c.id for c in cases]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"duplicate case ids: {duplicates}")
    mine = [in_shard(c.id, shard) for c in cases]
    replay = _confirmations_to_replay(cases, mine, implementations) if shard is not None else {}
    reset_declarations()
    entries = []
    hooks = {}
    if progress is not None:
        progress.total = sum(1 for position, c in enumerate(cases) if mine[position] and _names(c, implementations))
    for position, sweep_case in enumerate(cases):
        for name in replay.get(position, ()):
            record_implementation(name, sweep_case.case)
        names = _names(sweep_case, implementations)
        if not mine[position] or not names:
            continue
        if progress is not None:
            def on_implementation(_position: int, name: str, case_id: str = sweep_case.id) -> None:
                progress.update(len(entries), f"{case_id} on {name}")
            hooks = {"on_implementation": on_implementation}
        run = None
        try:
            run = run_case(sweep_case.case, names, **hooks)
            results = run.results
            for result in results:
                classify(result, sweep_case.case, registry)
        except Exception as error:  # a harness bug in one case must not lose the others
            results = [_crash_result(name, error) for name in names]
            run = None
        entries.append(case_entry(case=sweep_case.case, run=run, results=results, row=sweep_case.row, test=None,
                                  source=str(sweep_case.source), entry_id=sweep_case.id))
    document, to_save = results_document(entries, registry, source="sweep", profile=None, seed=seed,
                                         examples=examples, shard=shard)
    if progress is not None:
        progress.update(len(entries), "writing the report", force=True)
    write_report(Path(out_dir), document, to_save, registry)
    if progress is not None:
        progress.close()
    print_summary(document, Path(out_dir))
    code = 1 if failed(document) else 0
    print(report_verdict(document, code))
    return code
