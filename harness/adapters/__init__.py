"""Implementation adapters by name. Framework modules import lazily, so the harness
(and `--impl reference`) works even where a framework is missing or broken."""

from __future__ import annotations

import importlib
import importlib.util
import os

# name -> (module, class)
IMPLEMENTATIONS: dict[str, tuple[str, str]] = {
    "reference": ("harness.adapters.reference", "ReferenceAdapter"),
    "torch": ("harness.adapters.torch_adam", "TorchAdapter"),
    "torch-foreach": ("harness.adapters.torch_variants", "TorchForeachAdapter"),
    "torch-fused": ("harness.adapters.torch_variants", "TorchFusedAdapter"),
    "torch-adamw": ("harness.adapters.torch_variants", "TorchAdamWAdapter"),
    "torch-tensor-lr": ("harness.adapters.torch_variants", "TorchTensorLrAdapter"),
    "torch-differentiable": ("harness.adapters.torch_variants", "TorchDifferentiableAdapter"),
    "torch-sparse": ("harness.adapters.torch_sparse_adam", "TorchSparseAdapter"),
    "mindspore": ("harness.adapters.mindspore_adam", "MindSporeAdapter"),
    "mindspore-graph": ("harness.adapters.mindspore_adam", "MindSporeGraphAdapter"),
    "mindspore-target-cpu": ("harness.adapters.mindspore_adam", "MindSporeTargetCpuAdapter"),
    "mindspore-mint": ("harness.adapters.mindspore_mint_adam", "MindSporeMintAdapter"),
    "torch-lr-scheduler": ("harness.adapters.torch_variants", "TorchLrSchedulerAdapter"),
    "mindspore-lr-tensor": ("harness.adapters.mindspore_adam", "MindSporeLrTensorAdapter"),
    "mindspore-lr-schedule": ("harness.adapters.mindspore_adam", "MindSporeLrScheduleAdapter"),
}
DEFAULT_IMPLEMENTATIONS = ("reference", "torch", "mindspore")
# Every torch.optim implementation of Adam (cases/test_torch_implementations.py).
TORCH_IMPLEMENTATIONS = ("torch", "torch-foreach", "torch-fused", "torch-adamw", "torch-tensor-lr",
                         "torch-differentiable")

# Extra implementations, for the harness's own tests (never cases/): an environment
# variable so that isolated worker processes see them too, e.g.
#   OPTIM_PARITY_EXTRA_IMPLEMENTATIONS="crash-abort=/abs/tests/crashing_adapters.py:AbortAdapter"
EXTRA_ENV = "OPTIM_PARITY_EXTRA_IMPLEMENTATIONS"


def _extra_implementations() -> dict[str, tuple[str, str]]:
    out = {}
    for item in filter(None, os.environ.get(EXTRA_ENV, "").split(";")):
        name, _, target = item.partition("=")
        module, _, cls = target.rpartition(":")
        out[name.strip()] = (module.strip(), cls.strip())
    return out


IMPLEMENTATIONS.update(_extra_implementations())


def load_adapter(name: str):
    module, cls = IMPLEMENTATIONS[name]
    if module.endswith(".py"):  # a file path (extra implementations)
        spec = importlib.util.spec_from_file_location(f"optim_parity_extra_{name.replace('-', '_')}", module)
        loaded = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(loaded)
        return getattr(loaded, cls)
    return getattr(importlib.import_module(module), cls)
