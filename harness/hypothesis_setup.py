"""Hypothesis set up for the harness's draws: one explicit call, made by whoever draws
cases before the first draw (harness/pytest_plugin.py when a pytest session starts,
harness/sweep.py draw_cases for `optim-parity report` and the bench). Importing this
module changes nothing.
"""

from __future__ import annotations

from hypothesis.internal.conjecture import providers


def disable_local_constants() -> None:
    """Make derandomized generation depend on the strategies alone (harness/strategies.py).

    Hypothesis mixes numbers it finds in the source of every *local* module loaded so far
    (sys.modules outside site-packages: the harness, the test modules) into what it
    draws, with probability 0.05 per draw. Which modules are loaded depends on the
    session (cases/ alone or with tests/, the xdist worker's earlier tests), so the `ci`
    profile drew different cases in different sessions (measured: 52 of 132 test_lr
    cases in common), and `optim-parity compare` needs the same cases on both sides.
    Hypothesis (6.170) has no setting for it: its hook, a private function, is replaced by
    one returning the empty set it starts from. Idempotent. (This used to happen as a side
    effect of importing harness/strategies.py.)
    """
    if not hasattr(providers, "_get_local_constants"):  # a Hypothesis upgrade moved it: say so, loudly
        raise ImportError("hypothesis.internal.conjecture.providers._get_local_constants is gone; "
                          "harness/hypothesis_setup.py must disable local-constant mining another way")
    empty = providers._local_constants
    providers._get_local_constants = lambda: empty
