"""Results and baseline files are untrusted input (other machines, CI artifacts).

Every command that reads them — compare, merge, matrix, baseline save — ends with a
result (exit 0/1), or exit 2 and one line on stderr naming the file and the JSON path
of the offending field: never a traceback, never an internal error (exit 3). The files
are variants of a real results file: a small report made once per session through the
real frameworks (an eps case with MindSpore's known divergence gives rows with
violations, plot series and case files).
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.casefile import case_from_dict
from harness.cli import main
from harness.conformance import default_registry
from harness.pytest_plugin import scaled
from harness.report import build_report
from harness.sweep import SweepCase
from tests.hostile_inputs import json_file

ROOT = Path(__file__).resolve().parent.parent
IMPLEMENTATIONS = ("reference", "torch", "mindspore")


def _case(lr, grads=((0.1, -0.2), (0.3, 0.05)), **hyperparameters):
    return case_from_dict({"schema": "optim-parity/case/1", "dtype": "float32",
                           "hyperparameters": {"lr": lr, **hyperparameters},
                           "params": [{"name": "w", "shape": [2], "value": [0.5, -1.0]}],
                           "grads": [[list(g)] for g in grads]})


CASES = [SweepCase("lr-000", "lr", "generated", _case(0.1)),
         SweepCase("lr-001", "lr", "generated", _case(0.01)),
         SweepCase("weight_decay-000", "weight_decay", "generated", _case(0.01, weight_decay=0.5)),
         # Gradients of 1e-6 with eps 1e-8: MindSpore's eps placement (a known entry), so the
         # rows list violations, the case has a plot series and a case file.
         SweepCase("eps-000", "eps", "generated", _case(0.001, grads=((1e-6, -1e-6), (1e-6, 1e-6), (1e-6, -1e-6)))),
         # A NaN gradient: the case lists where each implementation went non-finite. (Sorted
         # last: the cases above keep their places, which MUTATIONS name.)
         SweepCase("extreme_gradients-000", "extreme_gradients", "generated", _case(0.01, grads=(("nan", 0.1),
                                                                                                  (0.2, 0.1))))]


@pytest.fixture(scope="session")
def report(tmp_path_factory) -> Path:
    """A real report: results.json and its case files."""
    directory = tmp_path_factory.mktemp("report")
    build_report(directory, registry=list(default_registry()), cases=CASES, implementations=IMPLEMENTATIONS)
    return directory


@pytest.fixture(scope="session")
def document(report) -> dict:
    return json.loads((report / "results.json").read_text(encoding="utf-8"))


def _first_violation(document: dict) -> dict:  # MindSpore's, on eps-000
    return next(info["violations"][0] for row in document["rows"] for info in row["implementations"].values()
                if info["violations"])


def _first_series(document: dict) -> dict:
    return next(impl["series"] for case in document["cases"] for impl in case["implementations"] if "series" in impl)


def _set(path: tuple, value):
    """A mutation: the value at `path` replaced (or added)."""
    def mutate(document: dict) -> dict:
        parent = document
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = value
        return document
    return mutate


def _delete(path: tuple):
    def mutate(document: dict) -> dict:
        parent = document
        for key in path[:-1]:
            parent = parent[key]
        del parent[path[-1]]
        return document
    return mutate


def _change(pick, **fields):
    """A mutation: fields of the object `pick` finds updated (None: deleted)."""
    def mutate(document: dict) -> dict:
        found = pick(document)
        for name, value in fields.items():
            if value is None:
                del found[name]
            else:
                found[name] = value
        return document
    return mutate


def _longer_series(document: dict) -> dict:
    _first_series(document)["steps"].append(99)
    return document


def _two_cases_of_one_id(document: dict) -> dict:
    document["cases"][1]["id"] = document["cases"][0]["id"]
    return document


# (id, mutation, what the one line must name: the JSON path of the field and the problem)
MUTATIONS = [
    ("status outside the known set", _set(("cases", 3, "implementations", 2, "status"), "x"),
     "cases[3].implementations[2].status: expected one of ['pass', 'known', 'violation'"),
    ("a case's implementations a string", _set(("cases", 0, "implementations"), "torch"),
     "cases[0].implementations: expected a list, got 'torch'"),
    ("a row's implementations a list", _set(("rows", 0, "implementations"), ["torch"]),
     "rows[0].implementations: expected an object, got a list"),
    ("a violation without its step", _change(_first_violation, step=None), ".violations[0].step: missing"),
    ("a number as a string", _set(("cases", 0, "implementations", 1, "worst_ratio"), "0.5"),
     "cases[0].implementations[1].worst_ratio: expected a number or one of"),
    ("a count as a string", _set(("cases", 0, "steps"), "2"), "cases[0].steps: expected a count"),
    ("a count as true", _set(("rows", 0, "cases"), True), "rows[0].cases: expected a count"),
    ("a count below 0", _set(("rows", 0, "implementations", "torch", "attributed_violations"), -1),
     "rows[0].implementations.torch.attributed_violations: expected a count"),
    ("environment.packages a list", _set(("environment", "packages"), ["torch"]),
     "environment.packages: expected an object, got a list"),
    ("a package version a number", _set(("environment", "packages", "torch"), 2.13),
     "environment.packages.torch: expected a string"),
    ("a registry entry a string", _set(("registry", 0), "mindspore-eps"),
     "registry[0]: expected an object, got 'mindspore-eps'"),
    ("a registry bound a list", _set(("registry", 0, "max_relative_error"), [1.5]),
     "registry[0].max_relative_error: expected a number"),
    ("a section missing", _delete(("rows",)), "rows: missing"),
    ("run.implementations a string", _set(("run", "implementations"), "torch"),
     "run.implementations: expected a list"),
    ("one level of nesting too many", _set(("cases", 0, "params", 0, "shape"), [[2]]),
     "cases[0].params[0].shape[0]: expected a count"),
    ("a series with more steps than ratios", _longer_series, ".series.ratio: "),
    ("a violation of a parameter its case lacks", _change(_first_violation, param="nope"),
     ".violations[0].param: 'nope' is not a parameter of case eps-000"),
    ("a violation outside its parameter", _change(_first_violation, index=2),
     ".violations[0].index: 2 is outside parameter 'w' of shape [2]"),
    ("a violation past its case's steps", _change(_first_violation, step=4),
     ".violations[0].step: 4 is past the 3 step(s) of case eps-000"),
    ("two cases of one id", _two_cases_of_one_id, "cases[1].id: "),
    ("a case file outside the report", _set(("cases", 0, "case_file"), "../../../etc/passwd"),
     "cases[0].case_file: expected a string matching"),
    ("a case's text inline", _set(("cases", 0, "case_text"), "{}"), "cases[0].case_text: not allowed here"),
    ("an unknown verdict class", _set(("summary", "torch", "splendid"), 1), 'summary.torch.splendid: unexpected key'),
    ("an empty record of what went non-finite", _set(("cases", 4, "nonfinite", "torch"), {}),
     'cases[4].nonfinite.torch: expected a non-empty object'),
    ("a verdict class outside the known set", _set(("rows", 0, "implementations", "torch", "verdict_class"), "ok"),
     "rows[0].implementations.torch.verdict_class: expected one of"),
    ("a shard past the shard count", _set(("run", "shard"), {"index": 3, "count": 2}),
     "run.shard.index: expected at most count (2), got 3"),
    ("zero --examples", _set(("run", "examples"), 0), "run.examples: expected an integer from 1"),
    ("a number beyond a float", _set(("cases", 0, "implementations", 1, "worst_ratio"), 10**309),
     "cases[0].implementations[1].worst_ratio: expected a number"),
    ("a non-finite string other than inf/nan", _set(("cases", 0, "implementations", 1, "worst_ratio"), "Infinity"),
     "cases[0].implementations[1].worst_ratio: expected a number or one of"),
    ("the schema of another format", _set(("schema",), "optim-parity/result/1"), "not a results file (schema"),
    ("a list, not an object", lambda d: [d["schema"]], "not a results file (a list"),
]


def _commands(bad: Path, good: Path, tmp_path: Path) -> dict[str, list[str]]:
    """Each command that reads results files, reading `bad` (which lies at DIR/b/results.json
    with `good` at DIR/a/results.json, the layout `matrix` reads)."""
    return {"compare (as NEW)": ["compare", str(good), str(bad)],
            "compare (as OLD)": ["compare", str(bad), str(good)],
            "merge": ["merge", str(bad), "-o", str(tmp_path / "merged" / "results.json")],
            "matrix": ["matrix", str(bad.parent.parent), "--out", str(tmp_path / "index.html")],
            "baseline save": ["baseline", "save", "--from", str(bad), "--dir", str(tmp_path / "baselines")]}


def _layout(tmp_path: Path, report: Path) -> tuple[Path, Path]:
    """DIR/a (the real report) and DIR/b (a copy whose results.json the test replaces)."""
    good = tmp_path / "runs" / "a"
    shutil.copytree(report, good)
    shutil.copytree(report, tmp_path / "runs" / "b")
    return tmp_path / "runs" / "b" / "results.json", good / "results.json"


def _run(capsys, argv: list[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _assert_one_line(code: int, err: str, *fragments: str) -> None:
    assert code == 2, f"exit {code}: {err}"
    assert "Traceback" not in err and err.count("\n") == 1 and err.startswith("optim-parity: error: "), err
    for fragment in fragments:
        assert fragment in err, err


@pytest.mark.parametrize("mutation, names", [m[1:] for m in MUTATIONS], ids=[m[0] for m in MUTATIONS])
def test_every_command_names_the_offending_field(tmp_path, capsys, report, document, mutation, names):
    bad, good = _layout(tmp_path, report)
    bad.write_text(json.dumps(mutation(copy.deepcopy(document))), encoding="utf-8")
    for command, argv in _commands(bad, good, tmp_path).items():
        code, _, err = _run(capsys, argv)
        _assert_one_line(code, err, str(bad), names)
    assert not (tmp_path / "merged").exists() and not (tmp_path / "baselines").exists()


def _huge_integer(document: dict) -> bytes:
    text = json.dumps(document)
    assert '"steps": 2' in text
    return text.replace('"steps": 2', '"steps": ' + "9" * 5000, 1).encode("utf-8")


# (id, the file's bytes from the real document, what the one line says)
RAW_FILES = [
    ("not UTF-8", lambda d: json.dumps(d).replace('"w"', '"\xe9"', 1).encode("latin-1"), "not UTF-8"),
    ("UTF-16", lambda d: json.dumps(d).encode("utf-16"), "not UTF-8"),
    ("nested 10,000 deep", lambda d: b"[" * 10_000 + b"]" * 10_000, "nested 10000 levels deep"),
    ("an integer of 5000 digits", _huge_integer, "digits"),
    ("cut off", lambda d: json.dumps(d).encode("utf-8")[:1000], "not valid JSON"),
    ("empty", lambda d: b"", "not valid JSON"),
    ("a NUL byte after the document", lambda d: json.dumps(d).encode("utf-8") + b"\x00", "not valid JSON"),
]


@pytest.mark.parametrize("content, message", [r[1:] for r in RAW_FILES], ids=[r[0] for r in RAW_FILES])
def test_bytes_that_are_not_a_results_file(tmp_path, capsys, report, document, content, message):
    bad, good = _layout(tmp_path, report)
    bad.write_bytes(content(document))
    for argv in _commands(bad, good, tmp_path).values():
        code, _, err = _run(capsys, argv)
        _assert_one_line(code, err, str(bad), message)


def test_the_command_line_prints_no_traceback(tmp_path, report, document):
    """The same, end to end through `python -m harness` (the entry point users run)."""
    bad, good = _layout(tmp_path, report)
    bad.write_bytes(b"[" * 10_000 + b"]" * 10_000)
    for argv in (["compare", str(good), str(bad)], ["baseline", "save", "--from", str(bad), "--dir", str(tmp_path)]):
        done = subprocess.run([sys.executable, "-m", "harness", *argv], capture_output=True, text=True, cwd=ROOT,
                              timeout=120)
        assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr


def test_the_size_limit_is_a_setting(tmp_path, capsys, monkeypatch, report):
    results = report / "results.json"
    monkeypatch.setenv("OPTIM_PARITY_RESULTS_MAX_BYTES", str(results.stat().st_size - 1))
    code, _, err = _run(capsys, ["compare", str(results), str(results)])
    _assert_one_line(code, err, str(results), "over the limit")
    monkeypatch.setenv("OPTIM_PARITY_RESULTS_MAX_BYTES", str(results.stat().st_size))
    assert _run(capsys, ["compare", str(results), str(results)])[0] == 0
    monkeypatch.setenv("OPTIM_PARITY_RESULTS_MAX_BYTES", "lots")
    code, _, err = _run(capsys, ["compare", str(results), str(results)])
    _assert_one_line(code, err, "OPTIM_PARITY_RESULTS_MAX_BYTES")


def test_a_valid_file_works_in_every_command(tmp_path, capsys, report):
    bad, good = _layout(tmp_path, report)  # here both are the real report
    for command, argv in _commands(bad, good, tmp_path).items():
        code, _, err = _run(capsys, argv)
        assert code == 0 and "optim-parity:" not in err, (command, code, err)


def test_merge_checks_the_case_files_it_copies(tmp_path, capsys, report, document):
    bad, _ = _layout(tmp_path, report)
    case_file = bad.parent / next(c["case_file"] for c in document["cases"] if c["id"] == "eps-000")
    out = ["-o", str(tmp_path / "merged" / "results.json")]
    case_file.write_bytes(b"\xff\xfe{}")
    _assert_one_line(*_run(capsys, ["merge", str(bad), *out])[::2], str(case_file), "not UTF-8")
    case_file.write_bytes(b"[" * 10_000)
    _assert_one_line(*_run(capsys, ["merge", str(bad), *out])[::2], str(case_file), "nested")
    # Another case's file: a case file, but not the one of the case the results describe.
    other = json.loads((ROOT / "cases" / "reproducers" / "mindspore-betas-float32.json").read_text(encoding="utf-8"))
    case_file.write_text(json.dumps(other), encoding="utf-8")
    _assert_one_line(*_run(capsys, ["merge", str(bad), *out])[::2], str(case_file), "not the case file of case")
    case_file.unlink()
    _assert_one_line(*_run(capsys, ["merge", str(bad), *out])[::2], str(case_file), "cannot read")
    assert not (tmp_path / "merged").exists()


def test_compare_with_nothing_in_common_is_bad_input(tmp_path, capsys, report, document):
    other = copy.deepcopy(document)
    for case in other["cases"]:
        case["id"] += "-elsewhere"
    path = tmp_path / "other.json"
    path.write_text(json.dumps(other), encoding="utf-8")
    code, out, err = _run(capsys, ["compare", str(report / "results.json"), str(path)])
    _assert_one_line(code, err, str(path), "nothing to compare, no case in common")
    assert "regression" not in out
    # Cases in common, but no implementation ran on both sides.
    other = copy.deepcopy(document)
    for case in other["cases"]:
        for impl in case["implementations"]:
            impl["implementation"] += "-elsewhere"
    path.write_text(json.dumps(other), encoding="utf-8")
    code, _, err = _run(capsys, ["compare", str(report / "results.json"), str(path)])
    _assert_one_line(code, err, "nothing to compare, no implementation in common")


def test_baseline_save_refuses_to_replace_a_baseline_without_force(tmp_path, capsys, report, document):
    argv = ["baseline", "save", "--from", str(report / "results.json"), "--dir", str(tmp_path), "--name", "b"]
    assert _run(capsys, argv)[0] == 0
    saved = tmp_path / "b.json"
    saved.write_text("kept", encoding="utf-8")
    code, _, err = _run(capsys, argv)
    _assert_one_line(code, err, str(saved), "--force")
    assert saved.read_text(encoding="utf-8") == "kept"
    assert _run(capsys, [*argv, "--force"])[0] == 0
    assert json.loads(saved.read_text(encoding="utf-8"))["baseline_of"] == str(report / "results.json")


def test_a_baseline_name_too_long_for_a_file_is_bad_input(tmp_path, capsys, document):
    long_versions = copy.deepcopy(document)
    long_versions["environment"]["packages"]["torch"] = "1" * 195  # a release number of 195 digits
    path = tmp_path / "results.json"
    path.write_text(json.dumps(long_versions), encoding="utf-8")
    for argv in (["baseline", "save", "--from", str(path), "--dir", str(tmp_path)],
                 ["compare", "@baseline", str(path)]):
        code, _, err = _run(capsys, argv)
        _assert_one_line(code, err, "longer than 200 characters")


def test_matrix_matches_rows_by_id(tmp_path, capsys, report, document):
    """A file from another version of the harness may list rows in another order, or
    lack some: each cell is its own row's."""
    (tmp_path / "m" / "a").mkdir(parents=True)
    (tmp_path / "m" / "b").mkdir(parents=True)
    (tmp_path / "m" / "a" / "results.json").write_text(json.dumps(document), encoding="utf-8")
    other = copy.deepcopy(document)
    other["environment"]["packages"]["mindspore"] = "99.0"  # orders after a
    other["rows"] = list(reversed(other["rows"]))[1:]  # reversed, and the last row (first now) dropped
    (tmp_path / "m" / "b" / "results.json").write_text(json.dumps(other), encoding="utf-8")
    code, _, err = _run(capsys, ["matrix", str(tmp_path / "m")])
    assert code == 0 and err == ""
    summary = json.loads((tmp_path / "m" / "matrix.json").read_text(encoding="utf-8"))
    dropped = document["rows"][-1]["row"]
    for line in summary["rows"]:
        own = next(r for r in document["rows"] if r["row"] == line["row"])["implementations"][line["implementation"]]
        assert line["cells"][0]["verdict"] == own["verdict"]
        if line["row"] == dropped:
            assert line["cells"][1] is None
        else:
            assert line["cells"][1]["verdict"] == own["verdict"] and not line["cells"][1]["changed"]


FUZZ = settings(max_examples=scaled(40), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])


@FUZZ
@given(data=st.data())
def test_hostile_variants_end_with_a_result_or_one_line(tmp_path_factory, capsys, report, document, data):
    """Hypothesis mutations of the real file (tests/hostile_inputs.py: wrong types,
    missing and extra keys, boundary numbers, deep nesting, odd encodings, cut files)."""
    tmp_path = tmp_path_factory.mktemp("fuzz")
    bad, good = _layout(tmp_path, report)
    bad.write_bytes(data.draw(json_file(document), label="results file"))
    for command, argv in _commands(bad, good, tmp_path).items():
        code, _, err = _run(capsys, argv)
        assert "Traceback" not in err and code in (0, 1, 2), (command, code, err)
        if code == 2:
            assert err.count("\n") == 1 and err.startswith("optim-parity: error: "), (command, err)
