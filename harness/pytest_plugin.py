"""pytest plugin: Hypothesis profiles for the conformance suite.

    ci        derandomized (same examples every run), sized so `pytest cases/` takes
              about 10 minutes on 2 cores; the default.
    dev       random, with the failure database in .hypothesis/ (git-ignored).
    thorough  dev with 10x the examples of ci.

Select with `pytest --hypothesis-profile=dev` (Hypothesis's own option).
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

CI_EXAMPLES = 150
_COMMON = dict(
    deadline=None,  # MindSpore compiles a graph per optimizer: first steps are slow by design
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    print_blob=True,
)
settings.register_profile("ci", max_examples=CI_EXAMPLES, derandomize=True, database=None, **_COMMON)
settings.register_profile("dev", max_examples=2 * CI_EXAMPLES, **_COMMON)
settings.register_profile("thorough", max_examples=10 * CI_EXAMPLES, **_COMMON)


def scaled(ci_examples: int) -> int:
    """Examples for a test that runs `ci_examples` under ci, scaled with the active profile."""
    return max(1, round(ci_examples * settings.default.max_examples / CI_EXAMPLES))


def pytest_configure(config) -> None:
    if not config.getoption("hypothesis_profile", default=None):
        settings.load_profile("ci")
