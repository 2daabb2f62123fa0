"""Fuzzing the file formats the commands read: hostile variants of valid files.

For every format (case files, the registry, the acceptance rules, results and baseline
files) Hypothesis mutates a valid file (tests/hostile_inputs.py: wrong types, missing
and extra keys, boundary numbers, deep nesting, odd encodings, cut files) and hands it
to each command that reads it. Whatever the file, the command ends with exit 0 or 1 and
a usable result, or exit 2 and one line on stderr: never a traceback, never exit 3 (a
bug of the harness). The commands run in-process on the numpy reference only, so the
whole module stays well under a minute in the ci profile. Results and baseline files get
the same treatment in tests/test_results_validation.py (compare, merge, matrix, baseline
save).
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.cli import main
from harness.pytest_plugin import scaled
from harness.acceptance import DEFAULT_RULES, RulesError, load_rules
from tests.hostile_inputs import json_file, toml_file

ROOT = Path(__file__).resolve().parent.parent
REPRODUCERS = ROOT / "cases" / "reproducers"
# Valid cases to mutate: default arguments; groups with a per-step lr list; row-sparse
# gradients with repeats; missing gradients (null).
CASE_FILES = [REPRODUCERS / "mindspore-betas-float32.json", ROOT / "tests" / "data" / "mindspore-groups-out-of-order.json",
              ROOT / "tests" / "data" / "sparse-repeated-unequal-copies.json",
              REPRODUCERS / "mindspore-missing-gradient-is-zero.json"]
CASES = [json.loads(path.read_text(encoding="utf-8")) for path in CASE_FILES]
REGISTRY = tomllib.loads((ROOT / "cases" / "known_divergences.toml").read_text(encoding="utf-8"))
# A few entries stand for the rest (each is checked the same way); keeps a mutation's
# file small and its load fast.
REGISTRY["divergence"] = REGISTRY["divergence"][:3]
RULES = tomllib.loads(Path(DEFAULT_RULES).read_text(encoding="utf-8"))
RULES["rule"] = RULES["rule"][:3]
FUZZ = settings(max_examples=scaled(60), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                              HealthCheck.too_slow])


def run_command(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_clean_outcome(code: int, err: str) -> None:
    """Exit 0/1 (a result), or 2 with exactly one line: never a traceback, never a harness bug."""
    assert "Traceback" not in err, err
    assert code in (0, 1, 2), f"exit {code}: {err}"
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("optim-parity: error: "), err


@pytest.mark.parametrize("base", range(len(CASES)), ids=[p.stem for p in CASE_FILES])
@FUZZ
@given(data=st.data())
def test_case_files(tmp_path, capsys, base, data):
    path, out = tmp_path / "case.json", tmp_path / "result.json"
    out.unlink(missing_ok=True)
    path.write_bytes(data.draw(json_file(CASES[base]), label="case file"))
    code, _, err = run_command(capsys, "replay", str(path), "--impl", "reference", "--json", str(out))
    assert_clean_outcome(code, err)
    if code != 2:  # a usable result: the result file was written and says what ran
        assert json.loads(out.read_text(encoding="utf-8"))["implementations"][0]["implementation"] == "reference"


@FUZZ
@given(data=st.data())
def test_registry_files(tmp_path, capsys, data):
    path = tmp_path / "known.toml"
    path.write_bytes(data.draw(toml_file(REGISTRY, "divergence"), label="registry"))
    code, _, err = run_command(capsys, "replay", str(CASE_FILES[0]), "--impl", "reference", "--registry", str(path))
    assert_clean_outcome(code, err)


@FUZZ
@given(data=st.data())
def test_acceptance_rule_files(tmp_path, data):
    path = tmp_path / "rules.toml"
    path.write_bytes(data.draw(toml_file(RULES, "rule"), label="rules"))
    try:
        load_rules(path)
    except RulesError as exc:
        assert "\n" not in str(exc)
