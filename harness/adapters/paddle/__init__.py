"""The PaddlePaddle wing: everything the harness knows about paddle.optimizer.Adam and
AdamW on the CPU (paddle 3.3, dygraph).

    setup()         (here) paddle's runtime settings, before its first use in a process
    translate.py    the one translation of a case into Adam's / AdamW's constructor
                    arguments (learning_rate, beta1/beta2, epsilon, weight decay, amsgrad,
                    lazy_mode; parameter groups with their learning_rate *ratio*; a per-step
                    lr as a LambdaDecay scheduler; what paddle has no counterpart for),
                    pure Python: used by the adapter, the bare loops and the reproducer
                    templates
    adam.py         PaddleAdapter (Adam / AdamW as the record names them, dense gradients
                    from loss.backward(), row-sparse ones as SelectedRows from
                    paddle.nn.functional.embedding(..., sparse=True))
    bare.py         the bench's bare loops
    reproducer.py   the reproducer scripts' template (text and the data it reads)

Only adam.py imports paddle at its top (workers load it, after setup()); setup() and
bare.py import it inside the functions that run it; this package, translate.py and
reproducer.py never do.
"""

from __future__ import annotations

import os
import warnings

_done = False


def setup() -> None:
    """paddle's runtime settings, made once per process before its first use (by
    harness.adapters.setup: loading an adapter, the bench's bare loops), never as an
    import side effect:

    - GLOG_minloglevel=2 (set before paddle is imported, which reads it): paddle's C++
      core logs through glog (INFO/WARNING lines about kernels and places); the harness
      reports errors itself. A value set in the environment is kept.
    - Python warnings quieted: paddle's import warns that ccache is missing (a note for
      building custom C++ operators, irrelevant here), and Adam warns once per optimizer
      that float16/bfloat16 accumulation is inexact (the case says which dtype; the
      harness measures what that does).
    - The CPU device (paddle.set_device("cpu")): a GPU build would otherwise pick its GPU;
      the harness compares the CPU kernels.
    - Dygraph (paddle's default since 2.0; asserted, not switched): the optimizers run
      eagerly, step() after backward(), as its users call them.
    """
    global _done
    if _done:
        return
    os.environ.setdefault("GLOG_minloglevel", "2")
    warnings.filterwarnings("ignore", message="No ccache found")
    warnings.filterwarnings("ignore", message="Accumulating with FP16 or BF16")
    import paddle  # deferred: only a process that runs paddle imports it

    paddle.set_device("cpu")
    if not paddle.in_dynamic_mode():
        raise RuntimeError("paddle is in static-graph mode; the paddle wing runs dygraph (paddle's default)")
    _done = True
