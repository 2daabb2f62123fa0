"""`optim-parity report`: structure, verdicts, saved case files, determinism, exit code."""

import json
from dataclasses import dataclass

import pytest

import harness.report as report
from harness.casefile import Case, case_from_dict, dumps_case, load_case
from harness.registry import Divergence
from harness.report import build_report
from harness.rows import ROW_IDS

try:
    from harness.sweep import SweepCase
except ImportError:  # the sweep is optional for these tests: cases are passed explicitly
    @dataclass(frozen=True)
    class SweepCase:
        id: str
        row: str
        source: str
        case: Case

FAST = ("reference", "torch")
ALL = ("reference", "torch", "mindspore")


def _case(grads, value, **hyperparameters) -> Case:
    names = [f"p{i}" for i in range(len(value))]
    return case_from_dict({
        "schema": "optim-parity/case/1", "dtype": "float32", "hyperparameters": hyperparameters,
        "params": [{"name": n, "shape": [len(v)], "value": v} for n, v in zip(names, value)],
        "grads": grads,
    })


def _plain_cases() -> list:
    defaults = _case([[[0.1, -0.2], [0.3]], [[0.05, 0.1], [-0.2]], [[0.2, 0.0], [0.1]]],
                     [[1.0, -0.5], [2.0]])
    decayed = _case([[[0.1, -0.2, 0.4]], [[0.3, 0.1, -0.1]]], [[0.5, 1.5, -1.0]], weight_decay=0.01, lr=0.01)
    nesterov = _case([[[0.1, -0.2]], [[0.2, 0.1]]], [[1.0, 2.0]], use_nesterov=True)
    # Given out of order: the report sorts by row (table order) and id.
    return [SweepCase("wd-000", "weight_decay", "generated", decayed),
            SweepCase("nesterov-000", "use_nesterov", "generated", nesterov),
            SweepCase("defaults-000", "defaults", "generated", defaults)]


def _eps_case(elements: int = 3) -> Case:
    # Gradients of 1e-6 with the default eps=1e-8: MindSpore adds eps before the bias
    # correction (effective eps 3.2e-7 at step 1), so its updates are ~24% smaller.
    g = [1e-6 * (-1) ** i for i in range(elements)]
    return _case([[g], [g], [g]], [[0.5 + i for i in range(elements)]])


def test_report_structure_and_verdicts(tmp_path, capsys):
    code = build_report(tmp_path, registry=[], cases=_plain_cases(), implementations=FAST)
    assert code == 0
    doc = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert doc["schema"] == "optim-parity/results/1"
    assert doc["run"] == {"source": "sweep", "profile": None, "seed": 0, "implementations": list(FAST)}
    assert doc["environment"]["packages"]["torch"] and doc["environment"]["python"]
    assert [r["row"] for r in doc["rows"]] == ["defaults", *ROW_IDS, "extreme_gradients", "missing_gradients"]
    assert [c["id"] for c in doc["cases"]] == ["defaults-000", "wd-000", "nesterov-000"]
    for case in doc["cases"]:
        assert set(case) >= {"id", "row", "source", "case_file", "dtype", "steps", "hyperparameters",
                             "implementations"}
        assert case["dtype"] == "float32"
        assert [i["implementation"] for i in case["implementations"]] == list(FAST)
        for impl in case["implementations"]:
            assert impl["violation_count"] == 0 and "violations" not in impl
            assert "timing" not in impl
    by_id = {c["id"]: c for c in doc["cases"]}
    assert by_id["defaults-000"]["steps"] == 3 and by_id["wd-000"]["steps"] == 2
    assert by_id["wd-000"]["hyperparameters"] == {"weight_decay": 0.01, "lr": 0.01}
    assert [i["status"] for i in by_id["nesterov-000"]["implementations"]] == ["pass", "no-counterpart"]
    assert by_id["wd-000"]["rows"] == ["lr"]  # the other rows it exercises
    assert by_id["wd-000"]["features"]["weight_decay"] == "nonzero"

    rows = {r["row"]: r for r in doc["rows"]}
    torch = {row: r["implementations"]["torch"]["verdict"] for row, r in rows.items()}
    assert torch["defaults"] == torch["weight_decay"] == "consistent within tolerance"
    assert torch["use_nesterov"] == "no counterpart"
    assert torch["eps"] == "not exercised" and torch["lr"] == "consistent within tolerance"
    assert rows["weight_decay"]["cases"] == 1 and rows["eps"]["cases"] == 0
    assert rows["weight_decay"]["implementations"]["torch"]["statuses"] == {"pass": 1}
    assert rows["eps"]["claim_en"] and rows["lr"]["mindspore_name"] == "learning_rate"
    # the concept table: every framework's word for the row
    assert rows["eps"]["names"] == {"torch": "eps", "mindspore": "eps", "optax": "eps", "keras": "epsilon",
                                    "paddle": "epsilon"}
    assert rows["eps_root"]["names"]["optax"] == "eps_root" and rows["eps_root"]["names"]["torch"] is None
    # mindspore did not run: it has no column
    assert {name for r in doc["rows"] for name in r["implementations"]} == {"torch"}
    # The worst case of every exercised row x implementation is kept as a case file.
    assert rows["weight_decay"]["implementations"]["torch"]["worst_case"] == "wd-000"
    assert rows["weight_decay"]["implementations"]["torch"]["worst_case_file"] == "cases/wd-000.json"
    assert by_id["wd-000"]["case_file"] == "cases/wd-000.json"
    assert dumps_case(load_case(tmp_path / "cases" / "wd-000.json")) == dumps_case(_plain_cases()[0].case)
    assert doc["summary"]["torch"]["consistent"] == 4 and doc["summary"]["torch"]["not-exercised"] == 10  # params: 2 parameters
    assert doc["coverage"]["torch"]["pairs_covered"] < doc["coverage"]["torch"]["pairs_expressible"]

    page = (tmp_path / "parity.html").read_text(encoding="utf-8")
    assert all(f"<code>{row}</code>" in page for row in ("defaults", *ROW_IDS))
    assert "<script" not in page and 'src="http' not in page and 'href="http' not in page
    out = capsys.readouterr().out
    assert "results.json" in out and "parity.html" in out
    assert all(any(line.startswith(row) for line in out.splitlines()) for row in ROW_IDS)


