"""The paddle wing's reproducer scripts (harness/reproducer_script.py): the template of
paddle.optimizer.Adam / AdamW, the code pieces of its dense and row-sparse (SelectedRows)
forms, and the data its script reads (the constructor arguments, from the wing's
translation, translate.py, so a script calls the optimizer exactly as the harness does).
Each implementation's record names its template here (harness/catalogue.py
`reproducer`). Pure text and data: no paddle import.
"""

from __future__ import annotations

from harness.adapters.paddle import translate
from harness.casefile import Case
from harness.reproducer_script import Template

# Pieces: $optimizer (the class), $parameter (how a parameter is made), $term (a loss
# term whose gradient is the case's: dense, or an embedding lookup for SelectedRows).
_PADDLE = '''
import warnings

warnings.filterwarnings("ignore", message="No ccache found")
import paddle

paddle.set_device("cpu")
KWARGS = CASE["kwargs"]  # paddle.optimizer.$optimizer's keyword arguments, as the harness passes them
GROUPS = CASE["groups"]  # [] or parameter groups (names); a group's learning_rate is a ratio of KWARGS's
LR_PER_STEP = CASE["lr_per_step"]  # None, or a per-step lr: a LambdaDecay scheduler returns it


def tensor(numbers, shape):
    t = paddle.to_tensor(values(numbers).reshape(shape))
    return t.astype("bfloat16") if DTYPE == "bfloat16" else t


def read(t):
    return (t.astype("float32") if DTYPE == "bfloat16" else t).numpy().reshape(-1)
$parameter$term

def run():
    params = {n: parameter(v, s) for n, (s, v) in PARAMS.items()}
    scheduler = None
    if LR_PER_STEP:
        scheduler = paddle.optimizer.lr.LambdaDecay(
            learning_rate=1.0, lr_lambda=lambda k: LR_PER_STEP[min(k, len(LR_PER_STEP) - 1)])
        KWARGS["learning_rate"] = scheduler
    parameters = [dict(g, params=[params[n] for n in g["params"]]) for g in GROUPS] or list(params.values())
    optimizer = paddle.optimizer.$optimizer(parameters=parameters, **KWARGS)
    quantity, name, index, _ = WATCH
    accumulator = {"exp_avg": "moment1", "exp_avg_sq": "moment2", "max_exp_avg_sq": "moment2_max"}.get(quantity)
    seen = []
    for t in range(STEPS):
        # a parameter without a gradient (None) is left out of this step's loss
        terms = [term(p, grad) for p, grad in zip(params.values(), GRADS[t]) if grad is not None]
        if terms:
            paddle.add_n(terms).backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        optimizer.clear_grad()  # set_to_zero=True, the default: the gradients become zeros
        p = params[name]
        source = p if quantity == "param" else optimizer.state_dict().get(f"{p.name}_{accumulator}_0")
        seen.append(0.0 if source is None else float(read(source)[index]))  # no state yet: zeros
    return seen
'''

_PIECES = {
    "optimizer": "Adam",
    "parameter": '''

def parameter(numbers, shape):
    p = paddle.create_parameter(shape, dtype=DTYPE, default_initializer=paddle.nn.initializer.Constant(0.0))
    p.set_value(tensor(numbers, shape))
    return p
''',
    "term": '''

def term(p, grad):
    """sum(p * g): its backward hands over g (float16: multiplied in float32, as the CPU
    has no float16 multiply)."""
    if DTYPE == "float16":
        return (p.astype("float32") * paddle.to_tensor(values(grad).astype("float32").reshape(p.shape))).sum()
    return (p * tensor(grad, p.shape)).sum()
''',
}
_SPARSE = {
    "parameter": '''

def parameter(numbers, shape):
    # an embedding table: [rows, elements per row], the same values in the same order
    table = [shape[0], int(np.prod(shape[1:], dtype=np.int64))]
    p = paddle.create_parameter(table, dtype=DTYPE, default_initializer=paddle.nn.initializer.Constant(0.0))
    p.set_value(tensor(numbers, table))
    return p
''',
    "term": '''

def term(p, grad):
    """A sparse embedding lookup of the listed rows (repeats included): its backward is
    a SelectedRows gradient with those rows and values."""
    rows, numbers = grad
    lookup = paddle.nn.functional.embedding(paddle.to_tensor(np.array(rows, dtype=np.int64)), p, sparse=True)
    return (lookup * tensor(numbers, [len(rows), -1])).sum()
''',
}


def arguments(case: Case, implementation: str) -> dict:
    """The JSON-ready data of a paddle script: the constructor's keyword arguments as the
    translation gives them (learning_rate 1.0 under a schedule: the script's scheduler
    replaces it), the groups and the per-step lr."""
    return {"kwargs": translate.constructor_arguments(case, implementation),
            "groups": translate.group_arguments(case, implementation),
            "lr_per_step": translate.lr_schedule(case)}


ADAM = Template(_PADDLE, _PIECES, arguments, sparse=_SPARSE, has_gradient=translate.receives_gradient)
ADAMW = Template(_PADDLE, dict(_PIECES, optimizer="AdamW"), arguments, sparse=_SPARSE,
                 has_gradient=translate.receives_gradient)
