"""The MindSpore wing's reproducer scripts (harness/reproducer_script.py): the templates
of mindspore.nn.Adam's forms and of mindspore.mint.optim.Adam, the code pieces that make
each form, and the data a script reads (the constructor arguments, from the wing's
translation, translate.py, so a script calls the optimizer exactly as the harness does;
nn.Adam's gradients loss-scaled as the adapter passes them). Each implementation's record
names its template here (harness/catalogue.py `reproducer`). Pure text and data: no
MindSpore import.
"""

from __future__ import annotations

from harness.adapters.mindspore import translate
from harness.casefile import Case
from harness.reproducer_script import Template

# Shared by the nn.Adam and mint scripts: MindSpore tensors in the case dtype, and one
# element read back as a Python float (bfloat16 through float32, which numpy can read).
_HELPERS = '''def tensor(numbers, shape):
    return Tensor(values(numbers).reshape(shape), dtype=MS_DTYPE)


def element(source, index):
    if source.dtype == ms.bfloat16:
        source = source.astype(ms.float32)
    return float(source.asnumpy().reshape(-1)[index])
'''

# mindspore.nn.Adam and its forms. Pieces: $mode (the execution mode), $learning_rate
# (how a per-step lr is passed), $target, $step (dense tuple or RowTensors in a cell).
_NN_ADAM = '''
import mindspore as ms
from mindspore import Parameter, Tensor, nn

ms.set_context(mode=ms.$mode)
ms.set_device("CPU")
MS_DTYPE = {"float16": ms.float16, "bfloat16": ms.bfloat16, "float32": ms.float32, "float64": ms.float64}[DTYPE]
KWARGS = CASE["kwargs"]  # nn.Adam's keyword arguments, as the harness passes them
GROUPS = CASE["groups"]  # parameter groups (names) with their own lr / weight_decay; None: a flat list
MOMENTS = {"exp_avg": "moment1", "exp_avg_sq": "moment2", "max_exp_avg_sq": "vhat"}
$learning_rate

''' + _HELPERS + '''
$step_cell
def run():
    parameters = {n: Parameter(tensor(v, s), name=n) for n, (s, v) in PARAMS.items()}
    if GROUPS is None:
        params = list(parameters.values())
    else:
        params = [dict(g, params=[parameters[n] for n in g["params"]]) for g in GROUPS]
    optimizer = nn.Adam(params, **KWARGS)
$target    # nn.Adam orders its parameters, moments and the gradients it takes group by group
    order = [p.name for p in optimizer.parameters]
$make_step    quantity, name, index, _ = WATCH
    seen = []
    for t in range(STEPS):
        grads = dict(zip(PARAMS, GRADS[t]))
$call_step        if quantity == "param":
            source = parameters[name]
        else:
            source = getattr(optimizer, MOMENTS[quantity])[order.index(name)]
        seen.append(element(source, index))
    return seen
'''

