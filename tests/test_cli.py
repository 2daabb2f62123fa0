"""`optim-parity replay`: statuses, exit codes, result files, one-line errors on bad input."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main

ROOT = Path(__file__).resolve().parent.parent
REPRODUCERS = ROOT / "cases" / "reproducers"

PASSING = {
    "schema": "optim-parity/case/1", "dtype": "float32", "hyperparameters": {},
    "params": [{"name": "w", "shape": [2], "value": [0.5, -1.0]}],
    "grads": [[[0.1, -0.2]], [[0.1, 0.3]]],
}


def _write(tmp_path, doc, name="case.json"):
    path = tmp_path / name
    path.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return path


def test_passing_case_exits_0_and_writes_result_file(tmp_path, capsys):
    out = tmp_path / "result.json"
    code = main(["replay", str(_write(tmp_path, PASSING)), "--impl", "reference", "--impl", "torch", "--json", str(out)])
    assert code == 0
    *lines, verdict = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines] == [["reference", "pass"], ["torch", "pass"]]
    assert verdict.startswith("verdict: OK - ") and verdict.endswith("; exit 0")  # tests/test_cli_output.py
    doc = json.loads(out.read_text())
    assert doc["schema"] == "optim-parity/result/1"
    assert {"python", "numpy", "torch", "mindspore"} <= set(doc["versions"])
    assert [i["implementation"] for i in doc["implementations"]] == ["reference", "torch"]
    for entry in doc["implementations"]:
        assert {"implementation", "status", "message", "violations", "rows"} <= set(entry)
    # The form, several names after one --impl, selects the same.
    assert main(["replay", str(_write(tmp_path, PASSING)), "--impl", "reference", "torch"]) == 0
    assert [line.split()[:2] for line in capsys.readouterr().out.splitlines()[:-1]] == [["reference", "pass"],
                                                                                         ["torch", "pass"]]


def test_unregistered_violation_exits_1_with_attribution(tmp_path, capsys):
    empty_registry = _write(tmp_path, "", "empty.toml")
    out = tmp_path / "result.json"
    case = REPRODUCERS / "mindspore-eps-before-bias-correction.json"
    code = main(["replay", str(case), "--impl", "mindspore", "--registry", str(empty_registry), "--json", str(out)])
    assert code == 1
    line = capsys.readouterr().out.strip()
    assert line.split()[:2] == ["mindspore", "violation"] and "rows=" in line and "eps" in line
    (entry,) = json.loads(out.read_text())["implementations"]
    assert entry["status"] == "violation" and "eps" in entry["rows"]
    violation = entry["violations"][0]
    assert {"param", "step", "index", "expected", "actual", "error", "tolerance", "rows"} <= set(violation)
    assert violation["step"] >= 1 and violation["error"] > violation["tolerance"]


def test_registered_divergence_is_known_and_exits_0(capsys):
    case = REPRODUCERS / "mindspore-eps-before-bias-correction.json"
    assert main(["replay", str(case), "--impl", "mindspore"]) == 0
    assert "known" in capsys.readouterr().out


def test_no_counterpart_carries_the_framework_error(tmp_path, capsys):
    doc = dict(PASSING, hyperparameters={"use_nesterov": True})
    assert main(["replay", str(_write(tmp_path, doc)), "--impl", "torch"]) == 0
    out = capsys.readouterr().out
    assert "no-counterpart" in out and "unexpected keyword argument 'use_nesterov'" in out


@pytest.mark.parametrize(
    "args, doc, message",
    [
        (["replay", "{case}"], "{not json", "not valid JSON"),
        (["replay", "{case}"], {"schema": "optim-parity/case/1"}, "params"),
        (["replay", "{case}", "--impl", "nope"], PASSING, "invalid choice"),
        (["replay", "{case}", "--bogus"], PASSING, "unrecognized arguments"),
        (["replay", "{tmp}/missing.json"], None, "cannot read"),
        (["replay", "{case}", "--registry", "{tmp}/bad.toml"], PASSING, "not valid TOML"),
    ],
)
def test_bad_input_gives_one_line_and_exit_2(tmp_path, args, doc, message):
    case = _write(tmp_path, doc) if doc is not None else None
    (tmp_path / "bad.toml").write_text("[[divergence]\n")
    argv = [a.format(case=case, tmp=tmp_path) for a in args]
    proc = subprocess.run([sys.executable, "-m", "harness", *argv], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_existing_result_file_survives_bad_input(tmp_path):
    out = tmp_path / "result.json"
    out.write_text("previous")
    bad = _write(tmp_path, "{")
    assert main(["replay", str(bad), "--json", str(out)]) == 2
    assert out.read_text() == "previous"


def test_replay_runs_every_implementation_by_name(tmp_path, capsys):
    from harness.catalogue import IMPLEMENTATIONS

    names = [name for name in IMPLEMENTATIONS if name != "reference"]
    out_file = tmp_path / "result.json"
    code = main(["replay", str(ROOT / "cases" / "reproducers" / "mindspore-eps-before-bias-correction.json"),
                 "--impl", "reference", *names, "--json", str(out_file)])
    assert code == 0  # known divergences and cases without counterpart only
    lines = capsys.readouterr().out.splitlines()
    for name in names:
        assert any(line.split()[0] == name for line in lines), name
    statuses = {r["implementation"]: r["status"] for r in json.loads(out_file.read_text())["implementations"]}
    assert statuses["torch-sparse"] == "no-counterpart" and statuses["mindspore-lr-schedule"] == "known"
    # optax.amsgrad takes amsgrad=True only; mint.optim.AdamW has no CPU kernel.
    assert statuses["optax-amsgrad"] == "no-counterpart" and statuses["mindspore-mint-adamw"] == "unsupported"
    assert all(statuses[name] in ("pass", "known") for name in names
               if name not in ("torch-sparse", "optax-amsgrad", "mindspore-mint-adamw"))
