"""The torch wing: everything the harness knows about torch.optim's Adam.

    translate.py    the one translation of a case into torch.optim's constructor
                    arguments (lr, betas, eps, weight decay, amsgrad, maximize; what torch
                    has no counterpart for), pure Python: used by the adapters, the bare
                    loops, the reproducer templates and harness/acceptance.py's probes
    adam.py         TorchAdapter (torch.optim.Adam / AdamW as the catalogue record names
                    them, with its constructor keywords) and TorchHistory, the fast read
    variants.py     the other forms, declared on TorchAdapter: foreach, fused, AdamW, a
                    Tensor lr, differentiable=True, an LR scheduler
    sparse_adam.py  torch.optim.SparseAdam with sparse COO gradients
    bare.py         the bench's bare loops and the hyperparameter probe's plain calls
    reproducer.py   the reproducer scripts' templates (text and the data they read)

Which implementation is which form is the catalogue's record (harness/catalogue.py:
optimizer, options, adapter, bare_loop, reproducer). Only adam.py, variants.py and
sparse_adam.py import torch at their top (workers load them); bare.py imports it inside
the functions that run it; this package, translate.py and reproducer.py never do.
"""

from __future__ import annotations


def setup() -> None:
    """torch's runtime setup before its first use in a process: none. torch runs with its
    own defaults (CPU tensors, its thread pool); the call is made like every wing's
    (harness.adapters.setup) so that a setting, when one is needed, has its one place here."""
