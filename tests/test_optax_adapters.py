"""The optax wing's measured facts (tests/optax_facts.py), run in a pytest process of
their own: they import jax and step optax in their process, and frameworks meet only in
separate processes (this suite's pytest-xdist workers also import torch and MindSpore)."""

import subprocess
import sys
from pathlib import Path

import pytest

from harness.catalogue import framework_available

ROOT = Path(__file__).resolve().parent.parent
FACTS = Path(__file__).resolve().parent / "optax_facts.py"


def test_optax_facts_in_a_process_of_their_own():
    if not framework_available("optax"):
        pytest.skip("optax is not installed (the optional 'family' extra)")
    # --noconftest: the suite's guard (conftest.py) refuses jax in a pytest process, which
    # is what this child process is for.
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                          "-p", "no:randomly", "--noconftest", str(FACTS)], cwd=ROOT, capture_output=True, text=True,
                         timeout=900)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert " passed" in run.stdout.splitlines()[-1] and " failed" not in run.stdout.splitlines()[-1]
