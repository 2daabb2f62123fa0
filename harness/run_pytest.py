"""Run pytest and refuse to count "no tests collected" (exit 5) as anything but a failure.

`make test`, tox and .ci/run go through this so an empty or mis-pointed suite can
never pass silently.
"""

from __future__ import annotations

import sys

import pytest


def main(argv: list[str]) -> int:
    code = int(pytest.main(argv))
    if code == pytest.ExitCode.NO_TESTS_COLLECTED:
        print("run_pytest: pytest collected no tests (exit 5); treating as failure", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
