"""parity.html as a person sees it: rendered from a small real run, escaped, deterministic,
opened in headless Chromium (table, a plot and a reproducer in the page; a screenshot
taken), and a generated reproducer that reproduces on its own. Layout at 1280 px, print and
plots: tests/test_report_layout.py."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.casefile import case_from_dict, load_case
from harness.conformance import check_case, default_registry
from harness.html_report import _display, render_parity_html
from harness.report import build_report
from harness.reproducer_script import reproducer_script
from harness.sweep import SweepCase

ROOT = Path(__file__).resolve().parent.parent
ALL = ("reference", "torch", "mindspore")
EVIL = "<script>alert(1)</script>"


def _case(name="w", grads=((1e-6, -1e-6), (1e-6, 1e-6), (1e-6, -1e-6)), **hp):
    return case_from_dict({"schema": "optim-parity/case/1", "dtype": "float32", "hyperparameters": hp,
                           "params": [{"name": name, "shape": [2], "value": [0.5, -1.0]}],
                           "grads": [[list(g)] for g in grads]})


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """A small real run: an eps case (MindSpore diverges, known), a plain case, and a case
    whose parameter name is an HTML injection attempt."""
    out = tmp_path_factory.mktemp("report")
    cases = [SweepCase("eps-000", "eps", "generated", _case()),
             SweepCase("lr-000", "lr", "generated", _case(grads=((0.1, -0.2), (0.3, 0.1)), lr=0.01)),
             SweepCase("defaults-evil", "defaults", "generated", _case(name=EVIL))]
    build_report(out, registry=list(default_registry()), cases=cases, implementations=ALL)
    return out


def test_every_row_has_a_verdict_per_implementation(report):
    document = json.loads((report / "results.json").read_text())
    page = (report / "parity.html").read_text()
    for row in document["rows"]:
        assert f"<code>{row['row']}</code>" in page
        for name in ("torch", "mindspore"):
            assert _display(row["implementations"][name]["verdict"]) in page
    assert 'id="difference-table"' in page and 'href="#row-eps-mindspore"' in page
    # One column per entry point users call; the verdict says why a cell is empty.
    assert "<code>torch.<wbr>optim.<wbr>Adam</code>" in page and "<code>mindspore.<wbr>nn.<wbr>Adam</code>" in page
    assert "not exercised" not in page and "not generated" in page
    assert 'id="verdict"' in page and 'id="toc"' in page and "<details open" not in page
    assert "<svg" in page and "reproduce_eps_mindspore.py" in page
    # Self-contained: nothing is fetched (the only URLs are SVG namespaces and data: links).
    assert "src=\"http" not in page and "href=\"http" not in page and "<link" not in page


def test_strings_from_cases_are_escaped(report):
    page = (report / "parity.html").read_text()
    assert EVIL not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_rendering_is_deterministic(report):
    document = json.loads((report / "results.json").read_text())
    assert render_parity_html(document, report) == render_parity_html(document, report)
    assert render_parity_html(document, report) == (report / "parity.html").read_text()


@pytest.mark.parametrize("reproducer, implementation", [
    ("mindspore-eps-before-bias-correction.json", "mindspore"),
    ("torch-lerp-complement.json", "torch"),
    ("mindspore-missing-gradient-is-zero.json", "mindspore"),
])
def test_a_generated_reproducer_reproduces_on_its_own(tmp_path, reproducer, implementation):
    case = load_case(ROOT / "cases" / "reproducers" / reproducer)
    result = {r.implementation: r for r in check_case(case, ["reference", implementation])}[implementation]
    worst = max((v for v in result.violations if v.quantity != "step"), key=lambda v: v.ratio).to_json()
    script = tmp_path / "reproduce.py"
    script.write_text(reproducer_script(case, implementation, worst, reproducer))
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip().splitlines()[-1].startswith("DIVERGES: ")


def test_a_reproducer_of_a_consistent_case_says_within_tolerance(tmp_path):
    case = _case(grads=((0.1, -0.2), (0.3, 0.1)))
    violation = {"quantity": "param", "param": "w", "index": 0, "step": 2, "expected": 0.0, "actual": 0.0,
                 "tolerance": 1e-6, "rows": [], "divergence": None}
    script = tmp_path / "reproduce.py"
    script.write_text(reproducer_script(case, "torch", violation))
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert run.stdout.strip().splitlines()[-1].startswith("within tolerance: ")


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    if shutil.which("apt-get") and hasattr(__import__("os"), "geteuid") and __import__("os").geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], capture_output=True, timeout=900)
        if shutil.which("chromium"):
            return shutil.which("chromium")
    pytest.skip("headless Chromium is not installed and cannot be installed here (needs root and apt)")


def test_the_page_in_headless_chromium(report, tmp_path):
    chromium = _chromium()
    url = (report / "parity.html").as_uri()
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    dom = subprocess.run([chromium, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=300).stdout
    # What the browser built, not what we wrote: the table, an SVG plot, a reproducer.
    assert 'id="difference-table"' in dom and "<svg" in dom and 'class="reproducer-script"' in dom
    assert "DIVERGES" in dom and "diverges (known: mindspore-eps-before-bias-correction)" in dom
    # (the committed screenshots are of a ci-profile report: tests/test_report_layout.py main)
    shot = tmp_path / "parity.png"
    subprocess.run([chromium, *flags, f"--screenshot={shot}", "--window-size=1280,3000", url],
                   capture_output=True, timeout=300)
    assert shot.exists() and shot.stat().st_size > 10_000
