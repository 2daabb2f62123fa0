"""Implementation adapters by name. Framework modules import lazily, so the harness
(and `--impl reference`) works even where a framework is missing or broken."""

from __future__ import annotations

import importlib

# name -> (module, class)
IMPLEMENTATIONS: dict[str, tuple[str, str]] = {
    "reference": ("harness.adapters.reference", "ReferenceAdapter"),
    "torch": ("harness.adapters.torch_adam", "TorchAdapter"),
    "torch-sparse": ("harness.adapters.torch_sparse_adam", "TorchSparseAdapter"),
    "mindspore": ("harness.adapters.mindspore_adam", "MindSporeAdapter"),
    "mindspore-graph": ("harness.adapters.mindspore_adam", "MindSporeGraphAdapter"),
    "mindspore-target-cpu": ("harness.adapters.mindspore_adam", "MindSporeTargetCpuAdapter"),
    "mindspore-mint": ("harness.adapters.mindspore_mint_adam", "MindSporeMintAdapter"),
}
DEFAULT_IMPLEMENTATIONS = ("reference", "torch", "mindspore")


def load_adapter(name: str):
    module, cls = IMPLEMENTATIONS[name]
    return getattr(importlib.import_module(module), cls)
