"""The bare process of `optim-parity bench --sizes` (harness/bench_sizes.py): what a
user's script costs, whole. A fresh interpreter runs `main(exchange)`, which imports
only what the bare loop needs (the catalogue and the wing's loading, not the harness's
engine), runs the framework's setup and its bare loop once on the case: interpreter
start, imports and the first step's lazy initialisation are in its wall time, as in a
user's script (torch's first Adam step in a process takes about a second)."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

from harness.adapters import resolve, setup
from harness.catalogue import IMPLEMENTATIONS, framework_of


def main(exchange: str) -> None:
    """The bare loop of the implementation once on the case, both pickled at `exchange`."""
    name, case = pickle.loads(Path(exchange).read_bytes())
    setup(framework_of(name))
    resolve(IMPLEMENTATIONS[name].bare_loop)(case, name)


if __name__ == "__main__":
    main(sys.argv[1])
