"""Hyperparameter validation: which values each framework accepts, rejects, or
silently accepts with surprising results — next to the spec's domain (reference/domain.py).

A probe is one hyperparameter (canonical key, harness/rows.py) set to one value, all
others at their defaults (harness/casefile.py DEFAULT_HYPERPARAMETERS), on a float32
parameter [0.5, -1.0] stepped twice with the gradient [0.1, -0.2]: torch.optim.Adam and
mindspore.nn.Adam, the value passed as each framework's wing translates it and run by the
wing's plain calls (harness/adapters/<framework>/translate.py, bare.py; this module
imports no framework). Its outcome per framework:

    rejected      the constructor raised (exception type and first line kept)
    step fails    the constructor accepted, the first steps raised
    accepted      both ran; result: "as spec" (within 0.1% of the spec's displacement,
                  for a value inside the domain), "differs from spec", "no movement",
                  "non-finite" (a NaN/Inf parameter), or "moves" (outside the domain)
    no counterpart  the framework has no such argument

A value belongs to a class (`value_class`: negative, zero, nan, +inf, bool, string,
"beta2: rounds to 1 in float32", ...). Without a rule the expected outcome is the
spec's: accepted "as spec" inside the domain, rejected outside it. Every deliberate or
measured difference is a rule in cases/hyperparameter_acceptance.toml (framework, key,
class, outcome, result, note), strict like the divergence registry: each rule has an
example value that must keep producing its outcome.
"""

from __future__ import annotations

import math
import numbers
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness import collect
from harness.adapters import setup, translation, wing
from harness.casefile import DEFAULT_HYPERPARAMETERS
from harness.trajectory import first_line
from harness.untrusted import expect_list, expect_str, expect_table, read_toml, shown
from reference.adam import AdamState, adam_step, init_state
from reference.domain import SWITCHES, domain_error

DEFAULT_RULES = Path(__file__).resolve().parent.parent / "cases" / "hyperparameter_acceptance.toml"
INITIAL = np.array([0.5, -1.0], dtype=np.float32)
GRADIENT = np.array([0.1, -0.2], dtype=np.float32)
STEPS = 2
AS_SPEC_RTOL = 1e-3  # 0.1% of the displacement: far above float32 rounding, far below a real difference
FRAMEWORKS = ("torch", "mindspore")
KEYS = ("lr", "eps", "weight_decay", "betas", "amsgrad", "use_locking", "use_nesterov", "loss_scale",
        "use_lazy", "use_offload")


class RulesError(ValueError):
    """A malformed acceptance-rules file; the message is one line."""


@dataclass(frozen=True)
class Outcome:
    kind: str  # rejected | step fails | accepted | no counterpart
    error: str = ""  # "ValueError: Invalid learning rate: -0.001"
    result: str = ""  # for "accepted": as spec | differs from spec | no movement | non-finite | moves

    def matches(self, kind: str, result: tuple[str, ...] | str | None) -> bool:
        results = (result,) if isinstance(result, str) else result
        return self.kind == kind and (results is None or self.result in results)

    def __str__(self) -> str:
        if self.kind == "accepted":
            return f"accepted, {self.result}"
        return f"{self.kind}: {self.error}" if self.error else self.kind


# --------------------------------------------------------------------------- classes

def _number_class(value: Any) -> str | None:
    if isinstance(value, bool):
        return repr(value)  # "True" / "False": frameworks take them as 1.0 / 0.0, with different effects
    if value is None:
        return "none"
    if isinstance(value, str):
        return "string"
    if not isinstance(value, numbers.Real):
        return "other type"
    if isinstance(value, numbers.Integral):
        return "int"
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "+inf" if value > 0 else "-inf"
    if value < 0:
        return "negative"
    if value == 0:
        return "zero"
    return None


def _beta_class(beta: Any) -> str:
    special = _number_class(beta)
    if special is not None and special != "int":
        return special
    if beta == 1:
        return "one"
    if beta > 1:
        return "above one"
    if special == "int":
        return "int"
    if np.float32(beta) == np.float32(1.0):
        return "rounds to 1 in float32"
    return "in (0, 1)"


def value_class(key: str, value: Any) -> str:
    if key in SWITCHES:
        return "bool" if isinstance(value, bool) else (_number_class(value) or "number")
    if key == "betas":
        if not (isinstance(value, (tuple, list)) and len(value) == 2):
            return "not a pair"
        for index, beta in enumerate(value):
            cls = _beta_class(beta)
            if cls != "in (0, 1)":
                return f"beta{index + 1}: {cls}"
        return "in (0, 1)"
    special = _number_class(value)
    if special is not None:
        return special
    if value < float(np.finfo(np.float32).tiny):
        return "below float32 normal range"
    if value > float(np.finfo(np.float32).max):
        return "above float32 range"
    return "positive"


