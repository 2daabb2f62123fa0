"""The status of one implementation on one case: the words every layer shares.

harness/engine.py `judge` gives each implementation result one of these; the registry
(harness/registry.py classify) turns `violation` into `known`; results files, verdicts,
the dtype table, regressions and the command line read them back. A module of constants
with no imports, at the bottom of the layers (see tests/test_layers.py), so that a module
needing a status word does not import the engine for it.
"""

from __future__ import annotations

PASS, VIOLATION, KNOWN, UNSUPPORTED, CRASH = "pass", "violation", "known", "unsupported", "crash"
# The case is outside what the implementation's API can ask for (harness/catalogue.py):
# never compared.
NO_COUNTERPART = "no-counterpart"
# In the order results files, verdict lines and the dtype table list them.
STATUSES = (PASS, KNOWN, VIOLATION, NO_COUNTERPART, UNSUPPORTED, CRASH)
