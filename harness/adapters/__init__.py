"""Implementation adapters, one wing per framework, loaded by name from the catalogue
(harness/catalogue.py: one record per implementation, naming its wing's module and class).

    reference.py   the numpy spec (its adapter and the bench's bare loop)
    torch/         torch.optim: Adam and its forms, AdamW, SparseAdam
    mindspore/     mindspore.nn.Adam and its forms, mindspore.mint.optim.Adam, the AdamW
                   classes (nn.AdamWeightDecay, experimental.optim.AdamW, mint.optim.AdamW)
    optax/         optax.adam, optax.adamw, optax.amsgrad (jitted; jax_enable_x64 off and on)
    keras/         keras.optimizers.Adam and AdamW on the jax backend
    paddle/        paddle.optimizer.Adam and AdamW (dygraph; lazy_mode with SelectedRows)

A wing holds everything its framework needs: `setup()` (the framework's runtime settings,
an explicit call made here before the framework's first use in a process, never an import
side effect), `translate.py` (the one translation of a case into the framework's
constructor and step arguments, pure Python: also used by the bench's bare loops, the
reproducer templates and harness/acceptance.py's probes), its adapters, `bare.py` (the
bench's bare loops) and `reproducer.py` (the reproducer scripts' templates). Nothing
outside a wing imports a framework or a wing's private names.

Which modules import their framework: only the adapter modules (at their top) and the
functions of bare.py that run it (deferred, inside them). The harness process imports a
framework only when it runs one (in-process recording, the hyperparameter probes); the
per-framework workers (harness/isolation.py) do, so frameworks meet only in separate
processes. Importing this package, a wing's `__init__`, translate.py, bare.py or
reproducer.py imports no framework, so the harness (and `--impl reference`) works even
where a framework is missing or broken.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType
from typing import Any

from harness.catalogue import WINGS, lookup


def setup(framework: str) -> None:
    """The framework's runtime setup, before it first runs in this process (its wing's
    setup(); idempotent). A framework without a wing (the reference, test-only
    implementations) needs none."""
    package = WINGS.get(framework)
    if package is not None:
        importlib.import_module(package).setup()


def wing(framework: str, module: str) -> ModuleType:
    """A module of the framework's wing, e.g. wing("mindspore", "translate")."""
    return importlib.import_module(f"{WINGS[framework]}.{module}")


def translation(framework: str) -> ModuleType:
    """The framework's translate.py: keyword_arguments(key, value), constructor_arguments(case,
    implementation), group_arguments(case, implementation). Imports no framework."""
    return wing(framework, "translate")


def resolve(target: str) -> Any:
    """What a catalogue record's "module:name" names (its adapter, bare loop, reproducer)."""
    module, _, name = target.rpartition(":")
    return getattr(importlib.import_module(module), name)


def load_adapter(name: str):
    """The adapter class of an implementation, its framework set up first."""
    record = lookup(name)
    module, _, cls = record.adapter.rpartition(":")
    if module.endswith(".py"):  # a file path (extra implementations, harness/catalogue.py EXTRA_ENV)
        spec = importlib.util.spec_from_file_location(f"optim_parity_extra_{name.replace('-', '_')}", module)
        loaded = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(loaded)
        return getattr(loaded, cls)
    setup(record.framework)
    return getattr(importlib.import_module(module), cls)