def test_report_is_byte_identical_across_runs(tmp_path):
    for run in ("a", "b"):
        assert build_report(tmp_path / run, registry=[], cases=_plain_cases(), implementations=FAST) == 0
    for name in ("results.json", "parity.html"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    # The order the cases come in does not matter either.
    assert build_report(tmp_path / "c", registry=[], cases=_plain_cases()[::-1], implementations=FAST) == 0
    assert (tmp_path / "a" / "parity.html").read_bytes() == (tmp_path / "c" / "parity.html").read_bytes()


def test_unregistered_violation_fails_and_saves_the_case(tmp_path):
    eps = _eps_case(elements=30)
    cases = [SweepCase("defaults-eps", "defaults", "generated", eps), *_plain_cases()[:1]]
    assert build_report(tmp_path, registry=[], cases=cases, implementations=ALL) == 1
    doc = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    by_id = {c["id"]: c for c in doc["cases"]}
    case = by_id["defaults-eps"]
    assert case["case_file"] == "cases/defaults-eps.json"
    # MindSpore's float32 betas put exp_avg_sq out of tolerance in every float32 case
    # (attributed to the betas row): with an empty registry the other case is saved too.
    assert by_id["wd-000"]["case_file"] == "cases/wd-000.json"
    assert dumps_case(load_case(tmp_path / case["case_file"])) == dumps_case(eps)
    impls = {i["implementation"]: i for i in case["implementations"]}
    assert {n: i["status"] for n, i in impls.items()} == {"reference": "pass", "torch": "pass",
                                                          "mindspore": "violation"}
    ms = impls["mindspore"]
    assert ms["violation_count"] == 60 and "eps" in ms["rows"]
    # The plots' data: the worst element's error/tolerance per step.
    assert ms["series"]["steps"] == [1, 2, 3] and max(ms["series"]["ratio"]) == ms["worst_ratio"]

    rows = {r["row"]: r for r in doc["rows"]}
    assert rows["eps"]["implementations"]["mindspore"]["verdict"] == "diverges (UNREGISTERED)"
    # Verdicts count every violation, not only the ones listed: 30 elements, each with
    # its parameter (eps) and exp_avg_sq (float32 betas) out, explained jointly by
    # betas + eps, count toward eps.
    eps_ms = rows["eps"]["implementations"]["mindspore"]
    assert eps_ms["attributed_violations"] == 60 == len(eps_ms["violations"])
    first = eps_ms["violations"][0]
    assert first["case"] == "defaults-eps" and first["shape"] == [30] and first["dtype"] == "float32"
    assert first["ratio"] == first["error"] / first["tolerance"] > 1
    assert rows["eps"]["implementations"]["mindspore"]["worst_relative_error"] > 0.1
    assert rows["defaults"]["implementations"]["mindspore"]["verdict"] == "diverges (UNREGISTERED)"
    assert rows["eps"]["implementations"]["torch"]["verdict"] == "not exercised"
    # A violation counts toward the row attribution names, not the case's own row.
    wd = rows["weight_decay"]["implementations"]["mindspore"]
    assert wd["statuses"] == {"violation": 1} and wd["verdict"] == "consistent within tolerance"
    betas = rows["betas"]["implementations"]["mindspore"]
    assert rows["betas"]["cases"] == 0 and betas["verdict"] == "diverges (UNREGISTERED)"
    torch_wd = rows["weight_decay"]["implementations"]["torch"]
    assert torch_wd["verdict"] == "consistent within tolerance"
    # "consistent" comes with its margin: how close the passing cases came to tolerance.
    assert 0.0 < torch_wd["worst_pass_ratio"] <= 1.0
    page = (tmp_path / "parity.html").read_text(encoding="utf-8")
    assert "cases/defaults-eps.json" in page
    assert all(f"<code>{row}</code>" in page for row in ROW_IDS)


def _entry(id: str, row: str, mechanism: str = "test") -> Divergence:
    return Divergence(id=id, row=row, implementations=("mindspore",), when={"always": True}, mechanism=mechanism,
                      source="test", bound="anything", max_relative_error=float("inf"),
                      reproducer="cases/none.json")


def test_registered_divergence_is_known_and_passes(tmp_path):
    entry = _entry("test-eps-<placement>", "eps", "eps & bias correction")
    betas = _entry("test-betas", "betas")  # MindSpore's float32 betas show in every float32 case
    cases = [SweepCase("eps-000", "eps", "generated", _eps_case())]
    assert build_report(tmp_path, registry=[entry, betas], cases=cases, implementations=ALL) == 0
    doc = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    (case,) = doc["cases"]
    assert case["case_file"] == "cases/eps-000.json"  # the worst (only) case of its rows
    # eps cases carry the update ratio against |g|/eps: MindSpore's first updates are smaller.
    ratios = {i["implementation"]: i.get("update_ratio") for i in case["implementations"]}
    # (torch: 1 up to float32 storage of w, an ulp of 1.5 against an update of 1e-3)
    assert ratios["torch"] and all(abs(r - 1) < 1e-3 for _, r in ratios["torch"])
    assert all(0.5 < r < 0.9 for _, r in ratios["mindspore"]) and ratios["mindspore"][0][0] == pytest.approx(100)
    assert case["implementations"][2]["status"] == "known"
    assert case["implementations"][2]["divergence"] == sorted([entry.id, betas.id])
    rows = {r["row"]: r["implementations"]["mindspore"]["verdict"] for r in doc["rows"]}
    assert rows["eps"] == f"diverges (known: {entry.id})"  # each row lists only its own entries
    assert rows["betas"] == f"diverges (known: {betas.id})"
    page = (tmp_path / "parity.html").read_text(encoding="utf-8")
    assert "test-eps-&lt;placement&gt;" in page and "eps &amp; bias correction" in page
    assert "<placement>" not in page


def test_a_harness_error_in_one_case_is_a_crash_row(tmp_path, monkeypatch):
    real_run_case = report.run_case

    def run_case(case, implementations):
        if case.hp("weight_decay"):
            raise RuntimeError("boom\nsecond line")
        return real_run_case(case, implementations)

    monkeypatch.setattr(report, "run_case", run_case)
    assert build_report(tmp_path, registry=[], cases=_plain_cases(), implementations=FAST) == 1
    doc = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    by_id = {c["id"]: c for c in doc["cases"]}
    assert [i["status"] for i in by_id["wd-000"]["implementations"]] == ["crash", "crash"]
    assert "RuntimeError: boom second line" in by_id["wd-000"]["implementations"][1]["message"]
    assert by_id["wd-000"]["case_file"] == "cases/wd-000.json"
    assert (tmp_path / "cases" / "wd-000.json").exists()
    assert [i["status"] for i in by_id["defaults-000"]["implementations"]] == ["pass", "pass"]
    rows = {r["row"]: r for r in doc["rows"]}
    assert rows["weight_decay"]["implementations"]["torch"]["verdict"] == "crash"


def test_a_failing_render_keeps_the_previous_report(tmp_path, monkeypatch):
    assert build_report(tmp_path, registry=[], cases=_plain_cases()[:1], implementations=FAST) == 0
    before = {n: (tmp_path / n).read_bytes() for n in ("results.json", "parity.html")}

    def broken(document, report_dir):  # noqa: ARG001
        raise RuntimeError("render failed")

    monkeypatch.setattr(report, "render_parity_html", broken)
    with pytest.raises(RuntimeError):
        build_report(tmp_path, registry=[], cases=_plain_cases(), implementations=FAST)
    assert {n: (tmp_path / n).read_bytes() for n in before} == before
    assert not list(tmp_path.glob("*.tmp"))


def test_torch_on_a_mindspore_only_row_is_no_counterpart_even_when_plain_adam_matches(tmp_path):
    locking = _case([[[0.1, -0.2]], [[0.2, 0.1]]], [[1.0, 2.0]], use_locking=True)
    assert build_report(tmp_path, registry=[], cases=[SweepCase("locking-000", "use_locking", "generated", locking)],
                        implementations=FAST) == 0
    doc = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    torch = {r["row"]: r["implementations"]["torch"] for r in doc["rows"]}
    assert torch["use_locking"]["statuses"] == {"pass": 1}
    assert torch["use_locking"]["verdict"] == "no counterpart (plain Adam consistent within tolerance)"


def test_sweep_case_ids_hash_the_case_whatever_the_number_of_examples():
    """A sweep case id is its row and a hash of the case: two sweeps with different
    --examples share the ids of the cases they share (ordinals matched different cases)."""
    from harness.sweep import sweep_cases

    small, large = sweep_cases(seed=0, examples=2), sweep_cases(seed=0, examples=3)
    for sweep in (small, large):
        ids = [c.id for c in sweep]
        assert len(ids) == len(set(ids))
        assert all(c.id.rsplit("-", 1)[1].isalnum() and len(c.id.rsplit("-", 1)[1]) == 10 for c in sweep)
    by_id = {c.id: c for c in large}
    shared = [c for c in small if c.id in by_id]
    assert len(shared) >= len(small) // 2
    assert all(dumps_case(c.case) == dumps_case(by_id[c.id].case) for c in shared)
    # Every implementation's covering cases and probes are in the sweep, for it alone.
    pairs = [c for c in large if c.implementations is not None]
    assert {c.implementations[1] for c in pairs} >= {"torch-sparse", "mindspore-mint", "mindspore-mint-graph"}
    assert all(c.implementations[0] == "reference" and len(c.implementations) == 2 for c in pairs)


def test_report_runs_every_implementation_unless_narrowed(monkeypatch):
    from harness.catalogue import DEFAULT_IMPLEMENTATIONS
    from harness.cli import main

    seen = {}
    monkeypatch.setattr(report, "build_report", lambda out, **kwargs: seen.update(kwargs) or 0)
    assert main(["report", "--out", "unused"]) == 0
    assert "implementations" not in seen  # build_report's default: the whole catalogue
    import inspect

    assert inspect.signature(build_report).parameters["implementations"].default == DEFAULT_IMPLEMENTATIONS
    assert main(["report", "--out", "unused", "--impl", "mindspore-mint", "torch"]) == 0
    assert seen["implementations"] == ["reference", "mindspore-mint", "torch"]
    assert main(["report", "--examples", "0"]) == 2


def test_the_adamw_seed_table_and_the_defaults_are_measured_in_the_report(tmp_path):
    """The second seed table (MindSpore's AdamW page): every claim with the verdicts of the
    implementations that ran its row and what it says of the defaults against the
    signatures; and the defaults that differ from torch's, in results.json and the page."""
    decoupled = _case([[[0.1, -0.2, 0.4]], [[0.3, 0.1, -0.1]]], [[0.5, 1.5, -1.0]], weight_decay=0.01,
                      decoupled_weight_decay=True)
    cases = [SweepCase("adamw-000", "weight_decay", "generated", decoupled)]
    assert build_report(tmp_path, registry=[], cases=cases, implementations=("reference", "torch-adamw")) == 0
    doc = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    (table,) = doc["seed_tables"]
    assert table["torch_entry"] == "torch.optim.AdamW" and table["mindspore_entry"] == "mindspore.nn.AdamWeightDecay"
    claims = {c["row"]: c for c in table["claims"]}
    assert list(claims) == ["params", "lr", "betas", "eps", "weight_decay", "amsgrad"]
    # lr: the page says the defaults differ; both signatures say 0.001.
    assert claims["lr"]["defaults"] == {"torch": 0.001, "mindspore": 0.001, "measured": "same",
                                        "verdict": "not as claimed"}
    assert claims["eps"]["defaults"]["verdict"] == "as claimed"
    # weight_decay: "consistent", silent on the defaults, which differ (0.01 and 0.0).
    assert claims["weight_decay"]["defaults"]["verdict"] == "differ (the table does not say so)"
    assert claims["weight_decay"]["implementations"]["torch-adamw"]["verdict"] == "consistent within tolerance"
    assert claims["amsgrad"]["defaults"]["verdict"] == "-"
    assert {"entry_point": "keras.optimizers.Adam", "concept": "eps", "parameter": "epsilon", "default": 1e-07,
            "torch": "torch.optim.Adam", "torch_default": 1e-08} in doc["defaults"]
    page = (tmp_path / "parity.html").read_text(encoding="utf-8")
    assert 'id="seed-adamw"' in page and "mindspore.nn.AdamWeightDecay" in page
    assert 'id="defaults"' in page and "keras.optimizers.AdamW" in page
