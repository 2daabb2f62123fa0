"""A report writes the case file of a big case (more element-steps than
results.BINARY_CASE_ELEMENT_STEPS) as cases/<id>.npz, the binary case file
(harness/casefile_npz.py), and every other case file as cases/<id>.json as before:
the results file names it and validates, it loads back as the case bit for bit, the
page renders from it, and merge reads it back (the merged report is the unsharded one
byte for byte)."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest

import harness.casefile
from harness.casefile import case_from_dict, dumps_case, load_case
from harness.cli import main
from harness.conformance import default_registry
from harness.html_report import render_parity_html
from harness.report import build_report, write_report
from harness.results import (BINARY_CASE_ELEMENT_STEPS, CASE_FILE, ResultsError, binary_case_file, case_entries,
                             element_steps, load_results, validate_results)
from harness.shard import in_shard
from harness.sweep import SweepCase

FAST = ("reference", "torch")
BIG_ELEMENTS = 60_000  # x 2 steps: 120,000 element-steps, over the threshold
BIG_ID = "defaults-big"


def _small(lr: float):
    return case_from_dict({"schema": "optim-parity/case/1", "dtype": "float32", "hyperparameters": {"lr": lr},
                           "params": [{"name": "w", "shape": [2], "value": [0.5, -1.0]}],
                           "grads": [[[0.1, -0.2]], [[0.3, 0.05]]]})


def _big():
    rng = np.random.default_rng(7)
    value = rng.standard_normal(BIG_ELEMENTS).astype(np.float32)
    grads = [[rng.standard_normal(BIG_ELEMENTS).astype(np.float32)] for _ in range(2)]
    return case_from_dict({"schema": "optim-parity/case/1", "dtype": "float32", "hyperparameters": {},
                           "params": [{"name": "fc.weight", "shape": [300, 200], "value": value}],
                           "grads": grads})


def _cases() -> list[SweepCase]:
    return [SweepCase(BIG_ID, "defaults", "generated", _big())] + \
        [SweepCase(f"lr-{i:03d}", "lr", "generated", _small(lr)) for i, lr in enumerate((0.1, 0.01, 0.001, 0.3))]


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, Path]:
    """The whole run and its two shards (results.json of each)."""
    root = tmp_path_factory.mktemp("npz-reports")
    registry = list(default_registry())
    out = {}
    for name, shard in (("whole", None), ("1-of-2", (1, 2)), ("2-of-2", (2, 2))):
        build_report(root / name, registry=registry, cases=_cases(), implementations=FAST, shard=shard)
        out[name] = root / name / "results.json"
    return out


def test_the_big_case_is_over_the_threshold_and_the_small_ones_are_not():
    # (else the tests below would not test the threshold)
    by_id = {c.id: c.case for c in _cases()}
    entries = {case_id: {"params": [{"shape": list(p.shape)} for p in case.params], "steps": case.num_steps}
               for case_id, case in by_id.items()}
    assert element_steps(entries[BIG_ID]) == 2 * BIG_ELEMENTS > BINARY_CASE_ELEMENT_STEPS
    assert binary_case_file(entries[BIG_ID])
    assert not any(binary_case_file(e) for case_id, e in entries.items() if case_id != BIG_ID)
    # The threshold itself is JSON; a scalar counts 1 element.
    assert not binary_case_file({"params": [{"shape": [50_000]}], "steps": 2})
    assert binary_case_file({"params": [{"shape": [50_000]}, {"shape": []}], "steps": 2})
    # Both shards hold cases, the big one in one of them.
    assert all(any(in_shard(c.id, (k, 2)) for c in _cases()) for k in (1, 2))


def test_the_big_case_file_is_npz_and_loads_back_as_the_case(reports):
    whole = reports["whole"].parent
    document = load_results(reports["whole"])  # validates: CASE_FILE takes .npz
    files = {c["id"]: c["case_file"] for c in document["cases"]}
    assert files[BIG_ID] == f"cases/{BIG_ID}.npz"
    assert [row["implementations"]["torch"]["worst_case_file"] for row in document["rows"]
            if row["implementations"]["torch"]["worst_case"] == BIG_ID] == [f"cases/{BIG_ID}.npz"]
    small = [f for case_id, f in files.items() if case_id != BIG_ID and f]
    assert small and all(f.endswith(".json") for f in small)
    assert sorted(p.name for p in (whole / "cases").iterdir()) == sorted(Path(f).name for f in files.values() if f)

    path = whole / files[BIG_ID]
    assert path.read_bytes()[:4] == b"PK\x03\x04"  # a zip (an .npz), not JSON under its name
    loaded, case = load_case(path), _big()
    assert dumps_case(loaded) == dumps_case(case)
    for mine, theirs in zip(loaded.params, case.params):
        assert mine.name == theirs.name and mine.shape == theirs.shape
        assert mine.value.dtype == theirs.value.dtype and mine.value.tobytes() == theirs.value.tobytes()
    for mine, theirs in zip(loaded.grads, case.grads):
        assert [g.tobytes() for g in mine] == [g.tobytes() for g in theirs]
    for case_id, name in files.items():
        if name and case_id != BIG_ID:
            assert json.loads((whole / name).read_text(encoding="utf-8"))["schema"] == "optim-parity/case/1"
    # Read back as merge reads it: the entry's case text, the case's JSON text.
    entry = next(e for e in case_entries(document, whole) if e["id"] == BIG_ID)
    assert entry["case_text"] == dumps_case(case)
    assert not list(whole.rglob("*.tmp"))


def test_two_shards_merge_into_the_whole_run_npz_included(tmp_path, reports, capsys):
    out = tmp_path / "merged" / "results.json"
    assert main(["merge", str(reports["2-of-2"]), str(reports["1-of-2"]), "-o", str(out)]) == 0
    whole = reports["whole"].parent
    for name in ("results.json", "parity.html"):
        assert (out.parent / name).read_bytes() == (whole / name).read_bytes()
    merged_cases = {p.name: p.read_bytes() for p in (out.parent / "cases").iterdir()}
    assert merged_cases == {p.name: p.read_bytes() for p in (whole / "cases").iterdir()}
    assert f"{BIG_ID}.npz" in merged_cases


def test_merge_refuses_an_npz_that_is_not_the_case(tmp_path, reports, capsys):
    shard = next(name for name in ("1-of-2", "2-of-2") if in_shard(BIG_ID, (int(name[0]), 2)))
    copy = tmp_path / shard
    copy.mkdir()
    for path in reports[shard].parent.rglob("*"):
        if path.is_file():
            (copy / path.relative_to(reports[shard].parent)).parent.mkdir(parents=True, exist_ok=True)
            (copy / path.relative_to(reports[shard].parent)).write_bytes(path.read_bytes())
    harness.casefile.save_case(_small(0.1), copy / "cases" / f"{BIG_ID}.npz")  # another case under its name
    other = reports["2-of-2" if shard == "1-of-2" else "1-of-2"]
    capsys.readouterr()
    assert main(["merge", str(copy / "results.json"), str(other), "-o", str(tmp_path / "m" / "results.json")]) == 2
    err = capsys.readouterr().err
    assert f"not the case file of case {BIG_ID}" in err and err.count("\n") == 1, err


def test_the_page_makes_a_reproducer_from_an_npz_case_file(reports):
    """A violation on the big case (none happens on torch: one is added to the results,
    as a report of a diverging implementation would list it): the page's reproducer
    reads the case from its .npz."""
    whole = reports["whole"].parent
    document = json.loads(reports["whole"].read_text(encoding="utf-8"))
    row = next(r for r in document["rows"] if r["implementations"]["torch"]["worst_case"] == BIG_ID)
    info = row["implementations"]["torch"]
    index = 12_345
    info["violations"] = [{"case": BIG_ID, "quantity": "param", "param": "fc.weight", "shape": [300, 200],
                           "dtype": "float32", "step": 1, "index": index, "expected": 0.25, "actual": 0.5,
                           "error": 0.25, "tolerance": 1e-6, "ratio": 250000.0, "reference_scale": 1.0,
                           "relative_error": 1.0, "rows": [row["row"]], "joint": False, "divergence": ""}]
    validate_results(document, "injected")
    page = render_parity_html(document, whole)
    scripts = re.findall(r'href="data:text/x-python;base64,([A-Za-z0-9+/=]+)"', page)
    assert scripts, "no reproducer on the page"
    text = base64.b64decode(scripts[0]).decode("utf-8")
    assert f"Case {BIG_ID} (float32; 1 parameter(s), {BIG_ELEMENTS} element(s)" in " ".join(text.split())


@pytest.mark.parametrize("name", ["cases/x.npz", "cases/x.json", "cases/test_a-1.2+b.npz"])
def test_case_file_names_accepted(name):
    assert re.fullmatch(CASE_FILE, name)


@pytest.mark.parametrize("name", ["x.npz/../y", "cases/x.npz/../y", "/abs.npz", "/cases/abs.npz", "x.txt",
                                  "cases/x.txt", "cases/x.npz.txt", "cases/../x.npz", "cases/sub/x.npz", "x.npz",
                                  "cases/.npz", "cases\\x.npz", "cases/x.NPZ", "cases/x.npzz"])
def test_case_file_names_refused(name, reports):
    assert not re.fullmatch(CASE_FILE, name)
    document = json.loads(reports["whole"].read_text(encoding="utf-8"))
    big = next(c for c in document["cases"] if c["id"] == BIG_ID)
    big["case_file"] = name
    with pytest.raises(ResultsError, match=r"case_file"):
        validate_results(document, "r.json")


def test_a_failed_npz_write_leaves_the_previous_file_and_no_temp_file(tmp_path, reports, monkeypatch):
    document = load_results(reports["whole"])
    entries = [e for e in case_entries(document, reports["whole"].parent) if "case_text" in e]
    to_save = [dict(e, case_file=c["case_file"]) for e in entries for c in document["cases"] if c["id"] == e["id"]]
    out = tmp_path / "report"
    registry = list(default_registry())
    write_report(out, document, to_save, registry)
    before = (out / "cases" / f"{BIG_ID}.npz").read_bytes()

    def broken(path, metadata, arrays):
        Path(path).write_bytes(b"PK half an archive")
        raise OSError("No space left on device")

    monkeypatch.setattr(harness.casefile, "write_npz", broken)
    with pytest.raises(OSError, match="No space left"):
        write_report(out, document, to_save, registry)
    assert (out / "cases" / f"{BIG_ID}.npz").read_bytes() == before
    assert not list(out.rglob("*.tmp"))


def test_a_case_too_large_for_a_script_is_replayed_not_embedded(reports):
    """The same violation at step 2: 120,000 element-steps up to it, over
    REPRODUCER_MAX_ELEMENT_STEPS, so the page embeds no script of it (it would be
    megabytes of decimals); the case file is there to replay."""
    whole = reports["whole"].parent
    document = json.loads(reports["whole"].read_text(encoding="utf-8"))
    row = next(r for r in document["rows"] if r["implementations"]["torch"]["worst_case"] == BIG_ID)
    info = row["implementations"]["torch"]
    info["violations"] = [{"case": BIG_ID, "quantity": "param", "param": "fc.weight", "shape": [300, 200],
                           "dtype": "float32", "step": 2, "index": 7, "expected": 0.25, "actual": 0.5,
                           "error": 0.25, "tolerance": 1e-6, "ratio": 250000.0, "reference_scale": 1.0,
                           "relative_error": 1.0, "rows": [row["row"]], "joint": False, "divergence": ""}]
    validate_results(document, "injected")
    page = render_parity_html(document, whole)
    assert not re.findall(r'href="data:text/x-python;base64,', page)
    assert f"{BIG_ID}.npz" in page
