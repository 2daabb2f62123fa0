"""Results files and the environment they came from.

    optim-parity/result/1    one case through the implementations (`replay --json`)
    optim-parity/results/1   a run (`pytest cases/ --parity-report DIR`, `optim-parity report`):

{"schema": "optim-parity/results/1",
 "environment": {"python", "platform", "machine", "cpu_flags": [...], "packages": {name: version}},
 "run": {"source": "pytest" | "sweep", "profile", "seed", "examples"?, "shard"?: {"index", "count"},
         "implementations": [...]},
 "registry": [every known-divergence entry],
 "summary": {implementation: {verdict class: number of rows}},
 "rows": [{"row", "kind", "torch_name", "mindspore_name", "claim_zh", "claim_en", "cases",
           "implementations": {name: {"verdict", "verdict_class", "cases", "statuses", "worst_ratio",
                                      "worst_case", "worst_case_file", "known", "attributed_violations",
                                      "unregistered_violations", "worst_relative_error", "worst_pass_ratio",
                                      "violations": [{"case", "quantity", "param", "shape", "dtype", "step",
                                                      "index", "expected", "actual", "error", "tolerance",
                                                      "ratio", "reference_scale", "relative_error", "rows",
                                                      "joint", "divergence"}]}}}],
 "coverage": {implementation: {"pairs_expressible", "pairs_covered", "uncovered": ["factor=class × factor=class"]}},
 "catalogue": {implementation: {"name", "framework", "call", "mode",
                                "exclusions": [{"kind", "when", "reason", "versions", "applied"}]}},
 "cases": [{"id", "row", "rows", "features", "test", "source", "case_file", "dtype", "steps", "hyperparameters",
            "params",
            "implementations": [{"implementation", "description", "status", "message", "rows",
                                 "divergence", "worst_ratio", "worst", "violation_count",
                                 "series"?, "update_ratio"?}],
            "nonfinite"?: {implementation: {"param.quantity": {"nan"|"+inf"|"-inf": first step}}}}],
 "validation"?: [{"key", "class", "spec", "frameworks": {name: {"outcome", "result", "error", "example",
                                                                "rule"}}}]}

`coverage` (harness/coverage.py): per implementation of the catalogue, how many pairs of
(factor = value class) settings its space can express, how many the run's cases covered
(ran and compared), and the uncovered ones. `rows` of a case: the other rows it exercises;
`features`: its value class per factor (harness/catalogue.py).
Every violation is listed under each row it is attributed to (harness/verdicts.py), with
the id of its case; the cases list carries each case's recipe and per-implementation
status. A case file (relative to the results file's directory) exists for the worst case
of every row x implementation and for every case with an unregistered violation or a
crash: cases/<id>.json, or cases/<id>.npz (the binary form, harness/casefile_npz.py) for a
case of more than BINARY_CASE_ELEMENT_STEPS element-steps. Non-finite numbers are the
strings "inf" / "nan". Deterministic: no timestamps,
no timings, cases sorted by row and id. `run.examples`: the sweep's generated cases per row
(`report --examples`); `run.shard`: which shard of how many (`--shard I/N`; absent for a
whole run), what `merge` checks.

Results and baseline files are untrusted input (other machines, CI artifacts):
`load_results` reads one through harness/untrusted.py (a size limit,
OPTIM_PARITY_RESULTS_MAX_BYTES, default 512 MiB; strict UTF-8; nesting and integer
length checked before parsing), then `validate_results` checks every field a command
reads against `results_schema()` (types, ranges, the known statuses and verdict classes,
violations that name an element of their case); merge also checks the case files it
copies against their cases. Anything else is one ResultsError line naming the file and
the JSON path of the offending field (`r.json: cases[3].implementations[0].status: ...`).
"""

from __future__ import annotations

import json
import math
import platform
import re
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterable

from harness import settings
from harness.casefile import CaseError, dumps_case, load_case
from harness.catalogue import PACKAGES, describe, known
from harness.framework_defaults import differences_from_torch
from harness.coverage import coverage
from harness.nonfinite import TEXTS, to_json
from harness.reproducer_script import reproducer_choice
from harness.shard import in_shard
from harness.statuses import CRASH, STATUSES, VIOLATION
from harness.untrusted import read_json
from harness.acceptance import acceptance_summary
from harness.verdicts import CLASSES, REPORT_ROWS, implementation_order, row_verdicts, seed_table_verdicts, summary

RESULT_SCHEMA = "optim-parity/result/1"
RESULTS_SCHEMA = "optim-parity/results/1"

