"""Hyperparameter validation: which values torch.optim.Adam and mindspore.nn.Adam accept,
reject, or silently accept with surprising results, against the spec's domain
(reference/domain.py).

Generated values of every row's hyperparameter (negative, zero, NaN, +-Inf, wrong types,
betas at 0 and 1 and values that round to 1.0 in float32, ...) go to both constructors
and two steps. A framework must accept a value inside the domain with the spec's result
and reject a value outside it, unless a rule in cases/hyperparameter_acceptance.toml says
otherwise (harness/acceptance.py); every rule's example must keep its outcome.
"""

import pytest
from hypothesis import given, settings

from harness.pytest_plugin import scaled
from harness.strategies import hyperparameter_probes
from harness.acceptance import FRAMEWORKS, expected, keep_outcome, load_rules, probe, value_class
from reference.domain import domain_error

RULES = load_rules()


@settings(max_examples=scaled(100))
@given(key_value=hyperparameter_probes())
def test_acceptance_is_the_spec_s_or_a_rule(key_value):
    key, value = key_value
    problems = []
    for framework in FRAMEWORKS:
        kind, result, rule = expected(framework, key, value, RULES)
        outcome = probe(framework, key, value)
        keep_outcome(framework, key, value, outcome, rule)
        if not outcome.matches(kind, result):
            why = f"rule: {rule.note}" if rule else f"the spec: {domain_error(key, value) or 'inside the domain'}"
            problems.append(f"{framework} {key}={value!r} (class {value_class(key, value)!r}): {outcome}; "
                            f"expected {kind}{', ' + ' or '.join(result) if result else ''} ({why})")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("rule", RULES, ids=[f"{r.framework}-{r.key}-{r.value_class}" for r in RULES])
def test_rule_still_holds(rule):
    outcome = probe(rule.framework, rule.key, rule.example)
    keep_outcome(rule.framework, rule.key, rule.example, outcome, rule)
    assert outcome.matches(rule.outcome, rule.result), (
        f"{rule.framework} {rule.key}={rule.example!r}: now {outcome}, the rule says {rule.outcome}"
        f"{', ' + ' or '.join(rule.result) if rule.result else ''}; update cases/hyperparameter_acceptance.toml "
        f"({rule.note})")
