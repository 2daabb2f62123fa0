"""Results files across runs: shards merge into the unsharded report, baselines are
checked on load, and `compare` finds what changed — on real results files."""

import json
import re

import pytest

from harness.casefile import case_from_dict
from harness.cli import main
from harness.conformance import default_registry
from harness.report import build_report
from harness.shard import ShardError, in_shard, parse_shard
from harness.sweep import SweepCase

FAST = ("reference", "torch")


def _case(lr, grads=((0.1, -0.2), (0.3, 0.05)), weight_decay=0.0):
    return case_from_dict({"schema": "optim-parity/case/1", "dtype": "float32",
                           "hyperparameters": {"lr": lr, "weight_decay": weight_decay},
                           "params": [{"name": "w", "shape": [2], "value": [0.5, -1.0]}],
                           "grads": [[list(g)] for g in grads]})


def _cases():
    out = [SweepCase(f"lr-{i:03d}", "lr", "generated", _case(lr)) for i, lr in enumerate((0.1, 0.01, 0.001, 0.3))]
    out += [SweepCase(f"wd-{i:03d}", "weight_decay", "generated", _case(0.01, weight_decay=wd))
            for i, wd in enumerate((0.1, 0.5, 0.9))]
    # Gradients of 1e-6 with eps 1e-8: MindSpore's eps placement shrinks its first update (known entry).
    tiny = ((1e-6, -1e-6), (1e-6, 1e-6), (1e-6, -1e-6))
    out.append(SweepCase("eps-000", "eps", "generated", _case(0.001, grads=tiny)))
    return out


def test_shard_parsing_and_assignment():
    assert parse_shard("2/4") == (2, 4)
    for bad in ("0/2", "3/2", "x", "1/0", ""):
        with pytest.raises(ShardError):
            parse_shard(bad)
    ids = [f"case-{i}" for i in range(200)]
    shards = [[i for i in ids if in_shard(i, (k, 3))] for k in (1, 2, 3)]
    assert sorted(sum(shards, [])) == sorted(ids) and all(shards)  # disjoint, complete, none empty


def test_two_shards_merged_give_the_unsharded_report(tmp_path, capsys):
    registry = list(default_registry())
    whole = tmp_path / "whole"
    build_report(whole, registry=registry, cases=_cases(), implementations=FAST)
    for k in (1, 2):
        build_report(tmp_path / f"shard{k}", registry=registry, cases=_cases(), implementations=FAST, shard=(k, 2))
    sizes = [len(json.loads((tmp_path / f"shard{k}" / "results.json").read_text())["cases"]) for k in (1, 2)]
    assert sum(sizes) == len(_cases()) and all(sizes)
    code = main(["merge", str(tmp_path / "shard1" / "results.json"), str(tmp_path / "shard2" / "results.json"),
                 "-o", str(tmp_path / "merged" / "results.json")])
    assert code == 0
    for name in ("results.json", "parity.html"):
        assert (tmp_path / "merged" / name).read_bytes() == (whole / name).read_bytes()
    assert sorted(p.name for p in (tmp_path / "merged" / "cases").iterdir()) == \
        sorted(p.name for p in (whole / "cases").iterdir())


