"""pytest plugin (entry point `pytest11`, also loaded by the repository's conftest.py).

Hypothesis profiles for the conformance suite:

    ci        derandomized (same examples every run); the default.
    dev       random, with the failure database in .hypothesis/ (git-ignored).
    thorough  dev with 10x the examples of ci.

Select with `pytest --hypothesis-profile=NAME` (Hypothesis's own option).

`--parity-report DIR` collects every case the conformance suite checks (each example
of every test under `<rootdir>/cases/` and every registry reproducer) and, at the end of the
session, writes DIR/results.json (schema optim-parity/results/1), DIR/parity.html and
the case files they name. `--shard I/N` keeps shard I of N of the collected tests
(harness/shard.py); `optim-parity merge` joins the shards' results. Under pytest-xdist (`-n auto`) every worker appends its
cases to its own file DIR/.parts/<worker>.jsonl; the controller joins them into one
report when all workers are done and removes the parts.

Every session starts with Hypothesis' local-constant mining off (harness/hypothesis_setup.py
disable_local_constants), so that a derandomized profile draws the same cases whatever
else the session loaded.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings

from harness.collect import CaseCollector, activate, active, read_parts
from harness.hypothesis_setup import disable_local_constants
from harness.shard import ShardError, in_shard, parse_shard

CI_EXAMPLES = 150
_COMMON = dict(
    deadline=None,  # MindSpore compiles a graph per optimizer: first steps are slow by design
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    print_blob=True,
    # No "explain" phase: it points at lines of the spec (reference/adam.py) that the
    # failing example ran, as if the spec were the suspect; the failure message already
    # says which implementation diverged where (harness/conformance.py).
    phases=[phase for phase in Phase if phase != Phase.explain],
)
settings.register_profile("ci", max_examples=CI_EXAMPLES, derandomize=True, database=None, **_COMMON)
settings.register_profile("dev", max_examples=2 * CI_EXAMPLES, **_COMMON)
settings.register_profile("thorough", max_examples=10 * CI_EXAMPLES, **_COMMON)

PARTS = ".parts"


def scaled(ci_examples: int) -> int:
    """Examples for a test that runs `ci_examples` under ci, scaled with the active profile."""
    return max(1, round(ci_examples * settings.default.max_examples / CI_EXAMPLES))


def pytest_addoption(parser) -> None:
    group = parser.getgroup("optim-parity")
    group.addoption("--parity-report", metavar="DIR", default=None,
                    help="write DIR/results.json and DIR/parity.html for the cases this session checks")
    group.addoption("--shard", metavar="I/N", default=None,
                    help="run only shard I of N of the collected tests (deterministic, by node id; "
                         "merge the shards' results with `optim-parity merge`)")


def _is_worker(config) -> bool:
    return hasattr(config, "workerinput")


def pytest_configure(config) -> None:
    disable_local_constants()  # before any test draws
    if not config.getoption("hypothesis_profile", default=None):
        settings.load_profile("ci")
    shard = config.getoption("shard", default=None)
    if shard:
        try:
            config._optim_parity_shard = parse_shard(shard)
        except ShardError as exc:
            raise pytest.UsageError(str(exc)) from None
    directory = config.getoption("parity_report", default=None)
    if not directory:
        return
    parts = Path(directory) / PARTS
    if _is_worker(config):
        name = config.workerinput["workerid"]
    else:
        shutil.rmtree(parts, ignore_errors=True)  # the controller starts before any worker
        name = "main"
    activate(CaseCollector(parts / f"{name}.jsonl"))


def pytest_collection_modifyitems(config, items) -> None:
    shard = getattr(config, "_optim_parity_shard", None)
    if shard is None:
        return
    # By node id: a Hypothesis test is one item (its derandomized examples stay
    # together), a parametrized test one item per parameter.
    selected = [item for item in items if in_shard(item.nodeid, shard)]
    deselected = [item for item in items if not in_shard(item.nodeid, shard)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


def pytest_runtest_setup(item) -> None:
    collector = active()
    if collector is not None:
        # Only the conformance suite's cases are data: the harness's own tests (tests/)
        # check deliberately broken registries and made-up cases.
        in_suite = item.path.is_relative_to(item.config.rootpath / "cases")
        collector.current_test = item.nodeid if in_suite else None


def pytest_sessionfinish(session, exitstatus) -> None:
    config = session.config
    directory = config.getoption("parity_report", default=None)
    if not directory or _is_worker(config):
        return
    # deferred: the report writer and what it imports (about 0.2 s, the whole harness) are
    # needed only by a session with --parity-report, and the plugin is loaded by every one
    from harness.conformance import default_registry
    from harness.report import print_summary, write_report
    from harness.results import results_document

    terminal = config.pluginmanager.get_plugin("terminalreporter")
    write = (lambda line: terminal.write_line(line)) if terminal else print
    out_dir = Path(directory)
    entries = read_parts(out_dir / PARTS)
    if not entries:
        write(f"optim-parity: no conformance cases were checked; {out_dir} left as it was")
        return
    registry = list(default_registry())
    profile = config.getoption("hypothesis_profile", default=None) or "ci"
    seed = config.getoption("hypothesis_seed", default=None)
    # A shard says so, so that `optim-parity merge` can check the shards make a whole run.
    document, to_save = results_document(entries, registry, source="pytest", profile=profile,
                                         seed=None if seed is None else int(seed),
                                         shard=getattr(config, "_optim_parity_shard", None))
    write_report(out_dir, document, to_save, registry)
    shutil.rmtree(out_dir / PARTS, ignore_errors=True)
    write("")
    print_summary(document, out_dir, write)
