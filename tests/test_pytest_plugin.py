"""The pytest plugin's --parity-report: every checked case of a session, from every
pytest-xdist worker, ends up in one results.json + parity.html."""

import json
import subprocess
import sys
import textwrap

import pytest

SUITE = textwrap.dedent('''
    import pytest
    from harness.casefile import case_from_dict
    from harness.conformance import assert_conforms

    def _case(lr, weight_decay=0.0):
        return case_from_dict({"schema": "optim-parity/case/1", "dtype": "float32",
                               "hyperparameters": {"lr": lr, "weight_decay": weight_decay},
                               "params": [{"name": "w", "shape": [2], "value": [0.5, -1.0]}],
                               "grads": [[[0.1, -0.2]], [[0.3, 0.05]]]})

    @pytest.mark.parametrize("lr", [0.1, 0.01, 0.001])
    def test_lr(lr):
        assert_conforms(_case(lr), "lr", "test_lr", implementations=["reference", "torch"])

    @pytest.mark.parametrize("weight_decay", [0.0, 0.5])
    def test_weight_decay(weight_decay):
        assert_conforms(_case(0.01, weight_decay), "weight_decay", "test_weight_decay",
                        implementations=["reference", "torch"])

    def test_not_a_case():
        assert True
''')


def _run(tmp_path, *args):
    # Only tests under <rootdir>/cases/ are the conformance suite; tests/ are not recorded.
    for directory in ("cases", "tests"):
        (tmp_path / directory).mkdir()
        (tmp_path / directory / f"test_{directory}_suite.py").write_text(SUITE)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "cases", "tests",
                           "--parity-report", str(tmp_path / "report"), *args],
                          capture_output=True, text=True, cwd=tmp_path, timeout=600)


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist-2-workers"])
def test_every_worker_s_cases_end_up_in_one_report(tmp_path, workers):
    proc = _run(tmp_path, *workers)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    document = json.loads((tmp_path / "report" / "results.json").read_text(encoding="utf-8"))
    assert document["schema"] == "optim-parity/results/1"
    assert document["run"]["source"] == "pytest" and document["run"]["profile"] == "ci"
    assert {case["test"].split("::")[0] for case in document["cases"]} == {"cases/test_cases_suite.py"}
    tests = sorted(case["test"].split("::")[-1] for case in document["cases"])
    assert tests == ["test_lr[0.001]", "test_lr[0.01]", "test_lr[0.1]",
                     "test_weight_decay[0.0]", "test_weight_decay[0.5]"]
    rows = {row["row"]: row["implementations"]["torch"] for row in document["rows"]}
    # The weight_decay cases set lr too: a case counts toward every row it exercises.
    assert rows["lr"]["cases"] == 5 and rows["lr"]["verdict"] == "consistent within tolerance"
    assert rows["weight_decay"]["cases"] == 2 and rows["eps"]["verdict"] == "not exercised"
    assert (tmp_path / "report" / "parity.html").exists()
    assert not (tmp_path / "report" / ".parts").exists()  # the parts are joined and removed
    assert "wrote" in proc.stdout


def test_the_same_session_twice_gives_the_same_report(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    for directory, workers in ((first, []), (second, ["-n", "2"])):
        directory.mkdir()
        assert _run(directory, *workers).returncode == 0
    for name in ("results.json", "parity.html"):
        assert (first / "report" / name).read_bytes() == (second / "report" / name).read_bytes()


def test_without_the_option_nothing_is_written(tmp_path):
    (tmp_path / "test_suite.py").write_text(SUITE)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_suite.py"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test_suite.py"]


FAILING = textwrap.dedent('''
    from hypothesis import given, strategies as st
    from harness.casefile import load_case
    from harness.conformance import assert_conforms

    CASE = load_case(r"{case}")

    @given(st.just(0))
    def test_eps(_):
        assert_conforms(CASE, "eps", "test_eps", implementations=["reference", "mindspore"], registry=[])
''')


def test_a_conformance_failure_shows_the_message_not_the_harness(tmp_path):
    """The failure reads like assert_close, under the test's own line: no frame of the
    harness's code, no Hypothesis "explain" phase pointing at the spec."""
    from pathlib import Path

    case = Path(__file__).resolve().parent.parent / "cases" / "reproducers" / "mindspore-eps-before-bias-correction.json"
    (tmp_path / "cases").mkdir()
    (tmp_path / "cases" / "test_failing.py").write_text(FAILING.format(case=case))
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "cases"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert "Mismatched elements: " in output and "Greatest error / tolerance: " in output
    assert "def assert_conforms" not in output and "harness/conformance.py" not in output, output
    assert "Explanation:" not in output and "reference/adam.py" not in output, output
