"""`optim-parity bench --sizes`: the size parser, the guard that stops a run, and one quick
run at tiny sizes whose table and JSON document carry finite figures (speed is never
asserted)."""

import argparse
import json
import math
import sys

import numpy as np
import pytest

import harness.bench_sizes
from harness.bench_sizes import parse_sizes, run_guarded, run_size_bench, size_case
from harness.cli import main


@pytest.mark.parametrize("text, sizes", [("1e3,1e5,1e6", [1000, 100000, 1000000]), ("100000", [100000]),
                                         ("1E2, 7 ,1e2", [7, 100]), ("2.5e3", [2500]), ("1e+3", [1000])])
def test_sizes_accepted(text, sizes):
    assert parse_sizes(text) == sizes


@pytest.mark.parametrize("text", ["0", "-5", "1.5", "1e-3", "abc", "", "1e3,", "1e", "1e3.5", "1e999", "0x10",
                                  "1_000", "inf", "nan", "0e5"])
def test_sizes_rejected(text, capsys):
    with pytest.raises(argparse.ArgumentTypeError):
        parse_sizes(text)
    assert main(["bench", "--sizes", text]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("optim-parity: error: bench: argument --sizes: ")


def test_size_mode_defaults_and_misuse(monkeypatch, capsys):
    called = {}
    monkeypatch.setattr(harness.bench_sizes, "run_size_bench",
                        lambda sizes, names, steps, json_path, repeat: called.update(
                            sizes=sizes, names=names, steps=steps, repeat=repeat) or 0)
    assert main(["bench", "--sizes", "1e3,1e5"]) == 0
    assert called == {"sizes": [1000, 100000], "names": ["reference", "torch", "mindspore"], "steps": 20, "repeat": 3}
    assert main(["bench", "--sizes", "10", "--steps", "4", "--repeat", "1", "--impl", "torch-fused"]) == 0
    assert called == {"sizes": [10], "names": ["torch-fused"], "steps": 4, "repeat": 1}
    for argv, message in ((["--sizes", "10", "--cases", "3"], "bench: --cases and --sizes are two modes; give one"),
                          (["--steps", "3"], "bench: --steps needs --sizes"),
                          (["--sizes", "10", "--steps", "0"], "bench: --steps must be at least 1")):
        assert main(["bench", *argv]) == 2
        assert capsys.readouterr().err.strip().splitlines() == [f"optim-parity: error: {message}"]


def test_the_size_case_is_seeded_float32():
    case = size_case(50, 3)
    assert case.dtype == "float32" and case.num_steps == 3 and case.params[0].shape == (50,)
    rng = np.random.default_rng(0)
    assert np.array_equal(case.params[0].value, rng.standard_normal(50).astype(np.float32))
    assert np.array_equal(case.grads[0][0], rng.standard_normal(50).astype(np.float32))
    assert all(g[0].dtype == np.float32 for g in case.grads)


def test_the_guard_stops_a_run_past_its_time_or_memory(tmp_path):
    slow = run_guarded([sys.executable, "-c", "import time; time.sleep(60)"], {}, str(tmp_path), 0.5, 10_000)
    assert slow.stopped == "timed out after 0.5 s" and slow.seconds < 30
    hungry = run_guarded([sys.executable, "-c", "import time; b = bytearray(400 << 20); time.sleep(60)"], {},
                         str(tmp_path), 30, 200)
    assert hungry.stopped == "over 200 MiB" and hungry.seconds < 30
    done = run_guarded([sys.executable, "-c", "b = bytearray(100 << 20); print('ok')"], {}, str(tmp_path), 30, 10_000)
    assert not done.stopped and done.returncode == 0 and done.output.strip() == "ok"
    assert done.peak_rss_mib >= 100  # wait4's figure: the run's own


def test_a_stopped_run_is_a_row_not_a_crash(capsys):
    assert run_size_bench([10], ["reference"], steps=2, repeat=2, memory_cap_mib=1) == 0
    out = capsys.readouterr().out
    assert "over 1 MiB" in out and "0 of 1 implementation x size row(s) measured in full" in out


def test_a_tiny_size_run_has_finite_figures(tmp_path, capsys):
    out = tmp_path / "sizes.json"
    assert main(["bench", "--sizes", "100,1000", "--steps", "3", "--repeat", "1", "--impl", "reference", "torch",
                 "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    doc = json.loads(out.read_text())
    assert doc["schema"] == "optim-parity/bench-sizes/1" and doc["sizes"] == [100, 1000]
    assert doc["steps"] == 3 and doc["repeat"] == 1 and "torch" in doc["versions"]
    assert [(r["implementation"], r["elements"]) for r in doc["rows"]] == \
        [("reference", 100), ("torch", 100), ("reference", 1000), ("torch", 1000)]
    table = [line.split() for line in printed.splitlines()]
    for row in doc["rows"]:
        assert row["stopped"] == {} and row["status"] == "pass" and row["element_steps"] == row["elements"] * 3
        assert [row["implementation"], str(row["elements"]), "3"] in [line[:3] for line in table]
        for key in ("harness_seconds", "bare_process_seconds", "bare_seconds", "import_seconds", "ratio",
                    "harness_peak_rss_mib", "harness_tree_rss_mib", "bare_peak_rss_mib"):
            assert math.isfinite(row[key]) and row[key] > 0, (row["implementation"], key, row[key])
        ns = row["ns_per_element_step"]
        assert all(math.isfinite(value) and value >= 0 for value in ns.values())
        assert ns["spec"] > 0 and ns["compare"] > 0 and ns["bare"] > 0
        if row["implementation"] == "torch":  # recorded in the worker, sent back
            assert ns["record"] > 0 and ns["transfer"] > 0
    assert printed.strip().splitlines()[-1].startswith("verdict: OK - 4 of 4 implementation x size row(s)")
