"""The `optim-parity` command line.

    optim-parity replay CASE.json [--impl NAME ...] [--json OUT]
    optim-parity report [--out DIR] [--examples N] [--seed S] [--shard I/N] [--impl NAME ...]
    optim-parity merge A.json B.json ... -o OUT.json
    optim-parity baseline save --from RESULTS.json [--name NAME]
    optim-parity compare OLD.json NEW.json [--html OUT] [--threshold X]
    optim-parity matrix DIR [--out FILE]
    optim-parity validate [--json OUT]
    optim-parity bench [--cases N] [--repeat R] [--impl NAME ... | --impl all] [--json OUT]
    optim-parity bench --sizes 1e3,1e5,1e6 [--steps N] [--repeat R] [--impl NAME ...] [--json OUT]

Exit codes: 0 every implementation passes, is unsupported or only shows known
divergences; 1 a violation or a crash; 2 bad input (one line on stderr); 3 a bug of the
harness itself (one line on stderr naming a log file with the traceback); 130 / 143
interrupted (SIGINT / SIGTERM). replay, report, merge, validate and bench end with a
`verdict: OK|FAIL - why; exit N` line (harness/console.py); all but merge keep a progress
line on stderr while they run, on a terminal only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import textwrap
import traceback
from collections import Counter
from pathlib import Path
from typing import Sequence

# acceptance, bench and report are read as module attributes when a command runs (as the
# imports inside the commands did), so that a test can replace one of their functions.
from harness import acceptance, bench, bench_sizes, report
from harness.baselines import BASELINES_DIR, baseline_path, default_name, save_baseline
from harness.casefile import CaseError, load_case
from harness.catalogue import DEFAULT_IMPLEMENTATIONS, IMPLEMENTATIONS, extra_implementations
from harness.console import Progress, findings_reason, statuses_reason, verdict_line
from harness.engine import run_case
from harness.isolation import Terminated, ignore_interrupts, sigterm_raises_terminated, stop_workers
from harness.matrix import write_matrix
from harness.registry import DEFAULT_REGISTRY, RegistryError, classify, load_registry
from harness.results_diff import DEFAULT_THRESHOLD, diff_results, format_diff, render_diff_html
from harness.results import (ResultsError, failed, load_results, merge_documents, result_document, write_json,
                             write_text_atomic)
from harness.settings import SettingsError, check
from harness.shard import ShardError, parse_shard
from harness.statuses import CRASH, VIOLATION
from harness.sweep import DEFAULT_EXAMPLES
from harness.acceptance import RulesError

EXIT_OK, EXIT_FINDINGS, EXIT_BAD_INPUT, EXIT_HARNESS_BUG = 0, 1, 2, 3


class UsageError(Exception):
    pass


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's, wrapping at spaces only: a name such as mindspore-mint-graph is never
    cut at a hyphen (the implementation lists in the epilogs)."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False, break_long_words=False)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return textwrap.fill(" ".join(text.split()), width, initial_indent=indent, subsequent_indent=indent,
                             break_on_hyphens=False, break_long_words=False)


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # one line, exit 2 (argparse prints usage too)
        raise UsageError(message if self.prog == "optim-parity" else f"{self.prog.removeprefix('optim-parity ')}: {message}")


def _parser() -> argparse.ArgumentParser:
    extras = list(extra_implementations())
    names = sorted({*IMPLEMENTATIONS, *extras})
    # The implementations, listed once per subcommand that takes --impl (its epilog,
    # wrapped), in the catalogue's order; --impl itself shows NAME.
    listed = ", ".join(f"{name} (the spec)" if name == "reference" else name for name in IMPLEMENTATIONS) \
        + "".join(f", {name} (test-only)" for name in extras)
    count = len(DEFAULT_IMPLEMENTATIONS)

    def epilog(default: str, or_all: bool = False) -> str:
        return f"NAME is one of the {len(IMPLEMENTATIONS)} implementations of the catalogue " \
               f"(harness/catalogue.py): {listed}{', or all' if or_all else ''}. Default: {default}."

    parser = _Parser(prog="optim-parity", description="Differential conformance harness for Adam.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    replay = sub.add_parser("replay", help="run one case file through the implementations",
                            epilog=epilog(f"all {count}, in this order"))
    replay.add_argument("case", help="case file (schema optim-parity/case/1)")
    replay.add_argument("--impl", action="extend", nargs="+", choices=names, metavar="NAME",
                        help=f"implementation(s) to run: one or more NAMEs after one --impl, or --impl repeated "
                             f"(default: all {count}, listed below)")
    replay.add_argument("--json", metavar="OUT", help="write a result file (optim-parity/result/1)")
    replay.add_argument("--registry", metavar="TOML", help="known-divergence registry (default: cases/known_divergences.toml)")

    report_parser = sub.add_parser("report", help="run the default sweep and write parity.html + results.json",
                                   epilog=epilog(f"all {count}. The spec always runs, whatever --impl names; an "
                                                 "implementation's pairwise covering cases run on it alone"))
    report_parser.add_argument("--out", default="reports/latest", help="output directory (default: reports/latest)")
    report_parser.add_argument("--examples", type=int, default=None,
                               help=f"generated cases per row (default {DEFAULT_EXAMPLES})")
    report_parser.add_argument("--seed", type=int, default=0, help="sweep seed (default 0)")
    report_parser.add_argument("--registry", metavar="TOML", help="known-divergence registry")
    report_parser.add_argument("--shard", metavar="I/N", help="run only shard I of N of the sweep (merge with `merge`)")
    report_parser.add_argument("--impl", action="extend", nargs="+", choices=names, metavar="NAME",
                               help=f"implementation(s) to run every case on (default: all {count}, listed below; "
                                    f"the spec always runs)")

    merge = sub.add_parser("merge", help="join results files of shards of one sweep into one results file")
    merge.add_argument("results", nargs="+", help="results.json files (schema optim-parity/results/1)")
    merge.add_argument("-o", "--out", required=True, help="merged results.json (parity.html and cases/ beside it)")
    merge.add_argument("--registry", metavar="TOML", help="known-divergence registry")

    baseline = sub.add_parser("baseline", help="store a results file as a committed baseline")
    baseline_sub = baseline.add_subparsers(dest="baseline_command", required=True, parser_class=_Parser)
    save = baseline_sub.add_parser("save", help="copy a results file to reports/baselines/NAME.json")
    save.add_argument("--from", dest="source", required=True, help="results.json to store")
    save.add_argument("--name", help="baseline name (default: framework versions and profile)")
    save.add_argument("--dir", default=None, help="baselines directory (default: reports/baselines)")
    save.add_argument("--force", action="store_true", help="replace an existing baseline of that name")

    compare = sub.add_parser("compare", help="what changed between two results files; exit 1 on a regression")
    compare.add_argument("old", help="results file or baseline (the reference point); @baseline: the committed "
                                     "baseline for NEW's versions and profile")
    compare.add_argument("new", help="results file to check")
    compare.add_argument("--html", metavar="OUT", help="also write an HTML diff report")
    compare.add_argument("--json", metavar="OUT", help="also write the changes as JSON (optim-parity/compare/1)")
    compare.add_argument("--threshold", type=float, default=None,
                         help="'error grew' when error/tolerance grows more than this factor (default 2)")

    matrix = sub.add_parser("matrix", help="the version-matrix page from DIR/<env>/results.json; exit 1 when a "
                                           "step between consecutive versions has a regression")
    matrix.add_argument("directory", help="directory of the matrix runs (reports/matrix)")
    matrix.add_argument("--out", default=None, help="page to write (default: DIR/index.html)")

    validate = sub.add_parser("validate", help="which hyperparameter values each framework accepts, side by side")
    validate.add_argument("--json", metavar="OUT", help="also write the table as JSON")

    bench_count = len(bench.DEFAULT_IMPLEMENTATIONS)
    bench_parser = sub.add_parser("bench", help="the harness against the bare framework loop, per implementation",
                                  epilog=epilog(f"all (the {bench_count}; about 2 min with 20 cases)", or_all=True))
    bench_parser.add_argument("--cases", type=int, default=None, help="generated cases per case set (default 20, seed 0)")
    bench_parser.add_argument("--repeat", type=int, default=None,
                              help="runs of every case each way, the fastest counted (default 3)")
    # bench.BARE: the implementations with a bare loop, all registered ones
    bench_parser.add_argument("--impl", action="extend", nargs="+", choices=[*bench.BARE, "all"], metavar="NAME",
                              help=f"implementation(s), or all (default: all {bench_count}, listed below)")
    bench_parser.add_argument("--json", metavar="OUT", help="also write the figures as JSON")
    bench_parser.add_argument("--sizes", type=bench_sizes.parse_sizes, metavar="N,N,...",
                              help="size mode: per size (elements, e.g. 1e3,1e5,1e6) one float32 parameter, the "
                                   "whole replay process against the bare loop and the harness's parts in ns per "
                                   "element-step (its default --impl: the spec and each framework's plain Adam)")
    bench_parser.add_argument("--steps", type=int, default=None,
                              help=f"size mode: steps of each case (default {bench_sizes.DEFAULT_STEPS})")
    return parser


def _format_number(x: float) -> str:
    """A short number: the worst error as a multiple of its tolerance."""
    return f"{x:.6g}"


def _exact(x: float) -> str:
    """The shortest text that reads back as the same float (repr): the values that differ."""
    return repr(float(x))


def format_result_line(result) -> str:
    head = f"{result.implementation:<21} {result.status:<14}"
    if result.status in ("unsupported", "no-counterpart", "crash"):
        return f"{head} {result.message.splitlines()[0] if result.message else ''}"
    worst = result.worst
    if worst is None:
        return f"{head} identical to the reference"
    where = f"{worst.quantity} {worst.param!r} step {worst.step} [{worst.index}]"
    line = f"{head} worst {_format_number(result.worst_ratio)}x tolerance at {where}"
    if result.violations:
        first = min(result.violations, key=lambda v: (v.step, v.param, v.index))
        line += (
            f"; {result.violation_count} element(s) out; first: {first.quantity} {first.param!r} step {first.step}"
            f" [{first.index}] expected {_exact(first.expected)} got {_exact(first.actual)}"
            f" (error {_exact(first.error)} > tolerance {_exact(first.tolerance)})"
            f"; rows={','.join(result.rows)}"
        )
        if result.divergence:
            line += f"; known: {','.join(result.divergence)}"
    if result.message:
        line += f"; note: {result.message.splitlines()[0]}"
    return line


def _load_registry(path: str | None):
    return load_registry(path or DEFAULT_REGISTRY)


def cmd_replay(args: argparse.Namespace) -> int:
    case = load_case(args.case)
    registry = _load_registry(args.registry)
    names = list(args.impl or DEFAULT_IMPLEMENTATIONS)
    with Progress("replay", total=len(names)) as progress:
        progress.update(0, "the reference", force=True)
        run = run_case(case, names, keep_trajectories=False,
                       on_implementation=lambda position, name: progress.update(position, name, force=True))
    for result in run.results:
        classify(result, case, registry)
        print(format_result_line(result))
    if args.json:
        write_json(result_document(run.results, str(args.case)), args.json)
    violating = [f"{r.implementation} on {', '.join(r.rows) or 'no row'}" for r in run.results
                 if r.status == VIOLATION]
    crashing = [r.implementation for r in run.results if r.status == CRASH]
    code = EXIT_FINDINGS if violating or crashing else EXIT_OK
    print(verdict_line(code, findings_reason(len(violating), violating, len(crashing), crashing) if code else
                       statuses_reason(Counter(r.status for r in run.results), f"{len(run.results)} implementation(s)")))
    return code


def cmd_report(args: argparse.Namespace) -> int:
    shard = parse_shard(args.shard) if args.shard else None
    registry = _load_registry(args.registry)
    if args.examples is not None and args.examples < 1:
        raise UsageError("report: --examples must be at least 1")
    kwargs = {"implementations": ["reference", *dict.fromkeys(n for n in args.impl if n != "reference")]} \
        if args.impl else {}
    with Progress("report") as progress:  # build_report prints the summary and the verdict line
        return report.build_report(Path(args.out), registry=registry, seed=args.seed, examples=args.examples, shard=shard,
                            progress=progress, **kwargs)


def cmd_merge(args: argparse.Namespace) -> int:
    documents = [(Path(p), load_results(p)) for p in args.results]
    registry = _load_registry(args.registry)
    document, to_save = merge_documents(documents, registry)
    out = Path(args.out)
    if out.suffix != ".json":
        raise UsageError(f"merge: -o expects a .json file path, got {args.out!r}")
    report.write_report(out.parent, document, to_save, registry, results_name=out.name)
    report.print_summary(document, out.parent)
    code = EXIT_FINDINGS if failed(document) else EXIT_OK
    print(report.report_verdict(document, code))
    return code


def cmd_baseline(args: argparse.Namespace) -> int:
    path = save_baseline(args.source, args.name, Path(args.dir) if args.dir else BASELINES_DIR, force=args.force)
    print(f"wrote {path}")
    return EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    threshold = DEFAULT_THRESHOLD if args.threshold is None else args.threshold
    if not threshold >= 1.0:
        raise UsageError("compare: --threshold must be a factor of at least 1")
    new = load_results(args.new)
    if args.old == "@baseline":
        old_path = baseline_path(default_name(new))
        if not old_path.exists():
            raise UsageError(f"compare: no committed baseline for these versions ({old_path}); create it with "
                             f"`optim-parity baseline save --from {args.new}`")
        print(f"baseline: {old_path}")
        old = load_results(old_path)
    else:
        old_path = args.old
        old = load_results(args.old)
    diff = diff_results(old, new, threshold, names=(str(old_path), args.new))
    for line in format_diff(diff):
        print(line)
    if args.html:
        write_text_atomic(render_diff_html(diff), args.html)
    if args.json:
        write_json(diff, args.json)
    return EXIT_FINDINGS if diff["regressions"] else EXIT_OK


def cmd_matrix(args: argparse.Namespace) -> int:
    out = Path(args.out) if args.out else Path(args.directory) / "index.html"
    summary = write_matrix(Path(args.directory), out)
    for step in summary["steps"]:
        print(f"{step['old']} -> {step['new']}: {step['regressions']} regression(s), {len(step['changes'])} change(s)")
    print(f"wrote {out}")
    return EXIT_FINDINGS if any(step["regressions"] for step in summary["steps"]) else EXIT_OK


def _agrees_with_spec(row: dict, framework: str) -> bool | None:
    """Whether a framework's outcome is the spec's (accepted as the spec computes inside
    its domain, refused outside it); None: the framework has no such argument."""
    outcome = row[framework]
    if outcome == "no counterpart":
        return None
    if row["spec"] == "in domain":
        return outcome == "accepted, as spec"
    return outcome.startswith(("rejected", "step fails"))


def format_validation_rows(table: list[dict], frameworks: Sequence[str], width: int) -> list[str]:
    """One block per key and value: `key = value  (class; spec: in domain | outside: why)`,
    then one line per framework with its whole outcome (the framework's error message
    uncut), wrapped at `width` under itself."""
    label = max(len(name) for name in frameworks) + 2
    lines = []
    for position, row in enumerate(table):
        if position and row["key"] != table[position - 1]["key"]:
            lines.append("")
        spec = "in domain" if row["spec"] == "in domain" else f"outside: {row['spec']}"
        lines.append(f"{row['key']} = {row['value']}  ({row['class']}; spec: {spec})")
        for name in frameworks:
            lines += textwrap.wrap(row[name], max(width, 40), initial_indent=f"  {name:<{label}}",
                                   subsequent_indent=" " * (label + 2), break_on_hyphens=False,
                                   break_long_words=False) or [f"  {name}"]
    return lines


def cmd_validate(args: argparse.Namespace) -> int:
    table: list[dict] = []
    values = [(key, value) for key, listed in acceptance.REPRESENTATIVES.items() for value in listed]
    with Progress("validate", total=len(values)) as progress:
        for key, value in values:  # the rows acceptance_table(REPRESENTATIVES) gives, one at a time
            progress.update(len(table), f"{key} = {value!r}", force=True)
            table += acceptance.acceptance_table({key: [value]})
    for line in format_validation_rows(table, acceptance.FRAMEWORKS, shutil.get_terminal_size((100, 24)).columns - 1):
        print(line)
    if args.json:
        write_json({"schema": "optim-parity/validation/1", "rows": table}, args.json)
    other = {name: sum(_agrees_with_spec(row, name) is False for row in table) for name in acceptance.FRAMEWORKS}
    # Information, not a failure: cases/test_hyperparameter_validation.py holds the outcomes
    # to the rules of cases/hyperparameter_acceptance.toml.
    print(verdict_line(EXIT_OK, f"{len(table)} value(s) of {len(acceptance.REPRESENTATIVES)} hyperparameter(s) probed (a table, "
                                f"no pass/fail); not as the spec's domain says: "
                                + ", ".join(f"{name} {count}" for name, count in other.items())))
    return EXIT_OK


def cmd_bench(args: argparse.Namespace) -> int:
    sizes = args.sizes is not None
    if sizes and args.cases is not None:
        raise UsageError("bench: --cases and --sizes are two modes; give one")
    if not sizes and args.steps is not None:
        raise UsageError("bench: --steps needs --sizes")
    cases = bench.DEFAULT_CASES if args.cases is None else args.cases
    if cases < 1:
        raise UsageError("bench: --cases must be at least 1")
    steps = bench_sizes.DEFAULT_STEPS if args.steps is None else args.steps
    if steps < 1:
        raise UsageError("bench: --steps must be at least 1")
    repeat = (bench_sizes.DEFAULT_REPEAT if sizes else bench.DEFAULT_REPEAT) if args.repeat is None else args.repeat
    if repeat < 1:
        raise UsageError("bench: --repeat must be at least 1")
    names = args.impl or (bench_sizes.DEFAULT_IMPLEMENTATIONS if sizes else bench.DEFAULT_IMPLEMENTATIONS)
    if "all" in names:
        names = list(bench.DEFAULT_IMPLEMENTATIONS)
    if sizes:
        return bench_sizes.run_size_bench(args.sizes, list(dict.fromkeys(names)), steps, args.json, repeat=repeat)
    return bench.run_bench(cases, list(dict.fromkeys(names)), args.json, repeat=repeat)


def _write_traceback_log() -> str:
    fd, path = tempfile.mkstemp(prefix="optim-parity-error-", suffix=".log")
    with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as log:
        log.write(f"optim-parity {' '.join(sys.argv[1:])}\n")
        traceback.print_exc(file=log)
    return path


# The output paths of each command: (argument, kind), kind "file" or "directory".
OUTPUTS = {"replay": (("json", "file"),), "report": (("out", "directory"),), "merge": (("out", "file"),),
           "compare": (("html", "file"), ("json", "file")), "matrix": (("out", "file"),),
           "validate": (("json", "file"),), "bench": (("json", "file"),)}


def check_outputs(args: argparse.Namespace) -> None:
    """Every output path of the command can be written: a file path that is not a
    directory, a directory path that is not a file, under a parent that is (or can
    become) a writable directory. Checked before the command runs."""
    for attribute, kind in OUTPUTS.get(args.command, ()):
        value = getattr(args, attribute, None)
        if value is None:
            continue
        path = Path(value)
        if kind == "file" and (path.is_dir() or value.endswith(os.sep)):
            raise UsageError(f"{args.command}: output {value!r} is a directory; give a file path")
        if kind == "directory" and path.exists() and not path.is_dir():
            raise UsageError(f"{args.command}: output directory {value!r} is an existing file")
        existing = path if kind == "directory" and path.is_dir() else path.parent
        while not existing.exists():
            existing = existing.parent
        if not existing.is_dir():
            raise UsageError(f"{args.command}: cannot create {value!r}: {str(existing)!r} is a file")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise UsageError(f"{args.command}: cannot write {value!r}: {str(existing)!r} is not writable")


def main(argv: Sequence[str] | None = None) -> int:
    restore_signal_handlers = sigterm_raises_terminated()  # `kill PID` ends like Ctrl-C
    try:
        args = _parser().parse_args(argv)
        command = {"replay": cmd_replay, "report": cmd_report, "bench": cmd_bench, "merge": cmd_merge,
                   "baseline": cmd_baseline, "compare": cmd_compare, "matrix": cmd_matrix,
                   "validate": cmd_validate}[args.command]
        check()  # the environment's settings, before any work
        check_outputs(args)  # before a sweep of minutes, not after it
        return command(args)
    except (UsageError, CaseError, RegistryError, ResultsError, ShardError, RulesError, SettingsError) as exc:
        print(f"optim-parity: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (KeyboardInterrupt, Terminated) as interruption:
        ignore_interrupts()  # ending anyway: a second Ctrl-C must not break the clean-up with a traceback
        stop_workers()  # busy ones would record to the end of their case for nobody
        terminated = isinstance(interruption, Terminated)
        print(f"optim-parity: {'terminated' if terminated else 'interrupted'}", file=sys.stderr)
        return 143 if terminated else 130  # 128 + SIGTERM / SIGINT, as a shell reports them
    except BrokenPipeError:  # `optim-parity ... | head`: the reader left; not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:  # a bug of ours: one line here, the traceback in a file to attach to a report
        log = _write_traceback_log()
        print(f"optim-parity: internal error ({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''})"
              f"; this is a bug in optim-parity, please report it with {log}", file=sys.stderr)
        return EXIT_HARNESS_BUG
    finally:
        restore_signal_handlers()


if __name__ == "__main__":
    sys.exit(main())
