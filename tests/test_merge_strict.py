"""`optim-parity merge` is strict: it joins the shards of one run, each exactly once, and
what it writes is the unsharded run's results file byte for byte.

Shards must share the package versions, source, profile, seed, --examples and shard
count (results.json `run`: `examples`, `shard` {index, count}); together they must be
every shard index once. Anything else is exit 2 with one line saying what differs or
which shards are missing, and nothing written.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.casefile import case_from_dict
from harness.cli import main
from harness.conformance import default_registry
from harness.report import build_report
from harness.shard import in_shard
from harness.sweep import SweepCase

ROOT = Path(__file__).resolve().parent.parent
FAST = ("reference", "torch")


def _case(lr: float, weight_decay: float = 0.0):
    return case_from_dict({"schema": "optim-parity/case/1", "dtype": "float32",
                           "hyperparameters": {"lr": lr, "weight_decay": weight_decay},
                           "params": [{"name": "w", "shape": [2], "value": [0.5, -1.0]}],
                           "grads": [[[0.1, -0.2]], [[0.3, 0.05]]]})


CASES = [SweepCase(f"lr-{i:03d}", "lr", "generated", _case(lr)) for i, lr in enumerate((0.1, 0.01, 0.001, 0.3, 0.03))]
CASES += [SweepCase(f"weight_decay-{i:03d}", "weight_decay", "generated", _case(0.01, wd))
          for i, wd in enumerate((0.1, 0.5, 0.9))]


def test_every_shard_of_two_and_three_holds_some_of_these_cases():
    # (else a merge test below would pass for want of cases)
    for count in (2, 3):
        assert all(any(in_shard(c.id, (index, count)) for c in CASES) for index in range(1, count + 1))


def _report(directory: Path, *, shard=None, examples=None, seed=0) -> Path:
    build_report(directory, registry=list(default_registry()), cases=CASES, implementations=FAST, shard=shard,
                 examples=examples, seed=seed)
    return directory / "results.json"


def test_the_run_section_says_which_shard_of_how_many_and_the_examples(tmp_path):
    run = json.loads(_report(tmp_path / "s", shard=(2, 3), examples=3).read_text(encoding="utf-8"))["run"]
    assert run["shard"] == {"index": 2, "count": 3} and run["examples"] == 3
    # A whole run names no shard (its file is what the merge of its shards writes); nor does 1/1.
    for name, shard in (("whole", None), ("one-of-one", (1, 1))):
        run = json.loads(_report(tmp_path / name, shard=shard, examples=3).read_text(encoding="utf-8"))["run"]
        assert "shard" not in run and run["examples"] == 3


def _relabelled(path: Path, out: Path, change) -> Path:
    document = json.loads(path.read_text(encoding="utf-8"))
    change(document)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document), encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> dict[str, Path]:
    """Results files of the same cases: shards of 2 and 3, and variants that differ in one way."""
    root = tmp_path_factory.mktemp("shards")
    out = {"whole": _report(root / "whole")}
    for count in (2, 3):
        for index in range(1, count + 1):
            out[f"{index}/{count}"] = _report(root / f"{index}-of-{count}", shard=(index, count))
    out["2/2 --examples 7"] = _report(root / "examples", shard=(2, 2), examples=7)
    out["2/2 seed 1"] = _report(root / "seed", shard=(2, 2), seed=1)
    out["2/2 torch 2.14.1"] = _relabelled(out["2/2"], root / "torch" / "results.json",
                                          lambda d: d["environment"]["packages"].update(torch="2.14.1"))
    out["2/2 from pytest"] = _relabelled(out["2/2"], root / "pytest" / "results.json",
                                         lambda d: d["run"].update(source="pytest", profile="ci"))
    # Shard 1's cases in a file that says it is shard 2.
    out["1/2 as 2/2"] = _relabelled(out["1/2"], root / "mislabelled" / "results.json",
                                    lambda d: d["run"].update(shard={"index": 2, "count": 2}))
    return out


# (the shards given, in order; what the one line says)
REFUSED = {
    "different --examples": (["1/2", "2/2 --examples 7"], "different --examples (7 vs null)"),
    "different seeds": (["1/2", "2/2 seed 1"], "different seeds (1 vs 0)"),
    "different versions": (["1/2", "2/2 torch 2.14.1"], "different package versions (torch 2.14.1 vs "),
    "different sources": (["1/2", "2/2 from pytest"], "different sources ('pytest' vs 'sweep')"),
    "different shard counts": (["1/2", "2/3", "3/3"], "different shard counts (3 vs 2)"),
    "a shard and the whole run": (["whole", "1/2"], "different shard counts (2 vs 1)"),
    "one shard alone": (["1/2"], "cannot merge: shard(s) 2/2 missing (given: "),
    "a shard missing": (["1/3", "3/3"], "cannot merge: shard(s) 2/3 missing (given: "),
    "a shard twice": (["1/2", "1/2", "2/2"], "shard 1/2 is also "),
    "a whole run twice": (["whole", "whole"], "the whole run (no --shard) is also "),
    "a shard's cases in another shard's file": (["1/2", "1/2 as 2/2"], "does not belong to shard 2/2"),
}


@pytest.mark.parametrize("given, message", REFUSED.values(), ids=REFUSED.keys())
def test_merge_refuses_what_is_not_one_run_each_shard_once(tmp_path, capsys, shards, given, message):
    capsys.readouterr()
    out = tmp_path / "merged" / "results.json"
    assert main(["merge", *(str(shards[name]) for name in given), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and message in err, err
    assert not out.parent.exists()


def test_three_shards_merge_into_the_whole_run(tmp_path, capsys, shards):
    out = tmp_path / "merged" / "results.json"
    # In any order.
    assert main(["merge", str(shards["3/3"]), str(shards["1/3"]), str(shards["2/3"]), "-o", str(out)]) == 0
    whole = shards["whole"].parent
    for name in ("results.json", "parity.html"):
        assert (out.parent / name).read_bytes() == (whole / name).read_bytes()
    assert {p.name: p.read_bytes() for p in (out.parent / "cases").iterdir()} == \
        {p.name: p.read_bytes() for p in (whole / "cases").iterdir()}


def _optim_parity(*argv: str) -> None:
    done = subprocess.run([sys.executable, "-m", "harness", *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_shards_of_a_sweep_merge_into_its_results_byte_for_byte(tmp_path):
    """The real sweep, sharded, through the command line, on MindSpore: its "unsupported"
    messages depended on what ran before in the process. A case an implementation is
    declared not to take is measured once per worker and kind (harness/engine.py); a
    later case of the kind says "not run again" with the error of the case that confirmed
    it. In the whole run, cases of shard 2 confirmed "row-sparse gradients in PyNative"
    and "dtype float64 without amsgrad" before a case of each kind in shard 1, which shard
    1 alone measured afresh: two messages differed (harness/report.py now replays such
    cases of the other shards in a shard)."""
    sweep = ["report", "--examples", "1", "--impl", "mindspore"]
    _optim_parity(*sweep, "--out", str(tmp_path / "whole"))
    for index in (1, 2):
        _optim_parity(*sweep, "--shard", f"{index}/2", "--out", str(tmp_path / f"shard{index}"))
    _optim_parity("merge", str(tmp_path / "shard1" / "results.json"), str(tmp_path / "shard2" / "results.json"),
                  "-o", str(tmp_path / "merged" / "results.json"))
    whole, merged = tmp_path / "whole", tmp_path / "merged"
    document = json.loads((whole / "results.json").read_text(encoding="utf-8"))
    assert document["run"]["examples"] == 1 and "shard" not in document["run"]
    assert json.loads((tmp_path / "shard2" / "results.json").read_text(encoding="utf-8"))["run"]["shard"] == \
        {"index": 2, "count": 2}
    # The whole run had cases of those kinds measured on an earlier case.
    messages = [i["message"] for c in document["cases"] for i in c["implementations"] if i["status"] == "unsupported"]
    for kind in ("row-sparse gradients in PyNative", "dtype float64 without amsgrad"):
        assert any(m.startswith(kind) and m.endswith("on an earlier case of this kind, not run again)")
                   for m in messages), kind
    assert (merged / "results.json").read_bytes() == (whole / "results.json").read_bytes()
    assert (merged / "parity.html").read_bytes() == (whole / "parity.html").read_bytes()
    assert {p.name: p.read_bytes() for p in (merged / "cases").iterdir()} == \
        {p.name: p.read_bytes() for p in (whole / "cases").iterdir()}