# --------------------------------------------------------------------------- frameworks

# Each framework's wing (harness/adapters/<framework>/) says how a value is passed
# (translate.keyword_arguments: the same translation its adapters use) and runs the plain
# calls (bare.hyperparameter_probe, which imports the framework when it runs).

def _framework_kwargs(framework: str, key: str, value: Any) -> dict | None:
    """The constructor arguments that set `key` (None: no counterpart)."""
    return translation(framework).keyword_arguments(key, value)


def _run(framework: str, kwargs: dict) -> np.ndarray:
    """The parameter after STEPS steps of the framework's Adam built with `kwargs`."""
    setup(framework)  # the framework's runtime settings (MindSpore: PyNative, CPU, quiet logs)
    return wing(framework, "bare").hyperparameter_probe(kwargs, INITIAL, GRADIENT, STEPS, _constructed)


_phase: dict[str, bool] = {"constructed": False}


def _constructed() -> None:
    _phase["constructed"] = True


def _spec(key: str, value: Any) -> np.ndarray:
    hyperparameters = dict(DEFAULT_HYPERPARAMETERS)
    hyperparameters[key] = value
    beta1, beta2 = hyperparameters["betas"]
    state: AdamState = init_state(INITIAL.astype(np.float64))
    for _ in range(STEPS):
        state = adam_step(state, GRADIENT.astype(np.float64), lr=float(hyperparameters["lr"]), beta1=float(beta1),
                          beta2=float(beta2), eps=float(hyperparameters["eps"]),
                          weight_decay=float(hyperparameters["weight_decay"]), amsgrad=bool(hyperparameters["amsgrad"]),
                          nesterov=bool(key == "use_nesterov" and value))
    return state.param


def _error_text(error: BaseException) -> str:

    return f"{type(error).__name__}: {first_line(error)[:160]}"


def probe(framework: str, key: str, value: Any) -> Outcome:
    kwargs = _framework_kwargs(framework, key, value)
    if kwargs is None:
        return Outcome("no counterpart")
    _phase["constructed"] = False
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            final = _run(framework, kwargs)
    except Exception as error:  # the framework's verdict on the value
        return Outcome("step fails" if _phase["constructed"] else "rejected", _error_text(error))
    if not np.all(np.isfinite(final)):
        return Outcome("accepted", result="non-finite")
    moved = final - INITIAL.astype(np.float64)
    if domain_error(key, value) is None:
        expected = _spec(key, value) - INITIAL.astype(np.float64)
        scale = np.maximum(np.abs(expected), 1e-12)
        close = np.all(np.abs(moved - expected) <= AS_SPEC_RTOL * scale + 1e-7)  # + float32 ulp of |w| ~ 1
        if close:
            return Outcome("accepted", result="as spec")
        return Outcome("accepted", result="no movement" if not np.any(moved) else "differs from spec")
    return Outcome("accepted", result="no movement" if not np.any(moved) else "moves")


# --------------------------------------------------------------------------- rules

@dataclass(frozen=True)
class Rule:
    framework: str
    key: str
    value_class: str
    outcome: str
    result: tuple[str, ...] | None  # None: any result
    example: Any
    note: str


_RULE_KEYS = {"framework", "key", "class", "outcome", "result", "example", "note"}
OUTCOMES = ("rejected", "step fails", "accepted", "no counterpart")
RESULTS = ("as spec", "differs from spec", "no movement", "non-finite", "moves")


def load_rules(path: str | Path = DEFAULT_RULES) -> list[Rule]:

    path = Path(path)
    raw = read_toml(path, RulesError)
    expect_table(raw, str(path), RulesError, optional={"rule"})
    rules = []
    for i, entry in enumerate(expect_list(raw.get("rule", []), f"{path}: rule", RulesError)):
        where = f"{path}: rule #{i + 1}"
        expect_table(entry, where, RulesError, required=_RULE_KEYS - {"result"}, optional={"result"})
        expect_str(entry["framework"], f"{where}.framework", RulesError, choices=FRAMEWORKS)
        expect_str(entry["key"], f"{where}.key", RulesError, choices=KEYS)
        expect_str(entry["outcome"], f"{where}.outcome", RulesError, choices=OUTCOMES)
        expect_str(entry["note"], f"{where}.note", RulesError)
        expect_str(entry["class"], f"{where}.class", RulesError)
        example = _decode(entry["example"])
        if value_class(entry["key"], example) != entry["class"]:
            raise RulesError(f"{where}: example {shown(entry['example'])} is of class "
                             f"{value_class(entry['key'], example)!r}, not {shown(entry['class'])}")
        result = entry.get("result")
        if result is not None:
            result = [result] if isinstance(result, str) else result
            expect_list(result, f"{where}.result", RulesError, non_empty=True,
                        item=lambda x, at: expect_str(x, at, RulesError, choices=RESULTS))
            result = tuple(result)
        rules.append(Rule(entry["framework"], entry["key"], entry["class"], entry["outcome"], result,
                          example, entry["note"]))
    return rules


