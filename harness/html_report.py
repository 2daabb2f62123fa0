"""parity.html: the results document (schema optim-parity/results/1) as one page people
read at a glance — self-contained (CSS and SVG inline, no script, reproducers as data:
links), readable at 1280 px without scrolling sideways, and printable (landscape, table
headers repeated on every page).

    the verdict banner: per framework, rows consistent / divergent / unregistered and the
        worst divergence at default arguments in words and numbers
    the difference table in the seed's shape, one column per entry point users call
        (the catalogue's `call`: torch.optim.Adam, torch.optim.AdamW, mindspore.nn.Adam, ...),
        each cell summarising its variants (implementations), with their verdicts in a
        collapsed <details>; then every implementation's verdict in one compact grid
    the eps plot: first update against the spec's, one small panel per entry point
    per row x entry point with a divergence: the variants' verdicts, how bad (severity, the
        worst finite relative error, what went non-finite at which step), a plot of
        error/tolerance against step, the violating parameters and the reproducers
    an appendix (collapsed): by implementation and dtype, pairwise coverage, the registry,
        the hyperparameter acceptance sets, the environment

Severity (`case_severity`, one rule for the whole page): a divergence shows
    at default arguments   in a float32 case with every option at its default value class
                           (harness/catalogue.py FACTORS: lr a number, betas and eps the
                           defaults, no weight decay, dense gradients, one group, ...) and
                           ordinary gradients;
    with options           in float32/float64 cases that set ordinary options (weight decay,
                           amsgrad, an lr schedule, sparse or missing gradients, groups,
                           other betas or eps, float64, ...), none of the corner classes;
    in corner cases only   with a 16-bit dtype (float16, bfloat16), extreme gradients (the
                           extreme_gradients row: NaN, +-inf, overflow, subnormal) or values
                           the spec itself takes non-finite, or boundary hyperparameters
                           (betas in the catalogue's "extreme" class, lr = 0, eps = 0 or
                           outside [1e-12, 1e-3]).
A row x implementation takes the most severe class among the cases of its violations (and
crashes); the colour and the words say it.

Rendering is pure (the same document and case files give the same bytes): a Jinja2
template with autoescaping (every string from a case is escaped), matplotlib SVG with a
fixed hash salt, no date and rounded coordinates. Names from cases are untrusted: plot
labels are plain text (no mathtext: a name like `$\\frac{$` is not parsed), and a lone
surrogate, which neither FreeType nor UTF-8 takes, is written as its escape (`\\ud800`)
in plots and on the page.

Plots show every series: limits come from the finite values; 0 (on a log axis), NaN and
+-inf are drawn in marked bands at the edges ("0", "nan", "inf"); a zero gradient in the
eps plot sits left of the |g|/eps axis, labelled "zero gradient". `undrawn_series` checks a
figure (tests/test_report_layout.py).
"""

from __future__ import annotations

import base64
import io
import math
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from harness.casefile import CaseError, load_case
from harness.catalogue import FACTORS, framework_of
from harness.dtype_table import implementation_dtype_table
from harness.reproducer_script import reproducer_choice, reproducer_file_name, reproducer_script, supported

MAX_PARAMETERS_LISTED = 15
MAX_SERIES_PER_PLOT = 6
# Background colours: a divergence by severity (default use stands out most), then the rest.
COLOURS = {"consistent": "#d4f0d4", "known-default": "#f6a96c", "known-options": "#fbd58a",
           "known-corner": "#fcf1cf", "known": "#fbd58a", "divergent": "#f19a9a", "crash": "#f19a9a",
           "no-counterpart": "#e8e8e8", "unsupported": "#e8e8e8", "not-exercised": "#f7f7f7"}
SERIES_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
                  "#7f7f7f", "#bcbd22")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")

DEFAULT_USE, OPTIONS, CORNER = "default", "options", "corner"
SEVERITY_RANK = {DEFAULT_USE: 0, OPTIONS: 1, CORNER: 2}
SEVERITY_WORDS = {DEFAULT_USE: "at default arguments", OPTIONS: "with options", CORNER: "corner cases only"}
DIVERGING = ("divergent", "crash", "known")
EXTREME_GRADIENTS_ROW = "extreme_gradients"
EPS_ORDINARY = (1e-12, 1e-3)
_OPTION_WORDS = {"lr": {"list": "lr schedule"}, "betas": {"other": "other betas"}, "eps": {"other": "other eps"},
                 "weight_decay": {"nonzero": "weight decay"}, "loss_scale": {"other": "loss scale"},
                 "layout": {"row_sparse": "row-sparse gradients", "missing": "missing gradients"},
                 "groups": {"groups": "parameter groups"}}
# What a reader calls a verdict ("not exercised" said nothing about why).
DISPLAY_VERDICTS = {"not exercised": "not generated",
                    "no counterpart (plain Adam consistent within tolerance)":
                        "no counterpart (plain Adam consistent within tolerance)"}
SHORT = {"consistent": "ok", "known": "known", "divergent": "UNREG", "crash": "crash", "no-counterpart": "n/c",
         "unsupported": "unsup", "not-exercised": "–"}


def _float(x: Any) -> float:
    return float(x)


def _anchor(row: str, implementation: str) -> str:
    return f"row-{row}-{implementation}"


def _section_anchor(row: str, call: str) -> str:
    return "d-" + re.sub(r"[^A-Za-z0-9_-]+", "-", f"{row}-{call}")


def _key(x: Any) -> float:
    """A sort key for a ratio or error: NaN counts as the worst."""
    value = _float(x)
    return math.inf if math.isnan(value) else value