_NN_ADAM_PIECES = {
    "mode": "PYNATIVE_MODE",
    "learning_rate": "",
    "target": "",
    "step_cell": "",
    "make_step": "",
    "call_step": '''\
        optimizer(tuple(tensor(grads[n], parameters[n].shape) for n in order))
''',
}
_NN_ADAM_ROW_SPARSE = {
    "step_cell": '''
from mindspore.common.sparse_tensor import RowTensorInner  # noqa: E402


class RowSparseStep(nn.Cell):
    """Calls the optimizer with RowTensor gradients built inside the cell: a RowTensor cannot
    be passed in from Python, it exists inside a graph (where a sparse gather's backward makes one)."""

    def __init__(self, optimizer, shapes):
        super().__init__(auto_prefix=False)  # the parameters keep their names
        self.optimizer = optimizer
        self.shapes = shapes

    def construct(self, *rows_and_values):
        grads = ()
        for i in range(len(self.shapes)):
            grads = grads + (RowTensorInner(rows_and_values[2 * i], rows_and_values[2 * i + 1], self.shapes[i]),)
        return self.optimizer(grads)

''',
    "make_step": '''\
    step = RowSparseStep(optimizer, tuple(tuple(p.shape) for p in optimizer.parameters))
''',
    "call_step": '''\
        pieces = []
        for n in order:  # rows (a row listed twice carries two pieces that sum to its gradient), values
            rows, numbers = grads[n]
            shape = parameters[n].shape
            pieces += [Tensor(np.array(rows, dtype=np.int32)), tensor(numbers, (len(rows),) + tuple(shape[1:]))]
        step(*pieces)
''',
}
_NN_ADAM_TARGET_CPU = '''\
    optimizer.target = "CPU"  # the host Fused sparse kernels for row-sparse gradients
'''
_NN_ADAM_LR_TENSOR = '''
if isinstance(KWARGS["learning_rate"], list):  # a per-step lr as a 1-d float32 Tensor
    KWARGS["learning_rate"] = Tensor(np.array(KWARGS["learning_rate"], dtype=np.float32))
'''
_NN_ADAM_LR_SCHEDULE = '''

class TableSchedule(nn.learning_rate_schedule.LearningRateSchedule):
    """The per-step lr from a table; past its end the last value."""

    def __init__(self, table):
        super().__init__()
        self.table = Tensor(np.array(table, dtype=np.float32))
        self.last = len(table) - 1

    def construct(self, global_step):
        return ms.ops.gather(self.table, ms.ops.minimum(global_step, self.last), 0)


if isinstance(KWARGS["learning_rate"], list):  # a per-step lr as a LearningRateSchedule cell
    KWARGS["learning_rate"] = TableSchedule(KWARGS["learning_rate"])
'''

# mindspore.mint.optim.Adam. Pieces: $mode.
_MINT = '''
import mindspore as ms
from mindspore import Parameter, Tensor, mint

$mode
ms.set_device("CPU")
MS_DTYPE = {"float16": ms.float16, "bfloat16": ms.bfloat16, "float32": ms.float32, "float64": ms.float64}[DTYPE]
KWARGS = CASE["kwargs"]  # mint.optim.Adam's keyword arguments, as the harness passes them
if "betas" in KWARGS:
    KWARGS["betas"] = tuple(KWARGS["betas"])
GROUPS = CASE["groups"]  # parameter groups (names) with their own lr / weight_decay; None: a flat list


''' + _HELPERS + '''

def run():
    parameters = {n: Parameter(tensor(v, s), name=n) for n, (s, v) in PARAMS.items()}
    if GROUPS is None:
        params = list(parameters.values())
    else:
        params = [dict(g, params=[parameters[n] for n in g["params"]]) for g in GROUPS]
    optimizer = mint.optim.Adam(params, **KWARGS)
    order = [p.name for p in optimizer.parameters]  # group by group: the order it takes gradients in
    quantity, name, index, _ = WATCH
    seen = []
    for t in range(STEPS):
        grads = dict(zip(PARAMS, GRADS[t]))
        optimizer(tuple(tensor(grads[n], parameters[n].shape) for n in order))
        source = parameters[name] if quantity == "param" else getattr(optimizer, quantity)[order.index(name)]
        seen.append(element(source, index))
    return seen
'''
_MINT_PYNATIVE = "# PyNative: MindSpore's default mode, as mint's users call it (no mode is set)"
_MINT_GRAPH = "ms.set_context(mode=ms.GRAPH_MODE)"