# CPU features that change floating-point results (fused multiply-add contracts a*b+c
# into one rounding; vector widths change reduction order; bf16/fp16 units change
# half-precision paths).
FLOAT_RELEVANT_CPU_FLAGS = ("sse4_1", "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw",
                            "avx512vl", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_fp16", "asimd", "sve")


# A case of more element-steps (the sum of its parameters' sizes x its steps) than this
# gets its case file as .npz, not .json: about 20 characters of JSON per number make such
# a case's JSON 2 MB and more (a large-tensor case, cases/test_large_tensors.py, tens of
# MB, seconds to parse), where the .npz is the raw bytes. Every case of the suite and the
# sweep that gets a case file today is far below it (a few thousand), so their files stay
# .json and their reports byte for byte what they were.
BINARY_CASE_ELEMENT_STEPS = 100_000


class ResultsError(ValueError):
    """A results file that cannot be used; the message is one line."""


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for package in ("optim-parity", "numpy", *PACKAGES, "hypothesis"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "not installed"
    return out


def cpu_flags() -> list[str]:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    match = re.search(r"^(?:flags|Features)\s*:\s*(.*)$", text, re.MULTILINE)
    flags = set(match.group(1).split()) if match else set()
    return [f for f in FLOAT_RELEVANT_CPU_FLAGS if f in flags]


def environment() -> dict:
    packages = versions()
    return {"python": packages.pop("python"), "platform": platform.platform(), "machine": platform.machine(),
            "cpu_flags": cpu_flags(), "packages": packages}


def result_document(results: Iterable, case_path: str | None = None) -> dict:
    doc = {"schema": RESULT_SCHEMA, "versions": versions()}
    if case_path is not None:
        doc["case"] = case_path
    doc["implementations"] = [r.to_json() for r in results]
    return doc


def _registry_json(registry) -> list[dict]:
    return [{"id": d.id, "row": d.row, "implementation": list(d.implementations), "when": d.when,
             "mechanism": d.mechanism, "source": d.source, "bound": d.bound,
             "max_relative_error": to_json(d.max_relative_error),  # finite or +inf (load_registry)
             "reproducer": d.reproducer, "versions": d.versions, "applies": d.applies}
            for d in sorted(registry, key=lambda d: d.id)]


def results_document(entries: list[dict], registry, *, source: str, profile: str | None, seed: int | None,
                     env: dict | None = None, examples: int | None = None,
                     shard: tuple[int, int] | None = None) -> tuple[dict, list[dict]]:
    """The results document for case entries (harness/collect.py), and the entries
    whose case file must be written (each gets its "case_file"). `examples`: the
    sweep's generated cases per row; `shard`: (index, count) of a sharded run (a whole
    run, count 1 included, records none: its file is the merge of its shards)."""
    validation = [e for e in entries if e.get("kind") == "validation"]
    entries = [e for e in entries if e.get("kind") != "validation"]
    by_id: dict[str, dict] = {}
    for entry in entries:
        by_id.setdefault(entry["id"], entry)  # Hypothesis may run the same example twice
    order = {row: i for i, row in enumerate(REPORT_ROWS)}
    cases = sorted(by_id.values(), key=lambda e: (order.get(e["row"], len(order)), e["row"], e["id"]))
    implementations = sorted({i["implementation"] for e in cases for i in e["implementations"]},
                             key=implementation_order)
    compared = [n for n in implementations if n != "reference"]
    rows = row_verdicts(cases, {d.id: d.row for d in registry}, compared)

    needs_file = {e["id"] for e in cases
                  if any(i["status"] in (VIOLATION, CRASH) for i in e["implementations"])}
    needs_file |= {info["worst_case"] for row in rows for info in row["implementations"].values()
                   if info["worst_case"]}
    # The case the report's reproducer of each row x implementation shows (the simplest
    # violating one, harness/reproducer_script.py): the worst case may have no violation
    # that counts toward the row (a float16 NaN case under `defaults`).
    for row in rows:
        for info in row["implementations"].values():
            chosen = reproducer_choice(info["violations"], by_id, lambda case_id: "case_text" in by_id[case_id])
            if chosen is not None:
                needs_file.add(chosen["case"])
    # (an entry rebuilt from a results file has its case text only if that file had it)
    needs_file = {case_id for case_id in needs_file if "case_text" in by_id[case_id]}
    files = {case_id: f"cases/{_file_name(case_id, binary_case_file(by_id[case_id]))}"
             for case_id in sorted(needs_file)}
    for row in rows:
        for info in row["implementations"].values():
            info["worst_case_file"] = files.get(info["worst_case"])
    listed = []
    for entry in cases:
        out = {k: v for k, v in entry.items() if k != "case_text"}
        out["case_file"] = files.get(entry["id"])
        out["implementations"] = [{k: v for k, v in impl.items() if k != "violations"}
                                  for impl in entry["implementations"]]
        listed.append(out)
    document = {
        "schema": RESULTS_SCHEMA,
        "environment": env or environment(),
        "run": _run_section(source, profile, seed, examples, shard, implementations),
        "registry": _registry_json(registry),
        "summary": summary(rows, compared),
        "coverage": coverage(cases, compared),
        "catalogue": {name: describe(name) for name in compared if known(name)},
        "rows": rows,
        "seed_tables": seed_table_verdicts(rows),
        "defaults": differences_from_torch(),
        "cases": listed,
    }
    if validation:
        document["validation"] = acceptance_summary(validation)
    return document, [dict(by_id[case_id], case_file=path) for case_id, path in files.items()]


def _run_section(source: str, profile: str | None, seed: int | None, examples: int | None,
                 shard: tuple[int, int] | None, implementations: list[str]) -> dict:
    run: dict = {"source": source, "profile": profile, "seed": seed}
    if examples is not None:
        run["examples"] = examples
    if shard is not None and shard[1] > 1:
        run["shard"] = {"index": shard[0], "count": shard[1]}
    run["implementations"] = implementations
    return run


def element_steps(entry: dict) -> int:
    """The element-steps of a case entry (or a results file's case): the sum of its
    parameters' sizes (1 for a scalar) times its steps."""
    return sum(math.prod(p["shape"]) for p in entry["params"]) * entry["steps"]


def binary_case_file(entry: dict) -> bool:
    """Whether the case file of this case entry is an .npz (BINARY_CASE_ELEMENT_STEPS)."""
    return element_steps(entry) > BINARY_CASE_ELEMENT_STEPS


def _file_name(case_id: str, binary: bool = False) -> str:
    return (re.sub(r"[^A-Za-z0-9._-]", "_", case_id) or "case") + (".npz" if binary else ".json")


def failed(document: dict) -> bool:
    """Some implementation has an unregistered violation or crashed somewhere."""
    return any(i["status"] in (VIOLATION, CRASH) for c in document["cases"] for i in c["implementations"])


def write_json(document: dict, path: str | Path, compact: bool = False) -> Path:
    """Write atomically: a reader never sees half a file, an old file survives a failure.
    compact: no indentation (a results file of a ci run: 33 MB indented, about 2/3 of it compact)."""
    text = json.dumps(document, separators=(",", ":")) if compact else json.dumps(document, indent=1)
    return write_text_atomic(text + "\n", path)


def write_text_atomic(text: str, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except BaseException:  # a full disk, Ctrl-C, SIGTERM (harness/cli.py): no half-written .tmp left behind
        tmp.unlink(missing_ok=True)
        raise
    return path


# --------------------------------------------------------------------------- reading untrusted files

# --------------------------------------------------------------------------- the results schema
#
# A small schema language, walked by one checker: every spec checks a value found at a
# JSON path and raises _Invalid naming that path. Paths are chains (parent, key), built
# per container and formatted only for the message. (Size, encoding, nesting depth and
# integer length are the reader's, harness/untrusted.py, before anything is parsed.)

JsonPath = tuple  # (parent JsonPath or None, key)


class _Invalid(Exception):
    """A field that does not fit; `mistyped`: its value is of the wrong kind altogether."""

    def __init__(self, parent: JsonPath | None, key: str | int | None, problem: str, mistyped: bool = False) -> None:
        super().__init__(problem)
        self.parent, self.key, self.problem, self.mistyped = parent, key, problem, mistyped


def _json_path(parent: JsonPath | None, key: str | int | None) -> str:
    keys = [key] if key is not None else []
    while parent is not None:
        parent, key = parent
        if key is not None:
            keys.append(key)
    out = ""
    for key in reversed(keys):
        if isinstance(key, int):
            out += f"[{key}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,60}", key):
            out += f".{key}" if out else key
        else:
            out += f"[{_shown(key)}]"
    return out or "(the document)"


def _shown(value: Any) -> str:
    """A value as a one-line message shows it: short, in JSON's words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = repr(value)
        return text if len(text) <= 60 else text[:56] + "...'"
    if isinstance(value, int):
        digits = len(str(abs(value)))
        return str(value) if digits <= 30 else f"an integer of {digits} digits"
    if isinstance(value, float):
        return repr(value)
    return "a list" if isinstance(value, list) else "an object" if isinstance(value, dict) else type(value).__name__


class _Spec:
    expected = "a value"  # what fits, as a message says it
    # Types whose every value fits, so that containers skip the call (most of a results
    # file is numbers and strings in violation lists: this halves the walk).
    fitting_types: frozenset = frozenset()

    def check(self, value: Any, parent: JsonPath | None, key: str | int | None) -> None:
        raise NotImplementedError

    def wrong(self, value: Any, parent: JsonPath | None, key: str | int | None) -> _Invalid:
        return _Invalid(parent, key, f"expected {self.expected}, got {_shown(value)}", mistyped=True)


class AnyJSON(_Spec):
    """Free-form: any JSON value (hyperparameters, registry conditions: their own formats
    check them where they are read)."""

    fitting_types = frozenset({dict, list, str, int, float, bool, type(None)})

    def check(self, value, parent, key):
        return


class Scalar(_Spec):
    """A string, number, true/false or null (hashable: sets and dict keys are made of it)."""

    expected = "a string, number, true/false or null"
    fitting_types = frozenset({str, int, float, bool, type(None)})

    def check(self, value, parent, key):
        if isinstance(value, (list, dict)):
            raise self.wrong(value, parent, key)


class Text(_Spec):
    def __init__(self, *, choices: Iterable[str] | None = None, pattern: str | None = None,
                 max_length: int | None = None) -> None:
        self.choices = None if choices is None else tuple(choices)
        self.pattern = None if pattern is None else re.compile(pattern)
        self.max_length = max_length
        self.expected = ("a string" + (f" of at most {max_length} characters" if max_length else "")
                         + (f" matching {pattern}" if pattern else ""))
        if choices is None and pattern is None and max_length is None:
            self.fitting_types = frozenset({str})

    def check(self, value, parent, key):
        if type(value) is not str:
            raise self.wrong(value, parent, key)
        if self.choices is not None and value not in self.choices:
            raise _Invalid(parent, key, f"expected one of {list(self.choices)}, got {_shown(value)}")
        if (self.max_length is not None and len(value) > self.max_length) or \
                (self.pattern is not None and not self.pattern.fullmatch(value)):
            raise self.wrong(value, parent, key)


class Integer(_Spec):
    def __init__(self, minimum: int | None = None, maximum: int | None = None, *, expected: str | None = None) -> None:
        self.minimum, self.maximum = minimum, maximum
        bounds = [f">= {minimum}"] if minimum is not None else []
        bounds += [f"<= {maximum}"] if maximum is not None else []
        self.expected = expected or "an integer" + (" " + " and ".join(bounds) if bounds else "")

    def check(self, value, parent, key):
        if type(value) is not int or (self.minimum is not None and value < self.minimum) or \
                (self.maximum is not None and value > self.maximum):
            raise self.wrong(value, parent, key)


class Boolean(_Spec):
    expected = "true or false"
    fitting_types = frozenset({bool})

    def check(self, value, parent, key):
        if type(value) is not bool:
            raise self.wrong(value, parent, key)


_LARGEST_FLOAT = 1.7976931348623157e308


class Number(_Spec):
    """A JSON number float() can hold; with nonfinite_text also "inf", "-inf", "nan"."""

    fitting_types = frozenset({float})

    def __init__(self, *, nonfinite_text: bool = False) -> None:
        self.nonfinite_text = nonfinite_text
        self.expected = "a number" + (' or one of "inf", "-inf", "nan"' if nonfinite_text else "")

    def check(self, value, parent, key):
        kind = type(value)
        if kind is float or (kind is int and -_LARGEST_FLOAT <= value <= _LARGEST_FLOAT) or \
                (self.nonfinite_text and kind is str and value in TEXTS):
            return
        raise self.wrong(value, parent, key)


class Nullable(_Spec):
    def __init__(self, spec: _Spec) -> None:
        self.spec, self.expected = spec, f"{spec.expected} or null"
        self.fitting_types = spec.fitting_types | {type(None)}

    def check(self, value, parent, key):
        if value is not None:
            try:
                self.spec.check(value, parent, key)
            except _Invalid as invalid:
                if invalid.mistyped and invalid.parent is parent and invalid.key == key:
                    raise self.wrong(value, parent, key) from None  # "... or null"
                raise


class ListOf(_Spec):
    """A list of `item`; `length`: exactly that many; `unique`: no two items share the
    value of that field (items are objects)."""

    def __init__(self, item: _Spec, *, length: int | None = None, unique: str | None = None) -> None:
        self.item, self.length, self.unique = item, length, unique
        self.expected = "a list" + (f" of {length} items" if length is not None else "")

    def check(self, value, parent, key):
        if type(value) is not list or (self.length is not None and len(value) != self.length):
            raise self.wrong(value, parent, key)
        here, item = (parent, key), self.item
        fitting = item.fitting_types
        for index, element in enumerate(value):
            if type(element) not in fitting:
                item.check(element, here, index)
        if self.unique is not None:
            seen: dict = {}
            for index, element in enumerate(value):
                first = seen.setdefault(element[self.unique], index)
                if first != index:
                    also = _json_path(here, first) + f".{self.unique}"
                    raise _Invalid((here, index), self.unique, f"{_shown(element[self.unique])} is also {also}")


class MapOf(_Spec):
    """An object whose every key fits `keys` (default: any) and every value `values`;
    `non_empty`: with at least one key."""

    def __init__(self, values: _Spec, keys: Text | None = None, *, non_empty: bool = False) -> None:
        self.values, self.keys, self.non_empty = values, keys, non_empty
        self.expected = "a non-empty object" if non_empty else "an object"

    def check(self, value, parent, key):
        if type(value) is not dict or (self.non_empty and not value):
            raise self.wrong(value, parent, key)
        here, values, keys = (parent, key), self.values, self.keys
        fitting = values.fitting_types
        for name, element in value.items():
            if keys is not None:
                try:
                    keys.check(name, here, name)
                except _Invalid as invalid:
                    raise _Invalid(here, name, f"unexpected key: {invalid.problem}") from None
            if type(element) not in fitting:
                values.check(element, here, name)


Rule = Callable[[dict], "tuple[str, str] | None"]  # (field, problem) when the object breaks it


class Object(_Spec):
    """An object with `required` and `optional` fields. Keys it does not name are allowed
    (readers ignore them), except `forbidden` ones (key -> why); `rules` check what
    relates several fields, after the fields themselves."""

    expected = "an object"

    def __init__(self, required: dict[str, _Spec], optional: dict[str, _Spec] | None = None, *,
                 forbidden: dict[str, str] | None = None, rules: Iterable[Rule] = ()) -> None:
        self.required, self.optional = required, optional or {}
        self.forbidden, self.rules = forbidden or {}, tuple(rules)

    def check(self, value, parent, key):
        if type(value) is not dict:
            raise self.wrong(value, parent, key)
        here = (parent, key)
        named = 0
        for name, spec in self.required.items():
            if name not in value:
                raise _Invalid(here, name, "missing")
            if type(value[name]) not in spec.fitting_types:
                spec.check(value[name], here, name)
        named += len(self.required)
        for name, spec in self.optional.items():
            if name in value:
                if type(value[name]) not in spec.fitting_types:
                    spec.check(value[name], here, name)
                named += 1
        if len(value) > named and self.forbidden:
            for name in sorted(value.keys() & self.forbidden.keys()):
                raise _Invalid(here, name, f"not allowed here ({self.forbidden[name]})")
        for rule in self.rules:
            broken = rule(value)
            if broken:
                raise _Invalid(here, broken[0], broken[1])


def _equal_lengths(first: str, second: str) -> Rule:
    def rule(value: dict):
        if len(value[first]) != len(value[second]):
            return second, f"{len(value[second])} items for {len(value[first])} in {first}"
        return None
    return rule


def _at_most(smaller: str, larger: str) -> Rule:
    def rule(value: dict):
        if value[smaller] > value[larger]:
            return smaller, f"expected at most {larger} ({value[larger]}), got {value[smaller]}"
        return None
    return rule


CASE_ID = r"[A-Za-z0-9_.+-]{1,200}"  # what harness/collect.py case_id and the sweep make
# relative, inside the report's cases/ (read by merge); .npz: a binary case file (BINARY_CASE_ELEMENT_STEPS)
CASE_FILE = r"cases/[A-Za-z0-9_.+-]{1,200}\.(?:json|npz)"
DTYPES = ("float16", "bfloat16", "float32", "float64")
QUANTITIES = ("param", "exp_avg", "exp_avg_sq", "max_exp_avg_sq", "step")
# Counts, indices, steps: past 2**53 not a count of anything a run holds (nor exact as a float).
COUNT = Integer(0, 2**53, expected="a count (an integer from 0 to 2**53)")
ORDINAL = Integer(1, 2**53, expected="an integer from 1 to 2**53")


@cache
def results_schema() -> Object:
    """What a results file (optim-parity/results/1) holds: every field some command reads."""
    text, names = Text(), ListOf(Text())
    # Names that become file names or baseline names: short.
    name = Text(max_length=200)
    number = Number(nonfinite_text=True)
    violation = {"quantity": Text(choices=QUANTITIES), "param": text, "step": ORDINAL, "index": COUNT,
                 "expected": number, "actual": number, "error": number, "tolerance": number,
                 "reference_scale": number, "relative_error": number, "rows": names, "joint": Boolean(),
                 "divergence": Nullable(text)}
    row_violation = Object({**violation, "case": text, "dtype": text, "shape": Nullable(ListOf(COUNT)),
                         "ratio": number})
    series = Object({"quantity": Text(choices=QUANTITIES), "param": text, "index": COUNT,
                  "steps": ListOf(ORDINAL), "ratio": ListOf(number)}, rules=[_equal_lengths("steps", "ratio")])
    case_implementation = Object(
        {"implementation": name, "description": text, "status": Text(choices=STATUSES), "message": text,
         "rows": names, "divergence": names, "worst_ratio": number, "worst": Nullable(Object(violation)),
         "violation_count": COUNT},
        {"series": series, "update_ratio": ListOf(ListOf(Number(), length=2))})
    case = Object(
        {"id": Text(pattern=CASE_ID), "row": text, "test": Nullable(text), "source": text,
         "dtype": Text(choices=DTYPES), "steps": COUNT, "hyperparameters": MapOf(AnyJSON()),
         "params": ListOf(Object({"name": text, "shape": ListOf(COUNT)})),
         "implementations": ListOf(case_implementation, unique="implementation"),
         "case_file": Nullable(Text(pattern=CASE_FILE))},
        {"rows": names, "features": MapOf(Scalar()),
         # per implementation, "param.quantity": the first step of each kind (the report
         # words the earliest: an empty record has none)
         "nonfinite": MapOf(MapOf(MapOf(COUNT, keys=Text(choices=("nan", "+inf", "-inf")), non_empty=True),
                                  non_empty=True))},
        # harness/collect.py entries carry these, results files never: merge would take a
        # case's text from the file instead of its case file, or the case for a validation record.
        forbidden={"case_text": "a case's text is its case file", "kind": "results cases have no kind"})
    row_implementation = Object(
        {"verdict": text, "verdict_class": Text(choices=CLASSES), "cases": COUNT,
         "statuses": MapOf(COUNT, keys=Text(choices=STATUSES)), "worst_ratio": number,
         "worst_case": Nullable(text), "worst_case_file": Nullable(Text(pattern=CASE_FILE)), "known": names,
         "attributed_violations": COUNT, "unregistered_violations": COUNT, "worst_relative_error": number,
         "worst_pass_ratio": number, "violations": ListOf(row_violation)})
    row = Object({"row": text, "kind": text, "torch_name": text, "mindspore_name": text, "claim_zh": text,
               "claim_en": text, "cases": COUNT, "implementations": MapOf(row_implementation, keys=name)},
              {"names": MapOf(Nullable(text), keys=name)})
    versions = MapOf(text, keys=name)
    seed_claim = Object({"row": text, "torch_name": text, "mindspore_name": text, "claim_zh": text, "claim_en": text,
                         "defaults": Object({"torch": AnyJSON(), "mindspore": AnyJSON(), "measured": Nullable(text),
                                             "verdict": text}),
                         "implementations": MapOf(Object({"verdict": text, "verdict_class": Text(choices=CLASSES)}),
                                                  keys=name)})
    seed_table = Object({"id": text, "title": text, "source": text, "torch_entry": text, "mindspore_entry": text,
                         "overall_claim_zh": text, "overall_claim_en": text, "claims": ListOf(seed_claim)})
    default_difference = Object({"entry_point": text, "concept": text, "parameter": text, "default": AnyJSON(),
                                 "torch": text, "torch_default": AnyJSON()})
    registry_entry = Object({"id": text, "row": text, "implementation": names, "when": MapOf(AnyJSON()),
                          "mechanism": text, "source": text, "bound": text, "max_relative_error": number,
                          "reproducer": text},
                         {"versions": versions, "applies": Boolean()})
    catalogue_record = Object({"name": text, "framework": text, "call": text, "mode": text,
                            "exclusions": ListOf(Object({"kind": text, "when": MapOf(AnyJSON()), "reason": text,
                                                      "versions": versions, "applied": Boolean()}))})
    validation_row = Object({"key": text, "class": text, "spec": text,
                          "frameworks": MapOf(Object({"outcome": text, "result": Nullable(text),
                                                   "error": Nullable(text), "example": text,
                                                   "rule": Nullable(text)}))})
    return Object({
        "schema": Text(choices=(RESULTS_SCHEMA,)),
        "environment": Object({"python": text, "platform": text, "machine": text, "cpu_flags": names,
                            "packages": MapOf(Text(max_length=200), keys=name)}),
        "run": Object({"source": Text(choices=("pytest", "sweep")), "profile": Nullable(text),
                    "seed": Nullable(Integer()), "implementations": ListOf(name)},
                   {"examples": Nullable(ORDINAL),
                    "shard": Object({"index": ORDINAL, "count": ORDINAL},
                                 rules=[_at_most("index", "count")])}),
        "registry": ListOf(registry_entry),
        "summary": MapOf(MapOf(COUNT, keys=Text(choices=CLASSES)), keys=name),
        "coverage": MapOf(Object({"pairs_expressible": COUNT, "pairs_covered": COUNT, "uncovered": names}), keys=name),
        "catalogue": MapOf(catalogue_record, keys=name),
        "rows": ListOf(row, unique="row"),
        "cases": ListOf(case, unique="id"),
    }, {"validation": ListOf(validation_row), "baseline_of": text,
        # harness/verdicts.py seed_table_verdicts and harness/framework_defaults.py (files
        # from before they existed have neither)
        "seed_tables": ListOf(seed_table, unique="id"), "defaults": ListOf(default_difference)})


def validate_results(document: Any, path: str | Path) -> dict:
    """The document when it is a results file every command can read; else one-line
    ResultsError: `path: json.path.of.the.field: what is wrong`."""
    if not isinstance(document, dict):
        raise ResultsError(f"{path}: not a results file ({_shown(document)}, expected an object with schema "
                           f"{RESULTS_SCHEMA!r})")
    if document.get("schema") != RESULTS_SCHEMA:
        raise ResultsError(f"{path}: not a results file (schema {_shown(document.get('schema'))}, "
                           f"expected {RESULTS_SCHEMA!r})")
    try:
        results_schema().check(document, None, None)
        _check_violations_against_cases(document)
    except _Invalid as invalid:
        raise ResultsError(f"{path}: {_json_path(invalid.parent, invalid.key)}: {invalid.problem}") from None
    return document


def _check_violations_against_cases(document: dict) -> None:
    """A violation listed under a row names an element of its case: a parameter the case
    has, an index inside its shape, a step inside its run (the report's reproducer reads
    the spec's run at that step and element)."""
    cases = {case["id"]: case for case in document["cases"]}
    for row_index, row in enumerate(document["rows"]):
        for name, info in row["implementations"].items():
            here = (((((None, "rows"), row_index), "implementations"), name), "violations")  # a JsonPath
            for index, violation in enumerate(info["violations"]):
                case = cases.get(violation["case"])
                if case is None:
                    continue  # not read: a violation belongs to a listed case or to none
                shapes = {p["name"]: p["shape"] for p in case["params"]}
                if violation["param"] not in shapes:
                    raise _Invalid((here, index), "param", f"{_shown(violation['param'])} is not a parameter "
                                                           f"of case {violation['case']}")
                if violation["index"] >= math.prod(shapes[violation["param"]]):
                    raise _Invalid((here, index), "index", f"{violation['index']} is outside parameter "
                                                           f"{_shown(violation['param'])} of shape "
                                                           f"{shapes[violation['param']]}")
                if violation["step"] > case["steps"]:
                    raise _Invalid((here, index), "step", f"{violation['step']} is past the {case['steps']} "
                                                          f"step(s) of case {violation['case']}")


def load_results(path: str | Path) -> dict:
    """A results file every command can read (validate_results); one-line ResultsError otherwise."""
    return validate_results(read_json(path, ResultsError, settings.results_max_bytes()), path)


def case_entries(document: dict, directory: Path | None = None) -> list[dict]:
    """The case entries (harness/collect.py) a results document was built from: each
    case with its implementations' violations gathered back from the rows they are
    listed under, and its case text when `directory` holds its case file.
    Merging shards and rebuilding verdicts goes through these."""
    violations: dict[tuple[str, str], dict[tuple, dict]] = {}
    for row in document["rows"]:
        for name, info in row["implementations"].items():
            for violation in info["violations"]:
                listed = {k: v for k, v in violation.items() if k not in ("case", "dtype", "shape", "ratio")}
                key = (violation["quantity"], violation["param"], violation["index"])
                violations.setdefault((violation["case"], name), {}).setdefault(key, listed)
    entries = []
    for case in document["cases"]:
        entry = {k: v for k, v in case.items() if k != "case_file"}
        entry["implementations"] = []
        for impl in case["implementations"]:
            found = violations.get((case["id"], impl["implementation"]), {})
            ordered = [found[k] for k in sorted(found, key=lambda k: (k[1], k[0], k[2]))]
            entry["implementations"].append(dict(impl, violations=ordered))
        if directory is not None and case.get("case_file"):
            entry["case_text"] = _case_text(Path(directory) / case["case_file"], entry)
        entries.append(entry)
    return entries


def _case_text(path: Path, entry: dict) -> str:
    """The text of a case file a results file names, once it is known to be the case the
    results describe: a case file (harness/casefile.py) with the entry's dtype, steps and
    parameters, holding every element its violations name (the report's reproducer runs
    the spec on it up to that step and reads that element)."""
    what = f"case file of case {entry['id']}"
    try:
        case = load_case(path)
        # An .npz holds the case's values bit for bit: its JSON text is the text the case's
        # entry had (harness/collect.py dumps_case). A .json file: what load_case read
        # (UTF-8, within its size limit).
        text = dumps_case(case) if path.suffix == ".npz" else path.read_text(encoding="utf-8")
    except CaseError as exc:
        raise ResultsError(f"{exc} (the {what})") from None
    except (OSError, UnicodeDecodeError) as exc:  # replaced since load_case read it
        raise ResultsError(f"{path}: cannot read the {what} ({exc})") from None
    recipe = (entry["dtype"], entry["steps"], [(p["name"], list(p["shape"])) for p in entry["params"]])
    found = (case.dtype, case.num_steps, [(p.name, list(p.shape)) for p in case.params])
    if found != recipe:
        raise ResultsError(f"{path}: not the {what}: dtype, steps and parameters {found} where the results "
                           f"have {recipe}")
    amsgrad = bool(case.hp("amsgrad"))
    for impl in entry["implementations"]:
        for violation in impl["violations"]:
            if violation["quantity"] == "max_exp_avg_sq" and not amsgrad:
                raise ResultsError(f"{path}: not the {what}: {impl['implementation']} has a max_exp_avg_sq "
                                   f"violation, and the case runs without amsgrad")
    return text


def _validation_records(document: dict) -> list[dict]:
    """The validation outcomes of a results file, as the records they were summarised from."""
    return [{"kind": "validation", "framework": name, "key": row["key"], "class": row["class"], "spec": row["spec"],
             "value": outcome["example"], "outcome": outcome["outcome"], "result": outcome["result"],
             "error": outcome["error"], "rule": outcome["rule"]}
            for row in document.get("validation", []) for name, outcome in row["frameworks"].items()]


def shard_of(document: dict) -> tuple[int, int]:
    """(index, count) of the shard a results document holds; a whole run is (1, 1)."""
    shard = document["run"].get("shard")
    return (shard["index"], shard["count"]) if shard else (1, 1)


# What the shards of one run share; merge refuses documents that differ in any of them
# (the first difference is named, by its label). The shard count is among them: shards
# of different splits overlap and leave gaps, even where no case id shows it.
SHARED_BY_SHARDS: tuple[tuple[str, Callable[[dict], Any]], ...] = (
    ("package versions", lambda document: document["environment"]["packages"]),
    ("sources", lambda document: document["run"]["source"]),
    ("profiles", lambda document: document["run"]["profile"]),
    ("seeds", lambda document: document["run"]["seed"]),
    ("--examples", lambda document: document["run"].get("examples")),
    ("shard counts", lambda document: shard_of(document)[1]),
)


def _shard_label(document: dict) -> str:
    index, count = shard_of(document)
    return f"shard {index}/{count}" if count > 1 else "the whole run (no --shard)"


def _difference(label: str, theirs: Any, mine: Any) -> str:
    if label == "package versions":
        return ", ".join(f"{name} {theirs.get(name, 'none')} vs {mine.get(name, 'none')}"
                         for name in sorted(set(theirs) | set(mine)) if theirs.get(name) != mine.get(name))
    return f"{_shown(theirs)} vs {_shown(mine)}"


def check_shards(documents: list[tuple[Path, dict]]) -> None:
    """The documents are the shards of one run, each exactly once: the same versions,
    source, profile, seed, --examples and shard count, every shard index present once,
    and (for a sweep, whose shards split by case id, harness/shard.py) every case in the
    shard its file says. One-line ResultsError otherwise."""
    (first_path, first), *rest = documents
    for path, document in rest:
        for label, value in SHARED_BY_SHARDS:
            if value(document) != value(first):
                raise ResultsError(f"{path}: cannot merge with {first_path}: different {label} "
                                   f"({_difference(label, value(document), value(first))})")
    given: dict[int, Path] = {}
    for path, document in documents:
        index, count = shard_of(document)
        if index in given:
            raise ResultsError(f"{path}: {_shard_label(document)} is also {given[index]} (overlapping shards)")
        given[index] = path
        if document["run"]["source"] == "sweep":
            stray = next((case["id"] for case in document["cases"] if not in_shard(case["id"], (index, count))), None)
            if stray is not None:
                raise ResultsError(f"{path}: case {stray} does not belong to {_shard_label(document)}")
    count = shard_of(first)[1]
    missing = [index for index in range(1, count + 1) if index not in given]
    if missing:
        listed = ", ".join(f"{path} ({index}/{count})" for index, path in sorted(given.items()))
        raise ResultsError(f"cannot merge: shard(s) {', '.join(f'{i}/{count}' for i in missing)} missing "
                           f"(given: {listed})")


def merge_documents(documents: list[tuple[Path, dict]], registry) -> tuple[dict, list[dict]]:
    """One results document from the shards of one run (check_shards), the same as the
    run made whole would have written. Refuses shards whose case lists overlap."""
    check_shards(documents)
    entries, seen = [], {}
    for path, document in documents:
        entries += _validation_records(document)
        for entry in case_entries(document, path.parent):
            if entry["id"] in seen:
                raise ResultsError(f"{path}: case {entry['id']} is also in {seen[entry['id']]} (overlapping shards)")
            seen[entry["id"]] = path
            entries.append(entry)
    _, first = documents[0]
    run = first["run"]
    return results_document(entries, registry, source=run["source"], profile=run["profile"], seed=run["seed"],
                            env=first["environment"], examples=run.get("examples"))