def _decode(example: Any, in_list: bool = False) -> Any:
    """TOML has no null: {none = true} means None and {string = "x"} the string "x";
    inside a list (betas) the strings "nan", "inf", "-inf" mean floats."""
    if isinstance(example, dict):
        if example.get("none"):
            return None
        if "string" in example:
            return example["string"]
    if isinstance(example, list):
        return [_decode(x, in_list=True) for x in example]
    if in_list and example in ("nan", "inf", "-inf"):
        return float(example)
    return example


def expected(framework: str, key: str, value: Any,
             rules: list[Rule]) -> tuple[str, tuple[str, ...] | None, Rule | None]:
    cls = value_class(key, value)
    for rule in rules:
        if (rule.framework, rule.key, rule.value_class) == (framework, key, cls):
            return rule.outcome, rule.result, rule
    if _framework_kwargs(framework, key, value) is None:
        return "no counterpart", None, None
    if domain_error(key, value) is None:
        return "accepted", ("as spec",), None
    return "rejected", None, None


def acceptance_table(values: dict[str, list[Any]]) -> list[dict]:
    """Per key and value: its class, the spec's verdict and each framework's outcome."""
    table = []
    for key, probes in values.items():
        for value in probes:
            row = {"key": key, "value": repr(value), "class": value_class(key, value),
                   "spec": domain_error(key, value) or "in domain"}
            for framework in FRAMEWORKS:
                row[framework] = str(probe(framework, key, value))
            table.append(row)
    return table


# One representative value per class, for the side-by-side table (`optim-parity validate`).
REPRESENTATIVES: dict[str, list[Any]] = {
    "lr": [1e-3, 0.0, -1e-3, float("nan"), float("inf"), 1, True, "0.1", None, 1e-40],
    "eps": [1e-8, 0.0, -1e-8, float("nan"), float("inf"), 1e-45, "1e-8"],
    "weight_decay": [0.01, 0.0, -0.1, float("nan"), float("inf"), True, "0.1"],
    "betas": [(0.9, 0.999), (0.0, 0.999), (1.0, 0.999), (0.9, 1.0), (-0.1, 0.999), (float("nan"), 0.999),
              (0.9, 1 - 1e-8), (1 - 1e-8, 0.999), (0.9, float("inf")), (0.9,)],
    "amsgrad": [True, 1, "yes", None],
    "use_locking": [True, 1],
    "use_nesterov": [True, "true"],
    "loss_scale": [2.0, 0.0, -1.0, float("nan"), float("inf"), 1],
    "use_lazy": [True, "x"],
    "use_offload": [True, 1],
}


def keep_outcome(framework: str, key: str, value: Any, outcome: Outcome, rule: Rule | None) -> None:
    """Keep the outcome for the parity report when one is being collected (pytest --parity-report)."""

    collector = collect.active()
    if collector is None or collector.current_test is None:
        return
    collector.keep({"kind": "validation", "framework": framework, "key": key, "value": repr(value),
                     "class": value_class(key, value), "spec": domain_error(key, value) or "in domain",
                     "outcome": outcome.kind, "result": outcome.result, "error": outcome.error,
                     "rule": rule.note if rule else None})


def acceptance_summary(records: list[dict]) -> list[dict]:
    """The acceptance sets side by side: per key and value class, the spec's verdict and
    each framework's outcome (with one example value and the rule that explains it)."""
    by_class: dict[tuple[str, str], dict] = {}
    for item in sorted(records, key=lambda r: (r["key"], r["class"], r["framework"], r["value"])):
        row = by_class.setdefault((item["key"], item["class"]), {"key": item["key"], "class": item["class"],
                                                                  "spec": item["spec"], "frameworks": {}})
        outcome = {"outcome": item["outcome"], "result": item["result"], "error": item["error"],
                   "example": item["value"], "rule": item["rule"]}
        row["frameworks"].setdefault(item["framework"], outcome)
    order = {key: i for i, key in enumerate(KEYS)}
    return sorted(by_class.values(), key=lambda r: (order.get(r["key"], len(order)), r["class"]))
