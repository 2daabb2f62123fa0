"""The registry is strict: every known divergence must still reproduce.

For each entry of cases/known_divergences.toml its reproducer is replayed through
the entry's implementation; the implementation must still leave tolerance, with the
violation attributed to the entry's row and classified as this entry. When a
framework fixes the behaviour upstream, this test fails and names the entry to
retire.
"""

import pytest

from harness.casefile import load_case
from harness.conformance import check_case, default_registry
from harness.engine import KNOWN

ENTRIES = default_registry()


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_reproducer_still_diverges(entry):
    case = load_case(entry.reproducer_path)
    assert entry.predicts(case), f"{entry.id}: its own reproducer does not satisfy its condition {entry.when}"
    (result,) = check_case(case, ["reference", entry.implementation])[1:]
    matched = [v for v in result.violations if v.divergence and entry.id in v.divergence.split(",")]
    assert matched, (
        f"{entry.id}: {entry.implementation} no longer shows this divergence on {entry.reproducer} "
        f"(status {result.status}, rows {result.rows}); if the framework fixed it, retire the entry"
    )
    assert all(entry.row in v.rows for v in matched)
    assert result.status == KNOWN, f"{entry.id}: reproducer also shows unregistered violations: {result.rows}"


def test_registry_is_not_empty():
    assert ENTRIES, "cases/known_divergences.toml has no entries"
