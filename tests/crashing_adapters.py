"""Test-only implementations that die (never used in cases/): for tests/test_isolation.py.

Registered through OPTIM_PARITY_EXTRA_IMPLEMENTATIONS (harness/adapters/__init__.py) so
that isolated worker processes can load them by file path.
"""

import os
import time
from typing import ClassVar

from harness.adapters.reference import ReferenceAdapter


class _Dying(ReferenceAdapter):
    framework: ClassVar[str] = "test"

    def step(self, grads):
        super().step(grads)
        if self.states[0].step == 2:
            self.die()


class AbortAdapter(_Dying):
    name: ClassVar[str] = "crash-abort"
    description: ClassVar[str] = "calls os.abort() at step 2"

    def die(self):
        os.abort()


class HangAdapter(_Dying):
    name: ClassVar[str] = "crash-hang"
    description: ClassVar[str] = "sleeps at step 2, past any per-case timeout"

    def die(self):
        time.sleep(3600)