def _parameters(violations: list[dict]) -> list[dict]:
    """Violations per (case, parameter): first failing step, worst error vs tolerance."""
    grouped: dict[tuple[str, str], dict] = {}
    for v in violations:
        key = (v["case"], v["param"])
        entry = grouped.setdefault(key, {"case": v["case"], "param": v["param"], "shape": v.get("shape"),
                                         "dtype": v.get("dtype"), "first_step": v["step"], "worst": v,
                                         "elements": 0, "rows": set(), "divergence": set()})
        entry["elements"] += 1
        entry["first_step"] = min(entry["first_step"], v["step"])
        if _key(v["ratio"]) > _key(entry["worst"]["ratio"]):
            entry["worst"] = v
        entry["rows"].update(v["rows"] or ["unexplained"])
        if v["divergence"]:
            entry["divergence"].update(v["divergence"].split(","))
    out = sorted(grouped.values(), key=lambda e: (-_key(e["worst"]["ratio"]), e["case"], e["param"]))
    for entry in out:
        entry["rows"], entry["divergence"] = sorted(entry["rows"]), sorted(entry["divergence"])
    return out


def _printable(text: str) -> str:
    """`text` with lone surrogates as backslash escapes: encodable as UTF-8, drawable."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


# --------------------------------------------------------------------------- severity


def case_severity(case: dict) -> tuple[str, list[str]]:
    """(DEFAULT_USE | OPTIONS | CORNER, the words that put the case there): see the module docstring."""
    features = case.get("features") or {}
    dtype = case.get("dtype") or features.get("dtype")
    corner = []
    if dtype in ("float16", "bfloat16"):
        corner.append(dtype)
    if case.get("row") == EXTREME_GRADIENTS_ROW:
        corner.append("extreme gradients")
    elif "reference" in (case.get("nonfinite") or {}):
        corner.append("overflow (the spec goes non-finite too)")
    if features.get("betas") == "extreme":
        corner.append("extreme betas")
    if features.get("lr") == "zero":
        corner.append("lr = 0")
    eps = (case.get("hyperparameters") or {}).get("eps")
    if isinstance(eps, (int, float)) and not EPS_ORDINARY[0] <= eps <= EPS_ORDINARY[1]:
        corner.append("extreme eps")
    if corner:
        return CORNER, corner
    options = []
    for factor, classes in FACTORS.items():
        if factor == "dtype" or factor not in features or features[factor] == classes[0]:
            continue
        value = features[factor]
        options.append(_OPTION_WORDS.get(factor, {}).get(value, factor if value is True else f"{factor} {value}"))
    if dtype not in (None, "float32"):
        options.append(str(dtype))
    return (OPTIONS, options) if options else (DEFAULT_USE, [])


def _severity_of(case_ids, severities: dict) -> dict | None:
    """The most severe class among these cases (`severities`: case id -> case_severity),
    with its reasons, most frequent first."""
    found = [severities[c] for c in sorted(case_ids) if c in severities]
    if not found:
        return None
    level = min((level for level, _ in found), key=SEVERITY_RANK.__getitem__)
    reasons = Counter(r for lv, rs in found if lv == level for r in rs)
    ordered = [r for r, _ in sorted(reasons.items(), key=lambda item: (-item[1], item[0]))]
    words = SEVERITY_WORDS[level]
    if level == DEFAULT_USE:
        words += " (float32)"
    elif ordered:
        words += ": " + ", ".join(ordered[:3]) + (", ..." if len(ordered) > 3 else "")
    return {"level": level, "reasons": ordered, "words": words,
            "cases": sum(1 for lv, _ in found if lv == level), "of": len(found)}


# --------------------------------------------------------------------------- magnitudes


def _fmt(x: Any) -> str:
    if isinstance(x, str):
        return x
    value = float(x)
    return format(value, ".3g") if math.isfinite(value) else str(value)


_QUANTITY_WORDS = {"param": "parameter", "exp_avg": "exp_avg (m)", "exp_avg_sq": "exp_avg_sq (v)",
                   "max_exp_avg_sq": "max_exp_avg_sq", "step": "step count"}


def _element_words(v: dict) -> str:
    """The element of a violation in words: `parameter w[3]`."""
    return f"{_QUANTITY_WORDS.get(v['quantity'], v['quantity'])} {v['param']}[{v['index']}]"

def _magnitude(violations: list[dict]) -> dict:
    """How far off, in finite numbers: the worst finite relative error; where the relative
    error is infinite, what happened instead (a value that went NaN/inf where the spec is
    finite, at which step; an error against a spec value of 0, as an absolute error)."""
    finite, nonfinite, spec_zero, spec_nonfinite = [], [], [], []
    for v in violations:
        relative, expected, actual = _float(v["relative_error"]), _float(v["expected"]), _float(v["actual"])
        if math.isfinite(relative):
            finite.append(v)
        elif math.isfinite(expected) and not math.isfinite(actual):
            nonfinite.append(v)
        elif math.isfinite(expected):
            spec_zero.append(v)
        else:
            spec_nonfinite.append(v)
    out: dict[str, Any] = {"worst_relative": None, "words": [], "short": []}
    if finite:
        worst = max(finite, key=lambda v: (_float(v["relative_error"]), v["case"]))
        out["worst_relative"] = _float(worst["relative_error"])
        out["words"].append(f"worst finite relative error {_fmt(worst['relative_error'])} "
                            f"({_element_words(worst)}, step {worst['step']}: {_fmt(worst['expected'])} expected, "
                            f"{_fmt(worst['actual'])} got)")
        out["short"].append(f"rel. error up to {_fmt(worst['relative_error'])}")
    if nonfinite:
        first = min(nonfinite, key=lambda v: (v["step"], v["case"], v["param"], v["quantity"], v["index"]))
        kinds = sorted({str(_float(v["actual"])) for v in nonfinite})
        out["words"].append(f"{len(nonfinite)} element(s) went {'/'.join(kinds)} where the spec is finite, first "
                            f"at step {first['step']} ({_element_words(first)}: {_fmt(first['actual'])} against "
                            f"{_fmt(first['expected'])})")
        out["short"].append(f"{'/'.join(kinds)} from step {first['step']} (spec finite)")
    if spec_zero:
        worst = max(spec_zero, key=lambda v: (_key(v["error"]), v["case"]))
        steps = [v for v in spec_zero if v["quantity"] == "step"]
        if steps:
            s = steps[0]
            out["words"].append(f"step count {_fmt(s['actual'])} where the spec has {_fmt(s['expected'])}")
        out["words"].append(f"{len(spec_zero)} element(s) off where the spec value (or tolerance) is 0: absolute "
                            f"error up to {_fmt(worst['error'])}")
        if not finite:
            out["short"].append(f"abs. error up to {_fmt(worst['error'])} (spec 0)")
    if spec_nonfinite:
        out["words"].append(f"{len(spec_nonfinite)} element(s) differ where the spec itself is non-finite")
        if not (finite or nonfinite or spec_zero):
            out["short"].append("differs where the spec is non-finite")
    return out


def _nonfinite_words(case: dict, implementation: str, limit: int = 3) -> str:
    """What went non-finite in one case, at which step, against the spec (results' "nonfinite")."""
    nonfinite = case.get("nonfinite") or {}
    mine, spec = nonfinite.get(implementation) or {}, nonfinite.get("reference") or {}
    words = []
    for key in sorted(mine, key=lambda k: (min(mine[k].values()), k)):
        for kind, step in sorted(mine[key].items(), key=lambda item: (item[1], item[0])):
            theirs = spec.get(key, {}).get(kind)
            if theirs == step:
                continue
            words.append(f"{key} {kind} at step {step} (spec: {'finite' if theirs is None else f'step {theirs}'})")
    if not words:
        return ""
    more = f", {len(words) - limit} more" if len(words) > limit else ""
    return "; ".join(words[:limit]) + more


# --------------------------------------------------------------------------- columns


def entry_point(call: str, name: str) -> str:
    """The function or class users call: the dotted name a catalogue `call` starts with
    ("torch.optim.Adam(..., foreach=True)" -> "torch.optim.Adam"); the name otherwise."""
    match = re.match(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+", call or "")
    return match.group(0) if match else name


def _columns(document: dict, implementations: list[str]) -> list[dict]:
    catalogue = document.get("catalogue") or {}
    columns: dict[str, dict] = {}
    for name in implementations:
        record = catalogue.get(name) or {}
        call = entry_point(record.get("call", ""), name)
        column = columns.setdefault(call, {"call": call, "framework": record.get("framework") or framework_of(name),
                                           "variants": []})
        column["variants"].append(name)
    return list(columns.values())


# --------------------------------------------------------------------------- plots


def _legend(axes, **kwargs) -> None:
    # Labels carry case and parameter names: "$...$" in one must stay text, not mathtext
    # (a malformed formula made savefig raise and the whole report was lost).
    for text in axes.legend(**kwargs).get_texts():
        text.set_parse_math(False)


_ATTRIBUTE = re.compile(r'\b(d|x|y|x1|x2|y1|y2|width|height|transform|points|viewBox)="([^"]*)"')
_DECIMAL = re.compile(r"-?\d+\.\d+")


def _round_attribute(match: re.Match) -> str:
    def one(number: re.Match) -> str:
        text = format(float(number.group(0)), ".1f").rstrip("0").rstrip(".")
        return "0" if text == "-0" else text
    return f'{match.group(1)}="{" ".join(_DECIMAL.sub(one, match.group(2)).split())}"'


_TAG = re.compile(r"<(/?)g\b([^>]*)>")
_SAME_STYLE_USES = re.compile(r'<g( clip-path="[^"]*")>((?:<use [^>]*/>)+)</g>')


def _bare_groups_removed(text: str) -> str:
    """Drop <g> elements without attributes (matplotlib's wrappers), keeping their content."""
    out, stack, last = [], [], 0
    for match in _TAG.finditer(text):
        out.append(text[last:match.start()])
        last = match.end()
        if match.group(1):  # </g>
            if stack.pop():
                out.append(match.group(0))
        else:
            keep = bool(match.group(2).strip())
            stack.append(keep)
            if keep:
                out.append(match.group(0))
    out.append(text[last:])
    return "".join(out)


def _hoist_style(match: re.Match) -> str:
    """Markers of one series: one style on their group instead of one per marker."""
    styles = set(re.findall(r' style="([^"]*)"', match.group(2)))
    if len(styles) != 1 or match.group(2).count("<use ") != match.group(2).count(" style="):
        return match.group(0)
    (style,) = styles
    return f'<g{match.group(1)} style="{style}">{match.group(2).replace(f" style={chr(34)}{style}{chr(34)}", "")}</g>'


def _svg(figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    text = buffer.getvalue()
    text = text[text.index("<svg"):]  # drop the XML prologue and doctype: inline SVG
    # Compact, and only in markup (text content, which carries names from cases, is never
    # touched): no metadata, coordinates to 0.1 pt, no ids on groups (nothing refers to
    # them, and they would repeat across the page's plots) nor bare groups, no null
    # rotations, one style per marker group, the font family from the page's CSS.
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    text = _ATTRIBUTE.sub(_round_attribute, text)
    text = re.sub(r'<g id="[^"]*"', "<g", text)
    text = re.sub(r' transform="rotate\(-?0 [^")]*\)"', "", text)
    text = re.sub(r">\s+<", "><", text)
    text = text.replace("font-family: 'DejaVu Sans', sans-serif; ", "")
    return _SAME_STYLE_USES.sub(_hoist_style, _bare_groups_removed(text))


def _plots_module():
    import matplotlib  # deferred: matplotlib (about 0.4 s with pyplot) only when a page is drawn

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "optim-parity"
    matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text: smaller, searchable
    matplotlib.rcParams["font.size"] = 7
    matplotlib.rcParams["font.family"] = "sans-serif"
    matplotlib.rcParams["font.sans-serif"] = ["DejaVu Sans"]  # one name per text element, not eleven
    import matplotlib.pyplot as plt  # deferred: after the backend is chosen above

    return plt


class _Axis:
    """Where values go on one plot axis. Finite values (positive ones on a log axis) set the
    limits; the others are drawn in marked bands beyond them: 0 and -inf below, +inf and NaN
    above, each at its own labelled position, so every value is drawn inside the axes.
    A log axis is drawn as log10 of the values on a linear axis, ticks labelled 1e<k>: no
    overflow however wide the range (1e-300 to 1e300 and bands beyond)."""

    LOW, HIGH = ("-inf", "0"), ("inf", "nan")

    def __init__(self, values: list[float], log: bool, include: tuple[float, ...] = (),
                 labels: dict[str, str] | None = None):
        self.log = log
        self.labels = {"0": "0", "-inf": "-inf", "inf": "inf", "nan": "nan", **(labels or {})}
        finite = [self._t(v) for v in list(values) + list(include) if self._regular(v)]
        lo, hi = (min(finite), max(finite)) if finite else ((-1.0, 1.0) if log else (0.0, 1.0))
        span = hi - lo
        pad = max(span * 0.06, 0.15 if log else (abs(hi) * 0.02 or 0.05))
        self.flo, self.fhi = lo - pad, hi + pad  # the finite values' region
        self.lo, self.hi = self.flo, self.fhi  # the limits, bands included
        kinds = {self._kind(v) for v in values} - {None}
        step = max((self.fhi - self.flo) * 0.1, 0.25 if log else 0.0)
        self.positions: dict[str, float] = {}
        self.bands: list[tuple[float, float]] = []
        high = [k for k in self.HIGH if k in kinds]
        low = [k for k in self.LOW if k in kinds]
        for i, kind in enumerate(high):
            self.positions[kind] = self.fhi + step * (i + 1)
        if high:
            self.hi = self.fhi + step * (len(high) + 0.7)
            self.bands.append((self.fhi + step * 0.35, self.hi))
        for i, kind in enumerate(low):
            self.positions[kind] = self.flo - step * (i + 1)
        if low:
            self.lo = self.flo - step * (len(low) + 0.7)
            self.bands.append((self.lo, self.flo - step * 0.35))

    def _regular(self, v: float) -> bool:
        return math.isfinite(v) and (v > 0 or not self.log)

    def _t(self, v: float) -> float:
        return math.log10(v) if self.log else v

    def _kind(self, v: float) -> str | None:
        if self._regular(v):
            return None
        if math.isnan(v):
            return "nan"
        if v == math.inf:
            return "inf"
        return "-inf" if v == -math.inf else "0"  # 0 or a negative value on a log axis

    def place(self, v: float) -> float:
        kind = self._kind(v)
        return self._t(v) if kind is None else self.positions[kind]

    @property
    def limits(self) -> tuple[float, float]:
        return self.lo, self.hi

    def ticks(self) -> tuple[list[float], list[str]]:
        lo, hi = self.flo, self.fhi
        if self.log:
            first, last = math.ceil(lo), math.floor(hi)
            every = max(1, math.ceil((last - first + 1) / 6))
            exponents = list(range(first, last + 1))[::every]
            positions = [float(k) for k in exponents]
            labels = ["1" if k == 0 else "10" if k == 1 else f"1e{k}" for k in exponents]
            if not exponents:  # within one decade
                positions, labels = [(lo + hi) / 2], [format(10.0 ** ((lo + hi) / 2), ".3g")]
        else:
            from matplotlib.ticker import MaxNLocator  # deferred: matplotlib, as in _plots_module

            positions = [p for p in MaxNLocator(nbins=5).tick_values(lo, hi) if lo <= p <= hi]
            labels = [format(p, "g") for p in positions]
        for kind, t in sorted(self.positions.items(), key=lambda item: item[1]):
            positions.append(t)
            labels.append(self.labels[kind])
        return positions, labels

    def decorate(self, axes, which: str) -> None:
        set_lim, set_ticks, span = ((axes.set_ylim, axes.set_yticks, axes.axhspan) if which == "y" else
                                    (axes.set_xlim, axes.set_xticks, axes.axvspan))
        set_lim(*self.limits)
        positions, labels = self.ticks()
        set_ticks(positions, labels)
        axis = axes.yaxis if which == "y" else axes.xaxis
        from matplotlib.ticker import NullLocator  # deferred: matplotlib, as in _plots_module

        axis.set_minor_locator(NullLocator())
        for lo, hi in self.bands:
            span(lo, hi, color="#eeeeee", zorder=0, linewidth=0)


def undrawn_series(figure) -> list[str]:
    """Labels of the series (lines and scatter sets with a label) of which some point is not
    drawn: non-finite, or outside its axes' limits. A figure this module makes has none."""
    out = []
    for axes in figure.axes:
        (x0, x1), (y0, y1) = sorted(axes.get_xlim()), sorted(axes.get_ylim())
        artists = [(line.get_label(), np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float))
                   for line in axes.get_lines()]
        for collection in axes.collections:
            offsets = np.asarray(collection.get_offsets(), float).reshape(-1, 2)
            artists.append((collection.get_label(), offsets[:, 0], offsets[:, 1]))
        for label, xs, ys in artists:
            if label.startswith("_"):
                continue  # reference lines (tolerance, bands), not data
            inside = (np.isfinite(xs) & np.isfinite(ys) & (xs >= x0 * (1 - 1e-9)) & (xs <= x1 * (1 + 1e-9))
                      & (ys >= y0 - abs(y0) * 1e-9) & (ys <= y1 + abs(y1) * 1e-9))
            if xs.size == 0 or not inside.all():
                out.append(label)
    return out


def _error_series(cases: list[dict], variants: list[str]) -> list[dict]:
    """The series to plot for these variants: the worst case of each variant first, then the
    next worst, one line per distinct (case, data), at most MAX_SERIES_PER_PLOT."""
    candidates: dict[str, list] = defaultdict(list)
    for case in cases:
        for impl in case["implementations"]:
            if impl["implementation"] in variants and impl.get("series"):
                candidates[impl["implementation"]].append((-_key(impl["worst_ratio"]), case["id"], impl["series"]))
    for name in candidates:
        candidates[name].sort(key=lambda c: (c[0], c[1]))
    chosen: dict[tuple, dict] = {}
    depth = 0
    while len(chosen) < MAX_SERIES_PER_PLOT and any(len(c) > depth for c in candidates.values()):
        for name in variants:
            if depth < len(candidates[name]) and len(chosen) < MAX_SERIES_PER_PLOT:
                _, case_id, data = candidates[name][depth]
                key = (case_id, data["quantity"], data["param"], data["index"], tuple(map(str, data["ratio"])))
                if key in chosen:
                    chosen[key]["variants"].append(name)
                else:
                    chosen[key] = {"case": case_id, "data": data, "variants": [name]}
        depth += 1
    return list(chosen.values())


def _error_figure(series: list[dict]):
    """error/tolerance of the worst element against step (None: nothing to plot)."""
    if not series:
        return None
    plt = _plots_module()
    values = [_float(r) for s in series for r in s["data"]["ratio"]]
    y = _Axis(values, log=True, include=(1.0,))
    steps = [t for s in series for t in s["data"]["steps"]]
    x_log = max(steps) > 50
    x = _Axis([float(t) for t in steps], log=x_log)
    figure, axes = plt.subplots(figsize=(6.0, 2.4))
    for i, s in enumerate(series):
        data = s["data"]
        ys = [y.place(_float(r)) for r in data["ratio"]]
        label = _printable(f"{', '.join(s['variants'])}: {s['case']} {data['quantity']} "
                           f"{data['param']}[{data['index']}]")
        axes.plot([x.place(float(t)) for t in data["steps"]], ys, color=SERIES_COLOURS[i % len(SERIES_COLOURS)],
                  linewidth=1.1, linestyle=("-", "--", ":", "-.")[(i // len(SERIES_COLOURS)) % 4],
                  marker=MARKERS[i % len(MARKERS)] if len(ys) <= 16 else None, markersize=3, label=label)
    axes.axhline(y.place(1.0), color="black", linestyle="--", linewidth=0.7, label="_tolerance")
    y.decorate(axes, "y")
    x.decorate(axes, "x")
    axes.set_xlabel("step")
    axes.set_ylabel("error / tolerance")
    _legend(axes, fontsize=6.5, loc="upper left", bbox_to_anchor=(0.0, -0.22), frameon=False, ncol=1,
            borderaxespad=0.0)
    return figure


def _render(figure) -> str | None:
    if figure is None:
        return None
    plt = _plots_module()
    svg = _svg(figure)
    plt.close(figure)
    return svg


def _eps_points(cases: list[dict], variants: list[str]) -> dict[str, list[tuple[float, float]]]:
    points: dict[str, set] = defaultdict(set)
    for case in cases:
        for impl in case["implementations"]:
            if impl["implementation"] in variants and impl.get("update_ratio"):
                points[impl["implementation"]].update((_float(x), _float(y)) for x, y in impl["update_ratio"])
    return {name: sorted(points[name], key=lambda p: (_key(p[0]), _key(p[1]))) for name in variants
            if points[name]}


def _thin(points: list[tuple[float, float]], x: _Axis, y: _Axis) -> list[tuple[float, float]]:
    """One point per cell of a 160 x 80 grid over the axes: what a screen shows anyway."""
    seen, out = set(), []
    (x0, x1), (y0, y1) = (x.lo, x.hi), (y.lo, y.hi)
    for px, py in points:
        tx, ty = x.place(px), y.place(py)
        cell = (round((tx - x0) / ((x1 - x0) or 1) * 160), round((ty - y0) / ((y1 - y0) or 1) * 80))
        if cell not in seen:
            seen.add(cell)
            out.append((px, py))
    return out


def _eps_figures(cases: list[dict], columns: list[dict]) -> list[dict]:
    """The eps plot as small multiples: one panel per entry point with eps data, shared axes
    limits, up to 10 variants each in distinct colours and markers."""
    panels = [(column, _eps_points(cases, column["variants"])) for column in columns]
    panels = [(column, points) for column, points in panels if points]
    if not panels:
        return []
    every = [p for _, points in panels for series in points.values() for p in series]
    # |g| = 0 (the update comes from weight decay): 0 on a log axis, drawn in the band at the left.
    x = _Axis([px for px, _ in every], log=True, labels={"0": "zero\ngradient"})
    y = _Axis([py for _, py in every], log=False, include=(1.0,))
    plt = _plots_module()
    out = []
    for column, points in panels:
        figure, axes = plt.subplots(figsize=(3.6, 2.3))
        for i, (name, series) in enumerate(points.items()):
            shown = _thin(series, x, y)
            # Hollow markers of distinct shapes: variants that agree overlap as one compound mark.
            axes.plot([x.place(px) for px, _ in shown], [y.place(py) for _, py in shown], linestyle="none",
                      marker=MARKERS[i % len(MARKERS)], markersize=4, markeredgewidth=0.8, markerfacecolor="none",
                      color=SERIES_COLOURS[i % len(SERIES_COLOURS)], label=_printable(name))
        axes.axhline(y.place(1.0), color="black", linestyle="--", linewidth=0.7, label="_spec")
        x.decorate(axes, "x")
        y.decorate(axes, "y")
        axes.set_title(_printable(column["call"]), fontsize=7.5, parse_math=False)  # a name from the results
        axes.set_xlabel("|g| / eps (first step)")
        axes.set_ylabel("first update / spec's")
        _legend(axes, fontsize=6, loc="upper left", bbox_to_anchor=(0.0, -0.3), frameon=False,
                ncol=2 if len(points) > 3 else 1, borderaxespad=0.0)
        out.append({"call": column["call"], "figure": figure, "zero_gradient": "0" in x.positions})
    return out


def _reproducers(row: dict, name: str, info: dict, cases_by_id: dict, report_dir: Path) -> list[dict]:
    """The reproducer of this row x implementation: the simplest violating case whose case
    file is in the report (harness/reproducer_script.py reproducer_choice: float32 first,
    then fewer non-default options, fewer element-steps, the smallest case id)."""

    if not supported(name):
        return []
    readable = {}  # case id -> the case, for those whose case file loads

    def has_file(case_id: str) -> bool:
        if case_id not in readable:
            case_file = cases_by_id[case_id].get("case_file")
            try:
                readable[case_id] = load_case(Path(report_dir) / case_file) if case_file else None
            except CaseError:
                readable[case_id] = None
        return readable[case_id] is not None

    chosen = reproducer_choice(info["violations"], cases_by_id, has_file)
    if chosen is None:
        return []
    script = reproducer_script(readable[chosen["case"]], name, chosen, chosen["case"], row=row["row"])
    return [{"implementation": name, "file_name": reproducer_file_name(row["row"], name), "script": script,
             "href": "data:text/x-python;base64," + base64.b64encode(script.encode("utf-8")).decode("ascii")}]


def _display(verdict: str) -> str:
    return DISPLAY_VERDICTS.get(verdict, verdict)


def _variant(row: dict, name: str, cases_of: dict, cases_by_id: dict, severities: dict, with_section: set) -> dict:
    """One implementation's verdict on one row, with severity and magnitude (per severity class)."""
    info = row["implementations"][name]
    cls = info["verdict_class"]
    violating = {v["case"] for v in info["violations"]}
    crashed = {c for c in cases_of.get(row["row"], ()) for i in cases_by_id[c]["implementations"]
               if i["implementation"] == name and i["status"] == "crash"}
    severity = _severity_of(violating | crashed, severities) if cls in DIVERGING else None
    levels: dict[str, list] = defaultdict(list)
    for v in info["violations"]:
        levels[severities[v["case"]][0] if v["case"] in severities else CORNER].append(v)
    by_level = [(level, _magnitude(levels[level])) for level in SEVERITY_RANK if levels[level]]
    anchor = _anchor(row["row"], name)
    return {"name": name, "verdict": _display(info["verdict"]), "class": cls, "info": info,
            "css": f"known-{severity['level']}" if cls == "known" and severity else cls,
            "severity": severity, "levels": levels, "by_level": by_level,
            # the headline: how far in the most severe class
            "magnitude": next((m for level, m in by_level if severity and level == severity["level"]),
                              by_level[0][1] if by_level else None),
            "anchor": anchor if anchor in with_section else None, "crashed": sorted(crashed),
            "violating_cases": len(violating)}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _cell(variants: list[dict], severities: dict) -> dict:
    """A row x entry point: its variants' verdicts in a few words and one colour. Severity
    and magnitude are the most severe class's, naming the variants when not all show it."""
    n = len(variants)
    diverging = [v for v in variants if v["class"] in DIVERGING]
    counts = Counter(v["class"] for v in variants)
    if diverging:
        tag = ("UNREGISTERED" if counts["divergent"] else "crash" if counts["crash"] else "known")
        head = f"diverges: {len(diverging)} of {_plural(n, 'variant')}" if n > 1 else "diverges"
        cases = {x["case"] for v in diverging for x in v["info"]["violations"]} | {c for v in diverging
                                                                                  for c in v["crashed"]}
        severity = _severity_of(cases, severities)
        if severity:
            at_level = [v for v in diverging if v["severity"] and v["severity"]["level"] == severity["level"]]
            if len(at_level) < len(diverging):
                names = [v["name"] for v in at_level]
                severity = dict(severity, words=severity["words"] + " in " + (
                    ", ".join(names) if len(names) <= 2 else f"{len(names)} of them"))
            violations = [x for v in at_level for x in v["levels"].get(severity["level"], [])]
        else:
            violations = [x for v in diverging for x in v["info"]["violations"]]
        css = "divergent" if tag != "known" else f"known-{severity['level']}" if severity else "known"
        magnitude = _magnitude(violations)["short"][:2] if violations else []
        return {"css": css, "head": head, "tag": tag, "severity": severity, "magnitude": "; ".join(magnitude),
                "notes": []}
    consistent = counts["consistent"]
    notes = []
    for cls, words in (("no-counterpart", "no counterpart"), ("unsupported", "unsupported"),
                       ("not-exercised", "not generated")):
        if counts[cls]:
            notes.append(f"{words} in {counts[cls]}" if consistent or len(counts) > 1 else words)
    if consistent:
        head = f"consistent ({_plural(consistent, 'variant')})" if n > 1 else "consistent"
        return {"css": "consistent", "head": head, "tag": "", "severity": None, "magnitude": "", "notes": notes}
    plain = [v for v in variants if v["info"]["verdict"].startswith("no counterpart (plain")]
    cls = max(counts, key=lambda c: (counts[c], c))
    head = {"no-counterpart": "no counterpart", "unsupported": "unsupported",
            "not-exercised": "not generated"}.get(cls, cls)
    if len(counts) == 1:
        notes = []
    if plain and len(plain) == n:
        notes = ["plain Adam consistent"]
    return {"css": cls, "head": head, "tag": "", "severity": None, "magnitude": "", "notes": notes}


def _banner(document: dict, columns: list[dict], table: list[dict], cases_by_id: dict, severities: dict
            ) -> list[dict]:
    """Per framework: how many rows are consistent in every variant, diverge (known /
    unregistered / crash), have no counterpart; the worst divergence at default arguments."""
    frameworks: dict[str, list[dict]] = {}
    for column in columns:
        frameworks.setdefault(column["framework"], []).append(column)
    out = []
    for framework, fw_columns in frameworks.items():
        names = [n for c in fw_columns for n in c["variants"]]
        rows = Counter()
        for line in table:
            classes = [v["class"] for cell in line["cells"] if cell["framework"] == framework for v in cell["variants"]]
            if "divergent" in classes:
                rows["unregistered"] += 1
            if "crash" in classes:
                rows["crash"] += 1
            if any(c in DIVERGING for c in classes):
                rows["diverge"] += 1
            elif "consistent" in classes:
                rows["consistent"] += 1
            else:
                rows["none"] += 1
        # Every violation once (rows list a violation under each row it counts toward).
        seen, default_violations = set(), []
        for row in document["rows"]:
            for name in names:
                for v in row["implementations"][name]["violations"]:
                    key = (name, v["case"], v["quantity"], v["param"], v["index"], v["step"])
                    if key in seen or v["case"] not in cases_by_id:
                        continue
                    seen.add(key)
                    if severities[v["case"]][0] == DEFAULT_USE:
                        default_violations.append(dict(v, implementation=name, listed_under=row["row"]))
        unregistered_cases = {c["id"] for c in document["cases"] for i in c["implementations"]
                              if i["implementation"] in names and i["status"] in ("violation", "crash")}
        at_defaults = [_at_defaults(column, document, default_violations, severities) for column in fw_columns]
        levels = [v["severity"]["level"] for line in table for cell in line["cells"] if cell["framework"] == framework
                  for v in cell["variants"] if v["severity"]]
        worst_level = min(levels, key=SEVERITY_RANK.__getitem__) if levels else None
        css = ("divergent" if rows["unregistered"] or rows["crash"] else f"known-{worst_level}" if worst_level
               else "consistent")
        out.append({"framework": framework, "implementations": len(names), "calls": [c["call"] for c in fw_columns],
                    "rows": rows, "total": len(table), "css": css, "unregistered_cases": len(unregistered_cases),
                    "at_defaults": [d for d in at_defaults if d["cases"]],
                    "default_cases": len({c for d in at_defaults for c in d["case_ids"]})})
    return out


def _at_defaults(column: dict, document: dict, violations: list[dict], severities: dict) -> dict:
    """One entry point at default arguments: cases run, cases diverging, the worst finite
    relative error (of a parameter when one is off: what users see) and what went non-finite."""
    names = set(column["variants"])
    cases, diverging = set(), set()
    for case in document["cases"]:
        if severities[case["id"]][0] != DEFAULT_USE:
            continue
        for impl in case["implementations"]:
            if impl["implementation"] in names and impl["status"] in ("pass", "known", "violation", "crash"):
                cases.add(case["id"])
                if impl["status"] != "pass":
                    diverging.add(case["id"])
    mine = [v for v in violations if v["implementation"] in names]
    params = [v for v in mine if v["quantity"] == "param"] or mine
    finite = [v for v in params if math.isfinite(_float(v["relative_error"]))]
    worst = None
    if finite:
        v = max(finite, key=lambda v: (_float(v["relative_error"]), v["case"], v["implementation"]))
        worst = {"implementation": v["implementation"], "relative": _fmt(v["relative_error"]),
                 "words": f"{_element_words(v)} at step {v['step']}: {_fmt(v['expected'])} "
                          f"expected, {_fmt(v['actual'])} got",
                 "case": v["case"], "entries": sorted(set((v["divergence"] or "").split(",")) - {""}),
                 "anchor": _anchor(v["listed_under"], v["implementation"])}
    nonfinite = [v for v in mine if not math.isfinite(_float(v["actual"])) and math.isfinite(_float(v["expected"]))]
    first = min(nonfinite, key=lambda v: (v["step"], v["case"])) if nonfinite else None
    variants = sorted({v["implementation"] for v in mine}, key=column["variants"].index)
    return {"call": column["call"], "cases": len(cases), "case_ids": cases, "diverging": len(diverging),
            "variants": variants, "all_variants": len(column["variants"]), "worst": worst,
            "nonfinite": len(nonfinite), "nonfinite_step": first["step"] if first else None}


def _section(row: dict, column: dict, variants: list[dict], cases_by_id: dict, severities: dict,
             row_cases: list[dict], report_dir: Path) -> dict:
    """Where one entry point differs on one row: its variants, severity, magnitude, plot,
    violating parameters and reproducers."""
    listed = [v for v in variants if v["class"] in DIVERGING or v["info"]["violations"]]
    merged: dict[tuple, dict] = {}  # the same parameter of the same case, off the same way in several variants
    for v in listed:
        for p in _parameters(v["info"]["violations"]):
            key = (p["case"], p["param"], p["elements"], str(p["worst"]["ratio"]), str(p["worst"]["actual"]))
            merged.setdefault(key, dict(p, implementations=[]))["implementations"].append(v["name"])
    parameters = sorted(merged.values(), key=lambda p: (-_key(p["worst"]["ratio"]), p["implementations"], p["case"],
                                                        p["param"]))
    violating = sorted({x["case"] for v in listed for x in v["info"]["violations"]})
    plotted = [cases_by_id[c] for c in violating if c in cases_by_id]
    series = _error_series(plotted, [v["name"] for v in listed])
    reproducers: list[dict] = []
    for v in listed:
        reproducers = reproducers or _reproducers(row, v["name"], v["info"], cases_by_id, report_dir)
    crashes = [(v["name"], c["id"], i["message"].splitlines()[0] if i["message"] else "") for v in listed
               for c in row_cases for i in c["implementations"] if i["implementation"] == v["name"]
               and i["status"] == "crash"]
    nonfinite = []
    for v in listed:
        for case_id in sorted({x["case"] for x in v["info"]["violations"]}):
            words = _nonfinite_words(cases_by_id.get(case_id, {}), v["name"])
            if words:
                nonfinite.append((v["name"], case_id, words))
                break
    how_far = []  # per severity class present: how far, over the listed variants
    for level in SEVERITY_RANK:
        violations = [x for v in listed for x in v["levels"].get(level, [])]
        if violations:
            how_far.append((SEVERITY_WORDS[level], _magnitude(violations)["words"]))
    return {"anchor": _section_anchor(row["row"], column["call"]), "row": row, "column": column,
            "variants": listed, "others": [v for v in variants if v not in listed],
            "cell": _cell(variants, severities), "how_far": how_far,
            "parameters": parameters[:MAX_PARAMETERS_LISTED], "parameter_count": len(parameters),
            "error_plot": _render(_error_figure(series)), "series": len(series),
            # One script per entry point (the first variant's: the plain call comes first in the
            # catalogue); the other variants replay their case files (page weight).
            "reproducers": reproducers, "replay": [(v["name"], v["info"]["worst_case_file"]) for v in listed
                                                       if v["info"].get("worst_case_file")],
            "crashes": crashes[:10], "nonfinite": nonfinite[:6]}


def render_parity_html(document: dict, report_dir: Path) -> str:
    # deferred: jinja2 and its markupsafe, only when a page is rendered
    import jinja2
    from markupsafe import Markup, escape

    implementations = [n for n in document["run"]["implementations"] if n != "reference"]
    cases_by_id = {c["id"]: c for c in document["cases"]}
    severities = {c["id"]: case_severity(c) for c in document["cases"]}
    cases_of: dict[str, list[str]] = defaultdict(list)
    for case in document["cases"]:
        for row_id in dict.fromkeys([case["row"], *case.get("rows", [])]):
            cases_of[row_id].append(case["id"])
    columns = _columns(document, implementations)
    with_section = set()
    for row in document["rows"]:
        for name in implementations:
            info = row["implementations"][name]
            if info["violations"] or info["verdict_class"] in DIVERGING:
                with_section.add(_anchor(row["row"], name))
    table, sections = [], []
    for row in document["rows"]:
        row_cases = [cases_by_id[c] for c in cases_of.get(row["row"], ())]
        cells = []
        for column in columns:
            variants = [_variant(row, name, cases_of, cases_by_id, severities, with_section)
                        for name in column["variants"]]
            cell = dict(_cell(variants, severities), variants=variants, framework=column["framework"],
                        call=column["call"], section=None)
            if any(v["anchor"] for v in variants):
                section = _section(row, column, variants, cases_by_id, severities, row_cases, report_dir)
                sections.append(section)
                cell["section"] = section["anchor"]
            cells.append(cell)
        table.append({"row": row, "cells": cells})
    eps_cases = [c for c in document["cases"] if c["row"] == "eps"]
    eps_panels = [dict(p, svg=_render(p.pop("figure"))) for p in _eps_figures(eps_cases, columns)]

    def dotted(text: str) -> Markup:
        """A dotted name that may wrap after its dots (escaped)."""
        return Markup("<wbr>").join(escape(part) + Markup(".") for part in text.split(".")[:-1]) \
            + (Markup("<wbr>") if "." in text else Markup("")) + escape(text.split(".")[-1])

    environment = jinja2.Environment(loader=jinja2.PackageLoader("harness", "templates"),
                                     autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
                                     undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    environment.filters["dotted"] = dotted
    template = environment.get_template("parity.html.j2")
    return _printable(template.render(
        document=document, implementations=implementations, columns=columns, table=table, sections=sections,
        banner=_banner(document, columns, table, cases_by_id, severities), colours=COLOURS, eps_panels=eps_panels,
        number=_number, short=SHORT, severity_words=SEVERITY_WORDS, eps_ordinary=EPS_ORDINARY,
        dtype_table=implementation_dtype_table(document), display=_display,
    ))


def _number(x: Any) -> str:
    if isinstance(x, str):
        return x
    return format(float(x), ".3g")
