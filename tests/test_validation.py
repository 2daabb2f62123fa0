"""The hyperparameter-validation helpers: value classes, the spec's domain, rule files."""

import math

import pytest

from harness.acceptance import RulesError, expected, load_rules, value_class
from reference.domain import domain_error

RULE = '''
[[rule]]
framework = "mindspore"
key = "eps"
class = "zero"
outcome = "rejected"
example = 0.0
note = "n"
'''


@pytest.mark.parametrize("key, value, cls", [
    ("lr", -1.0, "negative"), ("lr", 0.0, "zero"), ("lr", -0.0, "zero"), ("lr", math.nan, "nan"),
    ("lr", math.inf, "+inf"), ("lr", True, "True"), ("lr", None, "none"), ("lr", "0.1", "string"),
    ("lr", 1, "int"), ("lr", 1e-40, "below float32 normal range"), ("lr", 0.5, "positive"),
    ("betas", (0.9, 0.999), "in (0, 1)"), ("betas", (0.0, 0.999), "beta1: zero"),
    ("betas", (0.9, 1 - 1e-8), "beta2: rounds to 1 in float32"), ("betas", (0.9,), "not a pair"),
    ("betas", (0.9, 1.5), "beta2: above one"), ("amsgrad", True, "bool"), ("amsgrad", 1, "int"),
])
def test_value_classes(key, value, cls):
    assert value_class(key, value) == cls


@pytest.mark.parametrize("key, value, inside", [
    ("lr", 0.0, True), ("lr", -1e-3, False), ("lr", math.inf, False), ("lr", True, False),
    ("eps", 0.0, True), ("loss_scale", 0.0, False), ("loss_scale", 1e-3, True),
    ("betas", (0.0, 0.999), True), ("betas", (0.9, 1.0), False), ("betas", (math.nan, 0.9), False),
    ("betas", (0.9, 1 - 1e-8), True), ("amsgrad", 1, False), ("use_lazy", False, True),
])
def test_the_spec_s_domain(key, value, inside):
    assert (domain_error(key, value) is None) == inside


def test_without_a_rule_the_spec_decides(tmp_path):
    assert expected("torch", "lr", -1.0, []) == ("rejected", None, None)
    assert expected("torch", "lr", 1.0, []) == ("accepted", ("as spec",), None)
    assert expected("torch", "use_locking", True, []) == ("no counterpart", None, None)
    path = tmp_path / "rules.toml"
    path.write_text(RULE)
    (rule,) = load_rules(path)
    assert expected("mindspore", "eps", 0.0, [rule]) == ("rejected", None, rule)
    assert expected("torch", "eps", 0.0, [rule])[0] == "accepted"


@pytest.mark.parametrize("text, message", [
    ("[[rule]\n", "not valid TOML"),
    (RULE.replace('note = "n"\n', ""), "missing key(s) ['note']"),
    (RULE.replace('"mindspore"', '"jax"'), 'framework: expected one of'),
    (RULE.replace("example = 0.0", "example = 1.0"), 'is of class \'positive\', not "zero"'),
    # Every field is checked for its type before use (each of these was a traceback).
    (RULE.replace('"mindspore"', '["mindspore"]'), 'framework: expected a non-empty string, got ["mindspore"]'),
    (RULE.replace('key = "eps"', "key = {}"), "key: expected a non-empty string"),
    (RULE.replace('class = "zero"', "class = 0"), "class: expected a non-empty string"),
    (RULE.replace('outcome = "rejected"', 'outcome = "maybe"'), "outcome: expected one of"),
    (RULE + 'result = [1]\n', "result[0]: expected a non-empty string"),
    (RULE + 'result = "fine"\n', "result[0]: expected one of"),
    ("rule = 3\n", "rule: expected a list"),
    ("[[rule]]\n[[rule]]\n", "missing key(s)"),
])
def test_malformed_rules_are_one_line_errors(tmp_path, text, message):
    path = tmp_path / "rules.toml"
    path.write_text(text)
    with pytest.raises(RulesError) as info:
        load_rules(path)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_the_committed_rules_load():
    rules = load_rules()
    assert {r.framework for r in rules} == {"torch", "mindspore"}
    assert len({(r.framework, r.key, r.value_class) for r in rules}) == len(rules)  # no shadowed rule