def test_merge_refuses_other_versions_and_overlaps(tmp_path, capsys):
    registry = list(default_registry())
    build_report(tmp_path / "a", registry=registry, cases=_cases()[:2], implementations=FAST)
    other = json.loads((tmp_path / "a" / "results.json").read_text())
    other["environment"]["packages"]["torch"] = "2.14.1"
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "results.json").write_text(json.dumps(other))
    capsys.readouterr()
    assert main(["merge", str(tmp_path / "a" / "results.json"), str(tmp_path / "b" / "results.json"),
                 "-o", str(tmp_path / "m.json")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "different package versions" in error
    assert main(["merge", str(tmp_path / "a" / "results.json"), str(tmp_path / "a" / "results.json"),
                 "-o", str(tmp_path / "m.json")]) == 2
    assert "overlapping shards" in capsys.readouterr().err
    assert not (tmp_path / "m.json").exists()


def test_baseline_save_names_it_after_the_versions_and_checks_the_schema(tmp_path, capsys):
    build_report(tmp_path / "run", registry=list(default_registry()), cases=_cases()[:2], implementations=FAST)
    assert main(["baseline", "save", "--from", str(tmp_path / "run" / "results.json"),
                 "--dir", str(tmp_path / "baselines")]) == 0
    (saved,) = (tmp_path / "baselines").iterdir()
    assert saved.name.startswith("torch-") and "_mindspore-" in saved.name and saved.name.endswith("_sweep-seed0.json")
    assert "+" not in saved.name  # torch 2.13.0+cpu is the torch-2.13.0 release: its local label is dropped
    assert main(["baseline", "save", "--from", str(tmp_path / "run" / "results.json"), "--name", "x",
                 "--dir", str(tmp_path / "baselines")]) == 0
    capsys.readouterr()
    corrupted = tmp_path / "corrupted.json"
    corrupted.write_text(saved.read_text()[:100])
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"schema": "optim-parity/result/1"}))
    for path, message in ((corrupted, "not valid JSON"), (foreign, "not a results file"),
                          (tmp_path / "missing.json", "cannot read")):
        assert main(["compare", str(path), str(saved)]) == 2
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and message in error and str(path) in error
    assert main(["baseline", "save", "--from", str(saved), "--name", "../escape"]) == 2


def test_compare_identical_runs_exits_0(tmp_path, capsys):
    for side in ("old", "new"):
        build_report(tmp_path / side, registry=list(default_registry()), cases=_cases(),
                     implementations=("reference", "torch", "mindspore"))
    capsys.readouterr()
    assert main(["compare", str(tmp_path / "old" / "results.json"), str(tmp_path / "new" / "results.json"),
                 "--html", str(tmp_path / "diff.html")]) == 0
    out = capsys.readouterr().out
    assert "8 case(s) compared" in out and "0 regression(s)" in out
    assert "Nothing changed" in (tmp_path / "diff.html").read_text()


def test_compare_names_row_implementation_and_case_of_a_new_violation(tmp_path, capsys):
    # The same cases through the real frameworks twice; on the NEW side the registry no
    # longer knows MindSpore's eps placement, as if MindSpore had started to diverge.
    registry = list(default_registry())
    implementations = ("reference", "torch", "mindspore")
    build_report(tmp_path / "old", registry=registry, cases=_cases(), implementations=implementations)
    without_eps = [d for d in registry if d.row != "eps"]
    build_report(tmp_path / "new", registry=without_eps, cases=_cases(), implementations=implementations)
    capsys.readouterr()
    code = main(["compare", str(tmp_path / "old" / "results.json"), str(tmp_path / "new" / "results.json"),
                 "--html", str(tmp_path / "diff.html"), "--json", str(tmp_path / "diff.json")])
    assert code == 1
    out = capsys.readouterr().out
    assert "REGRESSION row eps, mindspore: newly violating in 1 case(s) (e.g. eps-000)" in out
    assert "REGRESSION row eps, mindspore: entry fires" not in out
    diff = json.loads((tmp_path / "diff.json").read_text())
    assert diff["regressions"] >= 1
    page = (tmp_path / "diff.html").read_text()
    assert "newly violating" in page and "eps-000" in page
    # And the way back is an improvement, not a regression.
    assert main(["compare", str(tmp_path / "new" / "results.json"), str(tmp_path / "old" / "results.json")]) == 0
    assert "now registered in 1 case(s)" in capsys.readouterr().out