# The AdamW classes: nn.AdamWeightDecay, experimental.optim.AdamW, mint.optim.AdamW, in
# PyNative as their users call them. Pieces: $imports, $optimizer (the class), $moments
# (where each moment lives on the optimizer).
_ADAMW = '''
import mindspore as ms
from mindspore import Parameter, Tensor
$imports

# PyNative: MindSpore's default mode (no mode is set)
ms.set_device("CPU")
MS_DTYPE = {"float16": ms.float16, "bfloat16": ms.bfloat16, "float32": ms.float32, "float64": ms.float64}[DTYPE]
KWARGS = CASE["kwargs"]  # the optimizer's keyword arguments, as the harness passes them
if "betas" in KWARGS:
    KWARGS["betas"] = tuple(KWARGS["betas"])
GROUPS = CASE["groups"]  # parameter groups (names) with their own lr / weight_decay; None: a flat list
MOMENTS = $moments


''' + _HELPERS + '''

def run():
    parameters = {n: Parameter(tensor(v, s), name=n) for n, (s, v) in PARAMS.items()}
    if GROUPS is None:
        params = list(parameters.values())
    else:
        params = [dict(g, params=[parameters[n] for n in g["params"]]) for g in GROUPS]
    optimizer = $optimizer(params, **KWARGS)
    order = [p.name for p in optimizer.parameters]  # group by group: the order it takes gradients in
    quantity, name, index, _ = WATCH
    seen = []
    for t in range(STEPS):
        grads = dict(zip(PARAMS, GRADS[t]))
        optimizer(tuple(tensor(grads[n], parameters[n].shape) for n in order))
        if quantity == "param":
            source = parameters[name]
        else:
            source = getattr(optimizer, MOMENTS[quantity])[order.index(name)]
        seen.append(element(source, index))
    return seen
'''
_TORCH_STYLE_MOMENTS = '{"exp_avg": "exp_avg", "exp_avg_sq": "exp_avg_sq", "max_exp_avg_sq": "max_exp_avg_sq"}'

# --------------------------------------------------------------------------- the data a script reads


def arguments(case: Case, implementation: str) -> dict:
    """The JSON-ready data of a MindSpore script: the constructor's keyword arguments as
    the translation gives them (nn.Adam's per-step lr as a list: the lr-tensor and
    lr-schedule templates make a Tensor or a cell of it; tuples as lists) and the groups
    (None: a flat parameter list)."""
    kwargs = translate.constructor_arguments(case, implementation)
    return {"kwargs": {k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()},
            "groups": translate.group_arguments(case, implementation) or None}


def _nn_adam(**pieces: str) -> Template:
    return Template(_NN_ADAM, dict(_NN_ADAM_PIECES, **pieces), arguments, sparse=_NN_ADAM_ROW_SPARSE,
                    gradient=translate.scaled_gradient)


# The templates, each named by its implementation's record.
NN_ADAM = _nn_adam()
NN_ADAM_GRAPH = _nn_adam(mode="GRAPH_MODE")
NN_ADAM_TARGET_CPU = _nn_adam(mode="GRAPH_MODE", target=_NN_ADAM_TARGET_CPU)
NN_ADAM_LR_TENSOR = _nn_adam(learning_rate=_NN_ADAM_LR_TENSOR)
NN_ADAM_LR_SCHEDULE = _nn_adam(learning_rate=_NN_ADAM_LR_SCHEDULE)
MINT = Template(_MINT, {"mode": _MINT_PYNATIVE}, arguments)
MINT_GRAPH = Template(_MINT, {"mode": _MINT_GRAPH}, arguments)
NN_ADAM_WEIGHT_DECAY = Template(_ADAMW, {"imports": "from mindspore import nn", "optimizer": "nn.AdamWeightDecay",
                                          "moments": '{"exp_avg": "moments1", "exp_avg_sq": "moments2"}'}, arguments)
EXPERIMENTAL_ADAMW = Template(_ADAMW, {"imports": "from mindspore.experimental import optim",
                                       "optimizer": "optim.AdamW", "moments": _TORCH_STYLE_MOMENTS}, arguments)
MINT_ADAMW = Template(_ADAMW, {"imports": "from mindspore import mint", "optimizer": "mint.optim.AdamW",
                               "moments": _TORCH_STYLE_MOMENTS}, arguments)
