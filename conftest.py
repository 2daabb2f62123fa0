"""The suite's own guard of the rule that frameworks meet only in separate processes.

torch and MindSpore are imported by some tests in the pytest process (their adapters'
facts), as they always were; the optional frameworks must never be: importing paddle
before MindSpore breaks MindSpore's import, and a pytest-xdist worker runs tests of every
framework one after another. After each test, the test that brought paddle, jax, optax or
Keras into this process fails, naming the module (their facts run in child processes and
their cases in the harness's workers)."""

import sys

import pytest

OPTIONAL_FRAMEWORKS = ("paddle", "jax", "optax", "keras")


@pytest.fixture(autouse=True)
def _no_optional_framework_in_the_test_process():
    already = [name for name in OPTIONAL_FRAMEWORKS if name in sys.modules]
    yield
    if not already:
        imported = [name for name in OPTIONAL_FRAMEWORKS if name in sys.modules]
        assert not imported, (f"this test imported {imported} into the pytest process: run it in a child process "
                              "or through the harness's workers (frameworks meet only in separate processes)")


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    """A test module that imports an optional framework when collected (a module-level
    `import paddle`, `pytest.importorskip("paddle")`) fails to collect, named."""
    before = {name for name in OPTIONAL_FRAMEWORKS if name in sys.modules}
    report = yield
    imported = [name for name in OPTIONAL_FRAMEWORKS if name in sys.modules and name not in before]
    if imported and isinstance(collector, pytest.Module):
        report.outcome, report.result = "failed", []
        report.longrepr = (f"{collector.nodeid} imported {imported} into the pytest process when collected: run it "
                           "in a child process or through the harness's workers (frameworks meet only in separate "
                           "processes)")
    return report