def test_matrix_page_orders_versions_and_shows_what_changed(tmp_path, capsys):
    registry = list(default_registry())
    implementations = ("reference", "torch", "mindspore")
    build_report(tmp_path / "matrix" / "new", registry=[d for d in registry if d.row != "eps"], cases=_cases(),
                 implementations=implementations)
    build_report(tmp_path / "matrix" / "old", registry=registry, cases=_cases(), implementations=implementations)
    # Pretend the second run came from an older MindSpore: the page orders by version.
    old = tmp_path / "matrix" / "old" / "results.json"
    document = json.loads(old.read_text())
    document["environment"]["packages"]["mindspore"] = "2.7.0"
    old.write_text(json.dumps(document))
    capsys.readouterr()
    assert main(["matrix", str(tmp_path / "matrix")]) == 1  # a step with a regression
    assert "old -> new: 1 regression(s)" in capsys.readouterr().out
    page = (tmp_path / "matrix" / "index.html").read_text()
    assert page.index("MindSpore 2.7.0") < page.index("MindSpore 2.10.0")
    assert "newly violating" in page
    summary = json.loads((tmp_path / "matrix" / "matrix.json").read_text())
    assert [c["env"] for c in summary["columns"]] == ["old", "new"]
    # The changed lines come first (eps, and defaults, whose cases' violations it counts), their new cells marked.
    changed = [(r["row"], r["implementation"]) for r in summary["rows"] if r["changed"]]
    assert ("eps", "mindspore") in changed and [(r["row"], r["implementation"]) for r in summary["rows"]][
        :len(changed)] == changed
    assert all(r["cells"][1]["changed"] for r in summary["rows"][:len(changed)])
    assert 'class="divergent changed"' in page
    # Numbers on the page to 3 significant digits (matrix.json keeps them whole).
    errors = re.findall(r"<small>worst relative error ([^<]+)<", page)
    assert errors and all(e == "inf" or e == format(float(e), ".3g") for e in errors), errors
    # Without a regression between the versions: exit 0.
    build_report(tmp_path / "same" / "a", registry=registry, cases=_cases()[:1], implementations=FAST)
    build_report(tmp_path / "same" / "b", registry=registry, cases=_cases()[:1], implementations=FAST)
    assert main(["matrix", str(tmp_path / "same")]) == 0
    assert main(["matrix", str(tmp_path / "empty")]) == 2


def test_compare_against_the_committed_baseline_needs_one_for_the_versions(tmp_path, capsys):
    build_report(tmp_path / "run", registry=list(default_registry()), cases=_cases()[:1], implementations=FAST)
    results = tmp_path / "run" / "results.json"
    document = json.loads(results.read_text())
    document["environment"]["packages"]["torch"] = "0.0.1"
    results.write_text(json.dumps(document))
    capsys.readouterr()
    assert main(["compare", "@baseline", str(results)]) == 2
    error = capsys.readouterr().err
    assert "no committed baseline for these versions" in error and "torch-0.0.1_" in error


def _results(cases, known):
    rows = [{"row": "eps", "implementations": {"torch": {"known": known, "verdict": "v", "unregistered_violations": 0}}}]
    return {"environment": {"packages": {}}, "run": {"implementations": ["torch"]}, "rows": rows, "cases": cases}


def _case_entry(case_id, divergence, status="known"):
    return {"id": case_id, "row": "eps", "implementations": [
        {"implementation": "torch", "status": status, "worst_ratio": 2.0, "divergence": divergence}]}


def test_an_entry_firing_on_a_case_both_runs_have_is_a_regression_on_new_cases_only_it_is_not():
    from harness.results_diff import diff_results

    old = _results([_case_entry("a", ["e1"])], ["e1"])
    # 'e2' joins 'e1' on case a, which both runs have: the framework changed.
    new = _results([_case_entry("a", ["e1", "e2"])], ["e1", "e2"])
    kinds = {(c["kind"], c["regression"]) for c in diff_results(old, new)["changes"]}
    assert ("entry fires", True) in kinds
    # 'e2' fires only on case b, which the old run did not have (a new generator or
    # implementation): information, not a regression.
    new = _results([_case_entry("a", ["e1"]), _case_entry("b", ["e2"])], ["e1", "e2"])
    kinds = {(c["kind"], c["regression"]) for c in diff_results(old, new)["changes"]}
    assert ("entry fires on new cases only", False) in kinds and not any(r for _, r in kinds)
