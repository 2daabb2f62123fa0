"""Implementation adapters by name. Framework modules import lazily, so the harness
(and `--impl reference`) works even where a framework is missing or broken."""

from __future__ import annotations

import importlib

# name -> (module, class)
IMPLEMENTATIONS: dict[str, tuple[str, str]] = {
    "reference": ("harness.adapters.reference", "ReferenceAdapter"),
    "torch": ("harness.adapters.torch_adam", "TorchAdapter"),
    "torch-foreach": ("harness.adapters.torch_variants", "TorchForeachAdapter"),
    "torch-fused": ("harness.adapters.torch_variants", "TorchFusedAdapter"),
    "torch-adamw": ("harness.adapters.torch_variants", "TorchAdamWAdapter"),
    "torch-tensor-lr": ("harness.adapters.torch_variants", "TorchTensorLrAdapter"),
    "torch-differentiable": ("harness.adapters.torch_variants", "TorchDifferentiableAdapter"),
    "mindspore": ("harness.adapters.mindspore_adam", "MindSporeAdapter"),
}
DEFAULT_IMPLEMENTATIONS = ("reference", "torch", "mindspore")
# Every torch.optim implementation of Adam (cases/test_torch_implementations.py).
TORCH_IMPLEMENTATIONS = ("torch", "torch-foreach", "torch-fused", "torch-adamw", "torch-tensor-lr",
                         "torch-differentiable")


def load_adapter(name: str):
    module, cls = IMPLEMENTATIONS[name]
    return getattr(importlib.import_module(module), cls)
