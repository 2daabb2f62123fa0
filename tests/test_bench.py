"""`optim-parity bench`: every registered implementation has a bare loop, and the rows
it prints and writes carry finite figures (2 cases, so quick)."""

import json
import math

import pytest

import harness.bench
from harness.catalogue import IMPLEMENTATIONS
from harness.bench import BARE, CASE_SET, IMPORTS, bench_cases, run_bench
from harness.cli import main

REGISTERED = list(IMPLEMENTATIONS)


def test_every_registered_implementation_has_a_bare_loop():
    assert sorted(BARE) == sorted(REGISTERED)
    assert sorted(IMPORTS) == sorted(REGISTERED)
    assert set(CASE_SET) <= set(BARE)
    for case_set in {*CASE_SET.values(), "defaults"}:
        assert bench_cases(1, case_set=case_set)  # every case set draws


def test_impl_all_selects_every_registered_implementation(monkeypatch):
    called = {}
    monkeypatch.setattr(harness.bench, "run_bench",
                        lambda cases, names, json_path, repeat: called.update(names=names, repeat=repeat) or 0)
    assert main(["bench", "--impl", "all"]) == 0
    assert called["names"] == list(REGISTERED)
    assert main(["bench"]) == 0  # the default: all
    assert called["names"] == list(REGISTERED)
    assert called["repeat"] == harness.bench.DEFAULT_REPEAT
    assert main(["bench", "--impl", "torch-fused", "mindspore-mint", "--repeat", "5"]) == 0
    assert called["names"] == ["torch-fused", "mindspore-mint"] and called["repeat"] == 5


def test_a_repeat_below_one_is_one_line_and_exit_2(capsys):
    assert main(["bench", "--repeat", "0"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == ["optim-parity: error: bench: --repeat must be at least 1"]


def test_bench_rows_are_finite(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert run_bench(2, ["torch-foreach", "mindspore-graph"], str(out), repeat=2) == 0
    printed = capsys.readouterr().out
    doc = json.loads(out.read_text())
    assert doc["schema"] == "optim-parity/bench/5" and doc["repeat"] == 2
    assert [row["implementation"] for row in doc["implementations"]] == ["torch-foreach", "mindspore-graph"]
    for row in doc["implementations"]:
        assert row["implementation"] in printed and row["case_set"] == "defaults"
        assert row["cases"] >= 1 and row["steps"] >= row["cases"]
        for key in ("harness_cases_per_second", "harness_steps_per_second", "bare_cases_per_second",
                    "bare_steps_per_second", "ratio", "first_step_overhead_seconds", "import_seconds",
                    "record_over_bare", "isolation_over_bare", "judge_over_bare"):
            assert math.isfinite(row[key]), (row["implementation"], key, row[key])
        # The parts are the harness's seconds split by where they went: they add up to the ratio
        # (up to the clock reads between them) and recording happens in the isolated worker.
        parts = row["record_over_bare"] + row["isolation_over_bare"] + row["judge_over_bare"]
        assert parts == pytest.approx(row["ratio"], rel=0.02)
        assert row["record_over_bare"] > 0 and row["isolation_over_bare"] > 0
