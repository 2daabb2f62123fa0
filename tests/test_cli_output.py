"""What the commands print: a verdict line that matches the exit code, values that differ
in full precision, --help listing the implementations once, progress on a terminal only,
validate's framework messages uncut, and no RuntimeWarning from the harness's own numpy
work on non-finite and overflowing cases."""

import json
import os
import pty
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from harness.casefile import case_from_dict, load_case
from harness.catalogue import IMPLEMENTATIONS
from harness.cli import main

ROOT = Path(__file__).resolve().parent.parent
REPRODUCERS = ROOT / "cases" / "reproducers"
# torch's betas=(0.001, 0.001) exp_avg differs from the spec in its last digits (lerp's
# complement): a registered divergence, and a violation with an empty registry.
LERP = REPRODUCERS / "torch-lerp-complement.json"
VERDICT = re.compile(r"^verdict: (OK|FAIL) - .+; exit (\d+)$")

PASSING = {
    "schema": "optim-parity/case/1", "dtype": "float32", "hyperparameters": {},
    "params": [{"name": "w", "shape": [2], "value": [0.5, -1.0]}],
    "grads": [[[0.1, -0.2]], [[0.1, 0.3]]],
}


def _verdict(out: str, code: int) -> str:
    """The last line is the verdict, OK exactly when the exit code is 0, and names the code."""
    last = out.rstrip("\n").splitlines()[-1]
    match = VERDICT.match(last)
    assert match, last
    assert match.group(1) == ("OK" if code == 0 else "FAIL") and int(match.group(2)) == code, last
    return last


# --------------------------------------------------------------------------- verdict line

@pytest.mark.parametrize("argv, code, says", [
    (["--impl", "reference"], 0, "(1 implementation(s): 1 pass)"),
    (["--impl", "reference", "torch"], 0, "(2 implementation(s): 1 pass, 1 known)"),
    (["--impl", "reference", "torch", "--registry", "{empty}"], 1,
     "1 unregistered violation(s) (torch on betas), 0 crash(es)"),
])
def test_replay_ends_with_a_verdict_that_matches_the_exit_code(tmp_path, capsys, argv, code, says):
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    assert main(["replay", str(LERP), *(a.format(empty=empty) for a in argv)]) == code
    assert says in _verdict(capsys.readouterr().out, code)


RAISING = """
from harness.adapters.reference import ReferenceAdapter


class RaisingAdapter(ReferenceAdapter):
    name = "crash-raise"
    framework = "test"

    def step(self, grads):
        raise RuntimeError("raised by a test adapter")
"""


def test_replay_verdict_counts_a_crash(tmp_path, capsys, monkeypatch):
    (tmp_path / "raising.py").write_text(RAISING)
    monkeypatch.setenv("OPTIM_PARITY_EXTRA_IMPLEMENTATIONS", f"crash-raise={tmp_path / 'raising.py'}:RaisingAdapter")
    monkeypatch.setenv("OPTIM_PARITY_ISOLATION", "0")
    case = tmp_path / "case.json"
    case.write_text(json.dumps(PASSING))
    code = main(["replay", str(case), "--impl", "reference", "crash-raise"])
    out = capsys.readouterr().out
    assert code == 1 and out.splitlines()[1].split()[:2] == ["crash-raise", "crash"]
    assert "0 unregistered violation(s), 1 crash(es) (crash-raise)" in _verdict(out, code)


def test_report_ends_with_a_verdict_that_matches_the_exit_code(tmp_path, capsys):
    from harness.report import build_report
    from harness.sweep import SweepCase

    lerp = [SweepCase("betas-lerp", "betas", "generated", load_case(LERP))]
    assert build_report(tmp_path / "a", registry=[], cases=lerp, implementations=("reference", "torch")) == 1
    assert "1 unregistered violation(s) (torch on betas), 0 crash(es)" in _verdict(capsys.readouterr().out, 1)
    plain = [SweepCase("defaults-plain", "defaults", "generated", case_from_dict(PASSING))]
    assert build_report(tmp_path / "b", registry=[], cases=plain, implementations=("reference", "torch")) == 0
    assert "(1 result(s) of 1 case(s): 1 pass)" in _verdict(capsys.readouterr().out, 0)


def test_bench_ends_with_a_verdict(capsys):
    from harness.bench import run_bench

    assert run_bench(1, ["reference"], None, repeat=1) == 0
    assert "1 of 1 implementation(s) measured" in _verdict(capsys.readouterr().out, 0)


# --------------------------------------------------------------------------- full precision

def test_replay_prints_the_differing_values_in_full(tmp_path, capsys):
    out_file = tmp_path / "result.json"
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    assert main(["replay", str(LERP), "--impl", "torch", "--registry", str(empty), "--json", str(out_file)]) == 1
    line = capsys.readouterr().out.splitlines()[0]
    found = re.search(r"first: (\S+) '(\S+)' step (\d+) \[(\d+)\] expected (\S+) got (\S+) "
                      r"\(error (\S+) > tolerance (\S+)\)", line)
    assert found, line
    quantity, param, step, index = found.group(1), found.group(2), int(found.group(3)), int(found.group(4))
    (entry,) = json.loads(out_file.read_text())["implementations"]
    (first,) = [v for v in entry["violations"]
                if (v["quantity"], v["param"], v["step"], v["index"]) == (quantity, param, step, index)]
    printed = dict(zip(("expected", "actual", "error", "tolerance"), map(float, found.group(5, 6, 7, 8))))
    assert printed == {key: float(first[key]) for key in printed}, line  # equal as floats: nothing rounded away
    assert re.search(r"worst \d+\.\d{1,5}x tolerance", line), line  # the ratio stays a short number


