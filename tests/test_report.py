"""`optim-parity report`: structure, verdicts, saved case files, determinism, exit code."""

import json
from pathlib import Path

from harness.casefile import load_case
from harness.report import build_report
from harness.rows import ROW_IDS
from harness.sweep import SweepCase

ROOT = Path(__file__).resolve().parent.parent
EPS_CASE = ROOT / "cases" / "reproducers" / "mindspore-eps-before-bias-correction.json"


def _cases():
    eps = load_case(EPS_CASE)
    return [SweepCase("defaults-eps", "defaults", str(EPS_CASE), eps)]


def test_report_with_an_unregistered_divergence(tmp_path, capsys):
    code = build_report(tmp_path, registry=[], cases=_cases())
    assert code == 1
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["schema"] == "optim-parity/report/1"
    assert [r["row"] for r in doc["rows"]] == ["defaults", *ROW_IDS]
    (case,) = doc["cases"]
    assert case["case_file"] == "cases/defaults-eps.json"
    assert load_case(tmp_path / case["case_file"]).num_steps == 3
    statuses = {i["implementation"]: i["status"] for i in case["implementations"]}
    assert statuses == {"reference": "pass", "torch": "pass", "mindspore": "violation"}
    rows = {r["row"]: r for r in doc["rows"]}
    assert rows["eps"]["implementations"]["mindspore"]["verdict"] == "diverges (UNREGISTERED)"
    assert rows["defaults"]["implementations"]["mindspore"]["verdict"] == "diverges (UNREGISTERED)"
    assert rows["eps"]["implementations"]["torch"]["verdict"] == "not exercised"
    html_text = (tmp_path / "parity.html").read_text()
    assert all(f"<code>{row}</code>" in html_text for row in ROW_IDS)
    assert "eps" in capsys.readouterr().out


def test_report_is_byte_identical_across_runs(tmp_path):
    from harness.conformance import default_registry

    registry = list(default_registry())
    assert build_report(tmp_path / "a", registry=registry, cases=_cases()) == 0
    assert build_report(tmp_path / "b", registry=registry, cases=_cases()) == 0
    for name in ("results.json", "parity.html"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    doc = json.loads((tmp_path / "a" / "results.json").read_text())
    verdict = {r["row"]: r for r in doc["rows"]}["eps"]["implementations"]["mindspore"]["verdict"]
    assert verdict == "diverges (known: mindspore-eps-before-bias-correction)"
