"""A test-only implementation that is mid-step when its caller is signalled (never used in
cases/): for tests/test_interrupts.py.

Registered through OPTIM_PARITY_EXTRA_IMPLEMENTATIONS (harness/catalogue.py), so it runs
in its own isolated worker (framework `sleep`). At step 1 of every case it appends its
process id to the file named by $OPTIM_PARITY_TEST_PID_FILE (the test's handle on the
worker); at step 2 it sleeps for an hour.
"""

import os
import time
from typing import ClassVar

from harness.adapters.reference import ReferenceAdapter

PID_FILE_ENV = "OPTIM_PARITY_TEST_PID_FILE"


class SleepAdapter(ReferenceAdapter):
    name: ClassVar[str] = "sleep-step"
    framework: ClassVar[str] = "sleep"
    description: ClassVar[str] = "appends its pid to $OPTIM_PARITY_TEST_PID_FILE at step 1, sleeps at step 2"

    def step(self, grads):
        super().step(grads)
        if self.states[0].step == 1:
            line = f"{os.getpid()}\n".encode()
            descriptor = os.open(os.environ[PID_FILE_ENV], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
            try:
                os.write(descriptor, line)  # one write: a reader sees a whole line or none
            finally:
                os.close(descriptor)
        elif self.states[0].step == 2:
            time.sleep(3600)
