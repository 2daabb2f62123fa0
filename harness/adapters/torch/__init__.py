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

import os


def setup() -> None:
    """torch's runtime setup before its first use in a process: its own defaults (CPU
    tensors, one thread per core) when this harness runs alone, as a user's script runs.
    Under pytest-xdist the cores are shared by PYTEST_XDIST_WORKER_COUNT harness
    processes, each with its own torch worker: torch gets its share of the cores (at least
    one thread), since a 1e5-element step on 2 threads of a loaded 2-core machine was
    measured 50-150x slower than on one (issue 20). The thread count changes no value:
    Adam's kernels are elementwise, each element computed alike in whichever thread."""
    sharing = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    if sharing > 1:
        import torch  # the wing's framework, imported by the worker that runs it anyway

        torch.set_num_threads(max(1, (os.cpu_count() or 1) // sharing))
