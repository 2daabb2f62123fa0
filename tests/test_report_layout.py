"""parity.html's layout, print and plots with many implementations.

    the severity rule (default arguments / options / corner cases) and the entry-point
        columns (the catalogue's `call`)
    every plot series is drawn inside its axes, from results with inf, NaN, 0 and 1e300
        ratios and zero gradients (the figures are inspected before they are saved)
    headless Chromium, on the committed ci-profile baseline (28 implementations): the
        difference table fits a 1280 px viewport with no sideways scrolling, and the PDF
        printed with the page's print stylesheet carries every entry point's column

`python -m tests.test_report_layout REPORT_DIR` writes reports/screenshots/ from a ci report
(`make report` writes one to reports/latest): the top at 1280 px, the first divergent
section at default arguments, and the first page of the printed PDF.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
import unicodedata
import zlib
from pathlib import Path

import pytest

from harness.html_report import (
    CORNER,
    DEFAULT_USE,
    OPTIONS,
    _columns,
    _error_figure,
    _eps_figures,
    _svg,
    case_severity,
    entry_point,
    render_parity_html,
    undrawn_series,
)

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "reports" / "screenshots"
BASELINE = ROOT / "reports" / "baselines" / "torch-2.13.0_mindspore-2.10.0_ci.json"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
WIDTH = 1280

# --------------------------------------------------------------------------- severity, columns

DEFAULT_FEATURES = {"lr": "number", "betas": "default", "eps": "default", "weight_decay": "zero",
                    "decoupled_weight_decay": False, "amsgrad": False, "maximize": False, "use_locking": False,
                    "use_nesterov": False, "loss_scale": "one", "use_lazy": False, "use_offload": False,
                    "dtype": "float32", "layout": "dense", "groups": "none"}


def _entry(row="defaults", dtype="float32", hyperparameters=None, nonfinite=None, **features):
    entry = {"id": "c", "row": row, "dtype": dtype, "hyperparameters": hyperparameters or {},
             "features": dict(DEFAULT_FEATURES, dtype=dtype, **features)}
    if nonfinite:
        entry["nonfinite"] = nonfinite
    return entry


@pytest.mark.parametrize("entry, level, reason", [
    (_entry(), DEFAULT_USE, None),
    (_entry(row="eps", hyperparameters={"eps": 1e-8, "lr": 0.01}), DEFAULT_USE, None),
    (_entry(weight_decay="nonzero"), OPTIONS, "weight decay"),
    (_entry(amsgrad=True, layout="row_sparse"), OPTIONS, "row-sparse gradients"),
    (_entry(dtype="float64"), OPTIONS, "float64"),
    (_entry(lr="list"), OPTIONS, "lr schedule"),
    (_entry(dtype="float16"), CORNER, "float16"),
    (_entry(dtype="bfloat16", weight_decay="nonzero"), CORNER, "bfloat16"),
    (_entry(row="extreme_gradients"), CORNER, "extreme gradients"),
    (_entry(nonfinite={"reference": {"w.exp_avg_sq": {"+inf": 2}}}), CORNER, "overflow (the spec goes non-finite too)"),
    (_entry(betas="extreme"), CORNER, "extreme betas"),
    (_entry(lr="zero"), CORNER, "lr = 0"),
    (_entry(eps="other", hyperparameters={"eps": 1.0}), CORNER, "extreme eps"),
    (_entry(eps="other", hyperparameters={"eps": 1e-6}), OPTIONS, "other eps"),
])
def test_severity_rule(entry, level, reason):
    found, reasons = case_severity(entry)
    assert found == level
    assert reasons == [] if reason is None else reason in reasons


def test_columns_are_the_entry_points_users_call():
    assert entry_point("torch.optim.Adam(..., foreach=True)", "torch-foreach") == "torch.optim.Adam"
    assert entry_point("mindspore.nn.Adam, built and stepped under GRAPH_MODE", "x") == "mindspore.nn.Adam"
    assert entry_point("(test-only)", "torch-extra") == "torch-extra"
    if not BASELINE.exists():
        pytest.skip(f"{BASELINE.name} is not here")
    document = json.loads(BASELINE.read_text(encoding="utf-8"))
    names = [n for n in document["run"]["implementations"] if n != "reference"]
    columns = {c["call"]: c["variants"] for c in _columns(document, names)}
    assert list(columns) == ["torch.optim.Adam", "torch.optim.AdamW", "torch.optim.SparseAdam", "mindspore.nn.Adam",
                             "mindspore.nn.AdamWeightDecay", "mindspore.experimental.optim.AdamW",
                             "mindspore.mint.optim.Adam", "mindspore.mint.optim.AdamW", "optax.adam", "optax.adamw",
                             "optax.amsgrad", "keras.optimizers.Adam", "keras.optimizers.AdamW", "paddle.optimizer.Adam",
                             "paddle.optimizer.AdamW"]
    assert sorted(n for v in columns.values() for n in v) == sorted(names)
    assert columns["mindspore.mint.optim.Adam"] == ["mindspore-mint", "mindspore-mint-graph"]


# --------------------------------------------------------------------------- plots

HOSTILE_RATIOS = [0.5, 2.0, "inf", "inf", "nan", 1e300, 0.0, 1e-300, 3.0]


def _series(ratios, param="w"):
    return {"quantity": "param", "param": param, "index": 0, "steps": list(range(1, len(ratios) + 1)),
            "ratio": ratios}


@pytest.mark.parametrize("ratios", [
    HOSTILE_RATIOS,
    ["inf"],  # one point, nothing finite
    ["nan", "nan"],
    [1e300, 1e301],  # huge, finite
    [0.0, 0.0, 0.0],
    [0.1] * 300,  # long: no markers
    [4.5] + ["inf"] * 9999,  # a long run that went inf at step 2
])
def test_every_series_of_an_error_plot_is_drawn(ratios):
    series = [{"case": "case-1", "variants": ["mindspore"], "data": _series(ratios)},
              {"case": "case-2", "variants": ["mindspore-graph", "mindspore-lr-tensor"], "data": _series([2.0, 1.5])},
              {"case": "$\\frac{$ <b>", "variants": ["x"], "data": _series([1.0], param="\ud800")}]
    figure = _error_figure(series)
    try:
        assert undrawn_series(figure) == []
        (axes,) = figure.axes
        labels = [line.get_label() for line in axes.get_lines() if not line.get_label().startswith("_")]
        assert len(labels) == 3 and "\\ud800" in labels[2]  # a lone surrogate is drawn as its escape
        ticks = {t.get_text() for t in axes.get_yticklabels()}
        finite = [float(r) for r in ratios if str(r) not in ("inf", "nan")]
        assert ("inf" in ticks) == ("inf" in map(str, ratios)) and ("nan" in ticks) == ("nan" in map(str, ratios))
        assert ("0" in ticks) == (0.0 in finite)
        # the legend is outside the axes (below them)
        legend = axes.get_legend()
        figure.canvas.draw()
        assert legend.get_window_extent().y1 <= axes.get_window_extent().y0
    finally:
        import matplotlib.pyplot as plt

        plt.close(figure)


def test_every_series_of_the_eps_plot_is_drawn_and_zero_gradients_are_labelled():
    variants = ["torch", "torch-foreach", "torch-fused", "torch-adamw", "mindspore", "mindspore-graph",
                "mindspore-lr-tensor", "mindspore-lr-schedule", "mindspore-target-cpu", "mindspore-mint",
                "mindspore-mint-graph", "torch-sparse", "torch-lr-scheduler", "torch-differentiable"]
    points = [[0.0, 0.5], [0.0, 1.0], [1e-30, 0.9], [1e-3, 0.01], [1.0, 0.5], [1e6, 1.0], [1e12, 1.0000001],
              [10.0, "inf"], [100.0, "nan"], [1e5, -3.0]]
    cases = [{"id": f"eps-{i}", "row": "eps", "implementations": [
        {"implementation": name, "update_ratio": [[x * (1 + j), y] for x, y in points]}
        for j, name in enumerate(variants)]} for i in range(2)]
    columns = [{"call": "torch.optim.Adam", "framework": "torch", "variants": variants[:3] + variants[12:]},
               {"call": "torch.optim.AdamW", "framework": "torch", "variants": ["torch-adamw"]},
               {"call": "mindspore.nn.Adam", "framework": "mindspore", "variants": variants[4:9]},
               {"call": "mindspore.mint.optim.Adam", "framework": "mindspore", "variants": variants[9:11]},
               # a name from a results file (a fallback column name): no mathtext, a lone surrogate escaped
               {"call": "$\\frac{$\ud800", "framework": "torch", "variants": ["torch-sparse"]}]
    panels = _eps_figures(cases, columns)
    import matplotlib.pyplot as plt

    try:
        assert [p["call"] for p in panels] == [c["call"] for c in columns]  # small multiples, one per entry point
        for panel in panels:
            figure = panel["figure"]
            assert undrawn_series(figure) == []
            (axes,) = figure.axes
            shown = [line for line in axes.get_lines() if not line.get_label().startswith("_")]
            colours = [line.get_color() for line in shown]
            assert len(set(colours)) == len(colours)  # distinct colours within a panel
            assert "zero\ngradient" in {t.get_text() for t in axes.get_xticklabels()}
            assert {"inf", "nan"} <= {t.get_text() for t in axes.get_yticklabels()}
        svg = _svg(panels[-1]["figure"])
        assert "$\\frac{$\\ud800" in svg and "zero" in svg
    finally:
        for panel in panels:
            plt.close(panel["figure"])


@pytest.fixture(scope="module")
def hostile_document(tmp_path_factory):
    """The small real report of tests/test_html_report.py with its plot data made hostile:
    inf, NaN, 0 and 1e300 ratios, a single-step series, zero and non-finite eps points."""
    from tests.test_html_report import ALL, _case
    from harness.conformance import default_registry
    from harness.report import build_report
    from harness.sweep import SweepCase

    out = tmp_path_factory.mktemp("hostile-plots")
    cases = [SweepCase("eps-000", "eps", "generated", _case()),
             SweepCase("eps-001", "eps", "generated", _case(grads=((0.0, 1e-9), (1e-9, 0.0), (1.0, -1.0)))),
             SweepCase("defaults-000", "defaults", "generated", _case(grads=((0.1, -0.2), (0.3, 0.1))))]
    build_report(out, registry=list(default_registry()), cases=cases, implementations=ALL)
    document = json.loads((out / "results.json").read_text(encoding="utf-8"))
    document = copy.deepcopy(document)
    plotted = 0
    for case in document["cases"]:
        for impl in case["implementations"]:
            if impl.get("series"):
                impl["series"]["ratio"] = (HOSTILE_RATIOS * 3)[:len(impl["series"]["steps"])] if plotted else ["inf"]
                impl["series"]["steps"] = impl["series"]["steps"][:len(impl["series"]["ratio"])]
                plotted += 1
            if impl.get("update_ratio"):
                impl["update_ratio"] += [[0.0, 0.7], [1e300, "inf"], [1e-5, "nan"]]
    assert plotted
    return document, out


def test_a_report_from_hostile_ratios_draws_every_series(hostile_document, monkeypatch):
    import harness.html_report as html_report

    document, out = hostile_document
    seen = []
    real_svg = html_report._svg

    def checked(figure):
        seen.append(undrawn_series(figure))
        return real_svg(figure)

    monkeypatch.setattr(html_report, "_svg", checked)
    page = render_parity_html(document, out)
    assert seen and all(found == [] for found in seen), seen
    assert page.count("<svg") == len(seen)
    assert ">inf</text>" in page and ">nan</text>" in page  # the bands are labelled in the SVG


# --------------------------------------------------------------------------- Chromium

_PROBE = """<script>addEventListener("load", () => {
  const table = document.getElementById("difference-table");
  const root = document.documentElement;
  const at = id => {
    const e = document.getElementById(id);
    return e ? e.getBoundingClientRect().top + scrollY : null;
  };
  const out = document.createElement("pre");
  out.id = "layout-probe";
  out.textContent = JSON.stringify({
    viewport: root.clientWidth, scrollWidth: root.scrollWidth, height: root.scrollHeight,
    tableRight: table.getBoundingClientRect().right, tableWidth: table.getBoundingClientRect().width,
    tables: document.querySelectorAll("table").length, plots: document.querySelectorAll("svg").length,
    openDetails: document.querySelectorAll("details[open]").length,
    firstDefaultSection: (document.querySelector("section.detail .v-known-default, section.detail .v-divergent")
                          || {closest: () => null}).closest("section")?.id ?? null,
    offsets: Object.fromEntries(IDS.map(id => [id, at(id)])),
  });
  document.body.appendChild(out);
});</script>"""


def chromium_binary() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def _chromium() -> str:
    from tests.test_html_report import _chromium as find_or_install

    return find_or_install()


def layout(chromium: str, page: Path, width: int = WIDTH, ids: tuple[str, ...] = ()) -> dict:
    """What the browser laid out at this width (a probe script in a copy of the page: the
    page itself has no script)."""
    probe = page.with_name(page.stem + ".probe.html")
    text = page.read_text(encoding="utf-8").replace(
        "</body>", _PROBE.replace("IDS", json.dumps(list(ids))) + "</body>")
    probe.write_text(text, encoding="utf-8")
    try:
        dom = subprocess.run([chromium, *FLAGS, f"--window-size={width},900", "--dump-dom", probe.as_uri()],
                             capture_output=True, text=True, timeout=300).stdout
    finally:
        probe.unlink()
    found = re.search(r'<pre id="layout-probe">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    import html

    return json.loads(html.unescape(found.group(1)))


def print_pdf(chromium: str, page: Path, pdf: Path) -> Path:
    subprocess.run([chromium, *FLAGS, "--no-pdf-header-footer", "--print-to-pdf-no-header",
                    f"--print-to-pdf={pdf}", page.as_uri()], capture_output=True, timeout=300)
    assert pdf.exists() and pdf.stat().st_size > 1000
    return pdf


def pdf_text(pdf: Path) -> str:
    """The PDF's text: pdftotext (poppler) when installed, else a small reader of what
    Chromium writes (Type0 fonts, Identity-H, ToUnicode maps, hex strings in Tj/TJ)."""
    if shutil.which("pdftotext"):
        run = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, timeout=120)
        if run.returncode == 0:
            return unicodedata.normalize("NFKC", run.stdout)
    return unicodedata.normalize("NFKC", _pdf_text(pdf.read_bytes()))


def _pdf_text(data: bytes) -> str:
    objects: dict[int, tuple[bytes, bytes | None]] = {}
    for match in re.finditer(rb"(?m)^(\d+) 0 obj\b", data):
        start, end = match.end(), data.find(b"endobj", match.end())
        stream = data.find(b"stream", start, end if end != -1 else None)
        if stream == -1:
            objects[int(match.group(1))] = (data[start:end], None)
            continue
        head = data[start:stream]
        length = re.search(rb"/Length (\d+)(?! \d+ R)", head)
        body_start = stream + 6 + (2 if data[stream + 6:stream + 8] == b"\r\n" else 1)
        body = data[body_start:body_start + int(length.group(1))] if length else b""
        if b"/FlateDecode" in head:
            try:
                body = zlib.decompress(body)
            except zlib.error:
                body = b""
        objects[int(match.group(1))] = (head, body)

    def to_unicode(number: int) -> dict[int, str]:
        out, body = {}, objects.get(number, (b"", b""))[1] or b""
        for block in re.findall(rb"beginbfchar(.*?)endbfchar", body, re.S):
            for src, dst in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
                out[int(src, 16)] = bytes.fromhex(dst.decode()).decode("utf-16-be", "replace")
        for block in re.findall(rb"beginbfrange(.*?)endbfrange", body, re.S):
            for lo, hi, dst in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
                for i, code in enumerate(range(int(lo, 16), int(hi, 16) + 1)):
                    out[code] = chr(int(dst, 16) + i)
        return out

    fonts = {n: to_unicode(int(m.group(1))) for n, (head, _) in objects.items()
             if b"/Type /Font" in head and (m := re.search(rb"/ToUnicode (\d+) 0 R", head))}
    text = []
    for number in sorted(objects):
        head = objects[number][0]
        if not re.search(rb"/Type /Page\b", head):
            continue
        shared = re.search(rb"/Resources (\d+) 0 R", head)
        resources = objects.get(int(shared.group(1)), (b"",))[0] if shared else head
        font_dict = re.search(rb"/Font\s*<<(.*?)>>", resources, re.S)
        names = dict(re.findall(rb"/([\w.+-]+) (\d+) 0 R", font_dict.group(1))) if font_dict else {}
        contents = re.search(rb"/Contents (?:\[([^\]]*)\]|(\d+) 0 R)", head)
        refs = (re.findall(rb"(\d+) 0 R", contents.group(1)) if contents.group(1) else [contents.group(2)]) \
            if contents else []
        for ref in refs:
            current: dict[int, str] = {}
            for token in re.finditer(rb"/([\w.+-]+) [\d.]+ Tf|\[((?:[^\]\\]|\\.)*)\]\s*TJ|<([0-9A-Fa-f]*)>\s*Tj|\bET\b",
                                     objects.get(int(ref), (b"", b""))[1] or b""):
                if token.group(1):
                    current = fonts.get(int(names.get(token.group(1), b"0")), {})
                elif token.group(2) is None and token.group(3) is None:
                    text.append("\n")
                else:
                    hexes = re.findall(rb"<([0-9A-Fa-f]*)>", token.group(2)) if token.group(2) is not None \
                        else [token.group(3)]
                    for h in hexes:
                        raw = bytes.fromhex(h.decode())
                        text.append("".join(current.get(int.from_bytes(raw[i:i + 2], "big"), "")
                                            for i in range(0, len(raw) - 1, 2)))
    return "".join(text)


@pytest.fixture(scope="module")
def baseline_page(tmp_path_factory):
    """The committed ci-profile baseline (28 implementations; no case files beside it, so no
    reproducers, and no plot data), rendered."""
    if not BASELINE.exists():
        pytest.skip(f"{BASELINE.name} is not here")
    out = tmp_path_factory.mktemp("baseline") / "parity.html"
    document = json.loads(BASELINE.read_text(encoding="utf-8"))
    out.write_text(render_parity_html(document, out.parent), encoding="utf-8")
    return out, document


def test_the_difference_table_fits_1280_px(baseline_page):
    chromium = _chromium()
    page, _ = baseline_page
    found = layout(chromium, page)
    assert found["viewport"] == WIDTH
    assert found["scrollWidth"] <= found["viewport"], found  # no sideways scrolling anywhere
    assert found["tableRight"] <= found["viewport"], found
    assert found["openDetails"] == 0  # details collapsed by default


def test_the_printed_pdf_carries_every_entry_point_column(baseline_page, tmp_path):
    chromium = _chromium()
    page, document = baseline_page
    text = re.sub(r"\s+", "", pdf_text(print_pdf(chromium, page, tmp_path / "parity.pdf")))
    names = [n for n in document["run"]["implementations"] if n != "reference"]
    for column in _columns(document, names):
        assert column["call"] in text, column["call"]
    for name in names:  # and every implementation, in the grid
        assert name in text, name
    for row in document["rows"]:
        assert row["row"] in text
    assert "Verdict" in text and "Contents" in text


def test_pdf_text_reader_reads_chromium_pdfs(baseline_page, tmp_path):
    """The pure-Python reader (used where pdftotext is not installed) finds the same words."""
    chromium = _chromium()
    page, document = baseline_page
    pdf = print_pdf(chromium, page, tmp_path / "parity.pdf")
    text = re.sub(r"\s+", "", unicodedata.normalize("NFKC", _pdf_text(pdf.read_bytes())))
    assert "mindspore.mint.optim.Adam" in text and "torch.optim.SparseAdam" in text and "Verdict" in text


# --------------------------------------------------------------------------- screenshots


def screenshots(report_dir: Path, out_dir: Path = SCREENSHOTS) -> list[Path]:
    """From a report directory (parity.html): the top at 1280 px, the first section of a
    divergence at default arguments (else the first section), the PDF's first page."""
    chromium = chromium_binary()
    if chromium is None:
        raise SystemExit("headless Chromium is not installed")
    from PIL import Image

    page = Path(report_dir) / "parity.html"
    out_dir.mkdir(parents=True, exist_ok=True)
    first = layout(chromium, page)
    section = first["firstDefaultSection"] or "details"
    found = layout(chromium, page, ids=(section,))
    top = int(found["offsets"][section] or 0)
    tall = out_dir / ".tall.png"
    subprocess.run([chromium, *FLAGS, f"--screenshot={tall}", f"--window-size={WIDTH},{top + 1600}", page.as_uri()],
                   capture_output=True, timeout=300)
    written = []
    with Image.open(tall) as image:
        for name, box in (("parity-top-1280.png", (0, 0, WIDTH, 1600)),
                          ("parity-section-1280.png", (0, max(top - 10, 0), WIDTH, top + 1590))):
            image.crop(box).save(out_dir / name, optimize=True)
            written.append(out_dir / name)
    tall.unlink()
    pdf = print_pdf(chromium, page, out_dir / ".parity.pdf")
    if not shutil.which("pdftoppm"):
        raise SystemExit("pdftoppm (poppler-utils) is needed for the PDF's first page")
    subprocess.run(["pdftoppm", "-png", "-r", "110", "-f", "1", "-l", "1", "-singlefile", str(pdf),
                    str(out_dir / "parity-pdf-page1")], check=True, timeout=120)
    pdf.unlink()
    written.append(out_dir / "parity-pdf-page1.png")
    return written


if __name__ == "__main__":
    for path in screenshots(Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "reports" / "latest")):
        print(path)
