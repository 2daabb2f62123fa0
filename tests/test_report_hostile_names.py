"""parity.html with hostile case and parameter names: mathtext in plot labels, HTML, quotes
and a lone surrogate still give a page, escaped, that can be written as UTF-8."""

import json

import pytest

from harness.conformance import default_registry
from harness.html_report import render_parity_html
from harness.report import build_report
from harness.results import write_text_atomic
from harness.sweep import SweepCase
from tests.test_html_report import ALL, _case

EVIL = "<script>alert(1)</script>"
# `$\frac{$` is a malformed formula (mathtext raises on it); `$x$` a well-formed one.
HOSTILE = ["$x$", "$\\frac{$", "$\\frac{", EVIL, '"""', "\ud800"]


def _renamed(value, ids: dict):
    """`value` with every string equal to an old case id replaced by its new id."""
    if isinstance(value, dict):
        return {k: _renamed(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, ids) for v in value]
    return ids.get(value, value) if isinstance(value, str) else value


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """eps cases (MindSpore diverges: error plots, reproducers) whose parameter names are
    hostile; build_report renders the page with those names."""
    out = tmp_path_factory.mktemp("hostile")
    # Gradients differ per case, so one case is the worst (the one with a case file and a reproducer).
    cases = [SweepCase(f"eps-{i:03d}", "eps", "generated", _case(name=name, grads=[(g, -g)] * 3))
             for i, (name, g) in enumerate(zip(HOSTILE, (1e-6, 2e-6, 3e-6, 4e-6, 5e-6, 6e-6)))]
    build_report(out, registry=list(default_registry()), cases=cases, implementations=ALL)
    return out


def test_hostile_parameter_names_render(report):
    page = (report / "parity.html").read_text(encoding="utf-8")
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<svg" in page and "reproduce_eps_mindspore.py" in page


def test_hostile_case_ids_render_and_write(report, tmp_path):
    document = json.loads((report / "results.json").read_text())
    # Case ids are file names when a report is written, so hostile ones only come from a
    # results file: rename them there (case files keep their names). Reversed: the lone
    # surrogate names the worst case, which is plotted.
    ids = {c["id"]: f"eps-{name}" for c, name in zip(sorted(document["cases"], key=lambda c: c["id"]),
                                                     reversed(HOSTILE))}
    page = render_parity_html(_renamed(document, ids), report)
    assert "<script>alert" not in page and "eps-&lt;script&gt;" in page
    assert "<svg" in page and "\\ud800" in page
    written = write_text_atomic(page, tmp_path / "parity.html")
    assert written.read_text(encoding="utf-8") == page
