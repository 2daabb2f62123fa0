"""Implementation adapters, loaded by name from the catalogue (harness/catalogue.py).
Framework modules import lazily, so the harness (and `--impl reference`) works even where
a framework is missing or broken."""

from __future__ import annotations

import importlib
import importlib.util

from harness.catalogue import lookup


def load_adapter(name: str):
    module, _, cls = lookup(name).adapter.rpartition(":")
    if module.endswith(".py"):  # a file path (extra implementations, harness/catalogue.py EXTRA_ENV)
        spec = importlib.util.spec_from_file_location(f"optim_parity_extra_{name.replace('-', '_')}", module)
        loaded = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(loaded)
        return getattr(loaded, cls)
    return getattr(importlib.import_module(module), cls)