# --------------------------------------------------------------------------- --help

@pytest.mark.parametrize("command", ["replay", "report", "bench"])
def test_help_lists_every_implementation_once(capsys, command):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for name in IMPLEMENTATIONS:
        assert len(re.findall(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text)) == 1, (name, text)
    assert max(len(line) for line in text.splitlines()) <= 100, text  # wrapped, no 600-character line
    assert f"Default: all {len(IMPLEMENTATIONS)}" in " ".join(text.replace("(the ", "").split())  # the truth: all


# --------------------------------------------------------------------------- progress

def _replay(case: Path, stderr) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", "replay", str(case), "--impl", "reference"],
                          cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL, timeout=300)


def test_progress_only_on_a_terminal(tmp_path):
    case = tmp_path / "case.json"
    case.write_text(json.dumps(PASSING))
    piped = _replay(case, subprocess.PIPE)
    assert piped.returncode == 0 and piped.stderr == b""  # a pipe or a CI log: nothing

    controller, terminal = pty.openpty()
    try:
        on_terminal = _replay(case, terminal)
    finally:
        os.close(terminal)
    written = b""
    try:
        while chunk := os.read(controller, 4096):
            written += chunk
    except OSError:  # EIO: the terminal's other end is closed and everything was read
        pass
    finally:
        os.close(controller)
    assert on_terminal.returncode == 0
    assert b"\rreplay: " in written and written.endswith(b"\r\x1b[K")  # drawn in place, erased at the end
    assert on_terminal.stdout == piped.stdout  # what is printed does not depend on the terminal


def test_progress_writes_nothing_to_a_stream_that_is_not_a_terminal():
    import io

    from harness.console import Progress

    stream = io.StringIO()
    with Progress("report", total=3, stream=stream) as progress:
        progress.update(1, "case", force=True)
    assert stream.getvalue() == ""
    with Progress("report", total=3, stream=stream, enabled=True) as progress:
        progress.update(1, "eps-1a2b3c4d5e on torch", force=True)
    assert stream.getvalue() == "\rreport: 1/3 (33%), 0:00 elapsed: eps-1a2b3c4d5e on torch\x1b[K\r\x1b[K"


# --------------------------------------------------------------------------- validate

def test_validate_prints_whole_framework_messages(monkeypatch, capsys):
    import harness.acceptance as validation

    long_message = ("rejected: ValueError: For 'Adam', the 'learning rate' must be float and must >= 0, but got "
                    "'-0.001' with type 'float'. (and a tail that a 43-character column would have cut)")

    def table(values):  # acceptance_table's rows, without running the frameworks
        return [{"key": key, "value": repr(value), "class": "negative", "spec": "lr must be >= 0",
                 "torch": "rejected: ValueError: Invalid learning rate: -0.001", "mindspore": long_message}
                for key, listed in values.items() for value in listed]

    monkeypatch.setattr(validation, "REPRESENTATIVES", {"lr": [-1e-3], "eps": [-1e-8]})
    monkeypatch.setattr(validation, "acceptance_table", table)
    assert main(["validate"]) == 0
    out = capsys.readouterr().out
    assert " ".join(out.split()).count(" ".join(long_message.split())) == 2, out  # whole, however wrapped
    assert "lr = -0.001" in out and "eps = -1e-08" in out and "lr must be >= 0" in out
    assert "2 value(s) of 2 hyperparameter(s) probed" in _verdict(out, 0)


# --------------------------------------------------------------------------- numpy warnings

# Committed reproducers whose reference or implementation goes NaN / infinite (a float16
# moment overflowing, an inf v turning NaN, NaN and inf gradients, g*g overflowing).
NONFINITE = ["torch-float16-moments-in-dtype.json", "torch-float16-eps-vanishes.json",
             "torch-lerp-nonfinite.json", "mindspore-float16-inf-v-turns-nan.json",
             "mindspore-kernel-gradient-square-overflow.json"]


def test_no_runtime_warning_from_the_harness_on_nonfinite_cases(capsys):
    # The reference runs here and torch in its worker: every comparison, tolerance and
    # attribution is this process's, so a RuntimeWarning raised here is the harness's own
    # (an error inside a command is exit 3, a harness bug).
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        codes = [main(["replay", str(REPRODUCERS / name), "--impl", "reference", "torch"]) for name in NONFINITE]
    captured = capsys.readouterr()
    assert codes == [0] * len(NONFINITE), captured
    assert "internal error" not in captured.err


def test_a_subnormal_tolerance_under_a_large_error_is_infinitely_out_without_a_warning():
    from harness.trajectory_comparison import compare
    from harness.trajectory import Trajectory, reference_trajectory

    # Zero gradients: exp_avg stays 0, so its tolerance is a few float64 ulp of 0
    # (1e-323) and an error of 1e-3 is a ratio beyond float64's range.
    case = case_from_dict(dict(PASSING, dtype="float64", grads=[[[0.0, 0.0]]] * 3))
    reference = reference_trajectory(case)
    data = {name: {q: values.copy() for q, values in quantities.items()} for name, quantities in reference.data.items()}
    data["w"]["exp_avg"][1:, 0] += 1e-3
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        comparison = compare(case, reference, Trajectory(data, reference.completed_steps))
    assert comparison.worst_ratio == np.inf and comparison.worst.quantity == "exp_avg"
    assert [(v.quantity, v.step, v.index) for v in comparison.violations] == [("exp_avg", 1, 0)]
