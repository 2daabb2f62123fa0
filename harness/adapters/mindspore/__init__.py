"""The MindSpore wing: everything the harness knows about mindspore.nn.Adam and
mindspore.mint.optim.Adam on the CPU backend.

    setup()         (here) MindSpore's runtime settings, before its first use in a process
    translate.py    the one translation of a case into nn.Adam's and mint.optim.Adam's
                    constructor arguments (learning_rate, beta1/beta2, eps, weight decay,
                    loss scale, the MindSpore-only options) and into the gradients nn.Adam
                    takes (loss-scaled), pure Python: used by the adapters, the bare loops,
                    the reproducer templates and harness/acceptance.py's probes
    runtime.py      what every adapter shares: tensors in and out, the execution mode,
                    and one history() / snapshot() of the optimizer state (MindSporeState)
    nn_adam.py      nn.Adam: PyNative, GRAPH_MODE, target='CPU', a Tensor lr, a
                    LearningRateSchedule lr; RowSparseStep (RowTensor gradients)
    mint_adam.py    mint.optim.Adam: PyNative (as its users call it) and GRAPH_MODE
    bare.py         the bench's bare loops and the hyperparameter probe's plain calls
    reproducer.py   the reproducer scripts' templates (text and the data they read)

Which implementation is which form is the catalogue's record (harness/catalogue.py).
Only runtime.py, nn_adam.py and mint_adam.py import MindSpore at their top (workers load
them, after setup()); setup() and bare.py import it inside the functions that run it;
this package, translate.py and reproducer.py never do.
"""

from __future__ import annotations

import os

_done = False


def setup() -> None:
    """MindSpore's runtime settings, made once per process before its first use (by
    harness.adapters.setup: loading an adapter, the bench's bare loops, the hyperparameter
    probes), never as an import side effect:

    - GLOG_v=4: MindSpore logs deprecations (WARNING) and failed graph compiles (ERROR,
      with a traceback wall) through glog; the harness reports those errors itself. Read
      when MindSpore is imported, so set before.
    - MS_DEV_HOST_BLOCKING_RUN=1: PyNative ops dispatched by the calling thread, not handed
      to MindSpore's frontend_queue thread: that thread and the caller's wait on it both
      spin, so every PyNative step kept 1.75 cores busy for the 1.0 it needs (measured,
      2.10 on CPU: 3000 steps of one 12-element parameter, 166 us a step with cpu/wall
      1.75; single-threaded 148 us with cpu/wall 1.00). A sweep runs one worker per
      framework on every core, so the spinning halved what the other processes got. The
      same kernels run either way (tests/test_mindspore_adapters.py: bit-identical
      trajectories); read when the first op is dispatched. MS_DEV_HOST_BLOCKING_RUN=0 in
      the environment keeps the default (as GLOG_v set there keeps its value).
    - PyNative mode (MindSpore's default, set explicitly) on the CPU device.
    """
    global _done
    if _done:
        return
    os.environ.setdefault("GLOG_v", "4")
    os.environ.setdefault("MS_DEV_HOST_BLOCKING_RUN", "1")
    import mindspore as ms  # deferred: only a process that runs MindSpore imports it

    ms.set_context(mode=ms.PYNATIVE_MODE)
    try:
        ms.set_device("CPU")
    except RuntimeError:
        # MindSpore already ran in this process before its first setup() (set_device may
        # only come before that): its runtime started on the CPU, the only device the
        # harness targets.
        pass
    _done = True
