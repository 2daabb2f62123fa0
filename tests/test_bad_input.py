"""Bad input to the command line: one line and exit 2, before any work; a bug of the
harness: one line, exit 3 and a log with the traceback. Each of these was a traceback,
or was found only after the whole run."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from harness import cli
from harness.casefile import max_file_bytes

ROOT = Path(__file__).resolve().parent.parent
CASE = ROOT / "cases" / "reproducers" / "mindspore-betas-float32.json"
VALID = json.loads(CASE.read_text(encoding="utf-8"))


def run(capsys, *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main(list(argv))
    return code, capsys.readouterr().err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def write_case(tmp_path: Path, text: str | bytes, name: str = "case.json") -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", errors="surrogatepass"))
    return path


def with_change(**top) -> str:
    return json.dumps(dict(VALID, **top))


@pytest.mark.parametrize("content, message", [
    (with_change(dtype=["float32"]), 'dtype: expected one of'),
    ("[" * 100_000 + "]" * 100_000, "nested 100000 levels deep"),
    (json.dumps(VALID).encode("utf-16"), "not UTF-8 text (byte 0xff at offset 0)"),
    (json.dumps(VALID).replace('"float32"', '"float\u00e9"').encode("latin-1"), "not UTF-8 text"),
    (with_change(hyperparameters={"lr": 10**350}), "hyperparameters.lr: " + "1" + "0" * 39 + "... is beyond the range"),
    (json.dumps(dict(VALID, hyperparameters={"lr": 0})).replace('"lr": 0', '"lr": ' + "9" * 5000),
     "an integer of 5000 digits"),
    (with_change(params=[dict(VALID["params"][0], name="\ud800")]), "params[0].name: a string with a lone surrogate"),
    (with_change(params=[dict(VALID["params"][0], shape=[10**6, 10**6])], grads=[[[0.0]]]),
     "1000000000000 elements x 1 steps = 1000000000000 element-steps, over the budget"),
    # Outside the spec's domain: the spec cannot say what must happen (reference/domain.py).
    (with_change(hyperparameters={"loss_scale": 0}), "loss_scale: 0.0 is outside the spec's domain"),
    (with_change(hyperparameters={"lr": 1e308}), "lr: 1e+308 is outside the spec's domain"),
    (with_change(param_groups=[{"params": ["w"], "weight_decay": -1.0}]),
     "param_groups[0].weight_decay: -1.0 is outside the spec's domain"),
    (with_change(hyperparameters={"lr": [0.1, -0.1]}), "hyperparameters.lr[1]: -0.1 is outside the spec's domain"),
])
def test_a_bad_case_file_is_one_line_and_exit_2(tmp_path, capsys, content, message):
    code, err = run(capsys, "replay", str(write_case(tmp_path, content)), "--impl", "reference")
    assert code == 2 and message in one_line(err)


def test_a_case_over_the_budget_is_refused_before_it_is_read(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("OPTIM_PARITY_CASE_BUDGET", "1000")
    big = write_case(tmp_path, "")
    with big.open("wb") as f:  # a sparse file: its size is all that is looked at
        f.truncate(max_file_bytes() + 1)
    code, err = run(capsys, "replay", str(big), "--impl", "reference")
    assert code == 2 and "over the limit of" in one_line(err)
    over = with_change(params=[dict(VALID["params"][0], shape=[1001], value=[0.0] * 1001)], grads=[[[0.0] * 1001]])
    code, err = run(capsys, "replay", str(write_case(tmp_path, over)), "--impl", "reference")
    assert code == 2 and "1001 elements x 1 steps = 1001 element-steps, over the budget of 1000" in one_line(err)


def test_a_case_file_of_ten_million_elements_stays_within_a_memory_limit(tmp_path):
    """The user's 180 MB case drove the process tree past 8 GB. Under a 1.5 GB address-space
    limit it is now one line and exit 2 (the file is refused by its size, unread)."""
    path = tmp_path / "huge.json"
    with path.open("w", encoding="utf-8") as f:
        f.write(with_change(params=[dict(VALID["params"][0], shape=[10_000_000], value=[])])[:-1])
        f.write(" " * 180_000_000 + "}")  # the size of the user's file, quickly written

    def limit_memory():
        resource.setrlimit(resource.RLIMIT_AS, (3 << 29, 3 << 29))

    done = subprocess.run([sys.executable, "-m", "harness", "replay", str(path), "--impl", "reference"],
                          capture_output=True, text=True, timeout=120, preexec_fn=limit_memory, cwd=ROOT)
    assert done.returncode == 2 and "over the limit of" in one_line(done.stderr)


@pytest.mark.parametrize("variable, value, message", [
    ("OPTIM_PARITY_CASE_TIMEOUT", "abc", "OPTIM_PARITY_CASE_TIMEOUT='abc': expected a positive number of seconds"),
    ("OPTIM_PARITY_CASE_TIMEOUT", "-5", "expected a positive number"),
    ("OPTIM_PARITY_CASE_BUDGET", "1.5", "OPTIM_PARITY_CASE_BUDGET='1.5': expected a positive integer"),
])
def test_a_bad_setting_is_one_line_and_exit_2(capsys, monkeypatch, variable, value, message):
    monkeypatch.setenv(variable, value)
    code, err = run(capsys, "replay", str(CASE), "--impl", "reference")
    assert code == 2 and message in one_line(err)


def test_output_paths_are_checked_before_the_run(tmp_path, capsys, monkeypatch):
    def must_not_run(args):
        raise AssertionError("the command ran before its output path was checked")

    existing_file = tmp_path / "file"
    existing_file.write_text("keep me")
    monkeypatch.setattr(cli, "cmd_report", must_not_run)
    monkeypatch.setattr(cli, "cmd_replay", must_not_run)
    for argv, message in [
        (["report", "--out", str(existing_file)], "is an existing file"),
        (["replay", str(CASE), "--json", str(tmp_path)], "is a directory"),
        (["replay", str(CASE), "--json", str(existing_file / "r.json")], "is a file"),
    ]:
        code, err = run(capsys, *argv)
        assert code == 2 and message in one_line(err)
    assert existing_file.read_text() == "keep me"


def test_a_harness_bug_is_one_line_exit_3_and_a_log(capsys, monkeypatch):
    def bug(args):
        return {}["missing"]

    monkeypatch.setattr(cli, "cmd_replay", bug)
    code, err = run(capsys, "replay", str(CASE))
    line = one_line(err)
    assert code == 3 and "internal error (KeyError" in line and "bug in optim-parity" in line
    log = Path(line.rsplit(" ", 1)[1])
    try:
        assert "Traceback" in log.read_text(encoding="utf-8") and "def bug" not in line
    finally:
        os.unlink(log)
