"""The registry is strict: every known divergence must still reproduce.

For each entry of cases/known_divergences.toml its reproducer is replayed through
the entry's implementation; the implementation must still leave tolerance, with the
violation attributed to the entry's row and classified as this entry. When a
framework fixes the behaviour upstream, this test fails and names the entry to
retire. Strict both ways for an entry with `versions`: outside its range (another
installed framework version) the entry is not applied and its reproducer must conform
like any other case; diverging there means the range is wrong.
"""

import pytest

from harness.conformance import default_registry, entry_still_reproduces

ENTRIES = default_registry()


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_reproducer_still_diverges(entry):
    problem = entry_still_reproduces(entry)
    assert problem is None, problem


def test_registry_is_not_empty():
    assert ENTRIES, "cases/known_divergences.toml has no entries"
