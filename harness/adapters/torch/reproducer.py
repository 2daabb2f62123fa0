"""The torch wing's reproducer scripts (harness/reproducer_script.py): the template of
torch.optim's Adam forms, the code pieces that make each form, and the data its script
reads (the constructor arguments, from the wing's translation, translate.py, so a
script calls the optimizer exactly as the harness does). Each implementation's record
names its template here (harness/catalogue.py `reproducer`). Pure text and data: no
torch import.
"""

from __future__ import annotations

from harness.adapters.torch import translate
from harness.casefile import Case
from harness.reproducer_script import Template

# torch.optim.Adam, AdamW and their forms. Pieces: $optimizer (the class), $lr (how lr
# values enter), $parameter (how a parameter tensor is made), $set_lr (how a per-step lr
# is written), $schedule / $after_step (an LR scheduler), $gradient (dense or sparse COO).
_TORCH = '''
import torch

TORCH_DTYPE = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32,
               "float64": torch.float64}[DTYPE]
KWARGS = CASE["kwargs"]  # torch.optim.$optimizer's keyword arguments, as the harness passes them
if "betas" in KWARGS:
    KWARGS["betas"] = tuple(KWARGS["betas"])
GROUPS = CASE["groups"]  # parameter groups (names), some with their own lr / weight_decay
LR_PER_STEP = CASE["lr_per_step"]  # None, or a per-step lr for the groups without their own
$lr

def tensor(numbers, shape):
    return torch.from_numpy(values(numbers)).to(TORCH_DTYPE).reshape(shape)
$parameter$gradient

def lr_at(t):
    return LR_PER_STEP[min(t, len(LR_PER_STEP) - 1)]  # past its end a schedule keeps its last value


def run():
    tensors = {n: parameter(v, s) for n, (s, v) in PARAMS.items()}
    groups = [dict(g, params=[tensors[n] for n in g["params"]]) for g in GROUPS]
    optimizer = torch.optim.$optimizer(groups, **KWARGS)
$schedule    quantity, name, index, _ = WATCH
    seen = []
    for t in range(STEPS):
$set_lr        for p, grad in zip(tensors.values(), GRADS[t]):
            p.grad = None if grad is None else gradient(grad, p.shape)  # None: torch skips the parameter
        optimizer.step()
$after_step        p = tensors[name]
        source = p.detach() if quantity == "param" else optimizer.state[p].get(quantity)
        seen.append(0.0 if source is None else float(source.reshape(-1)[index]))  # no state yet: zeros
    return seen
'''

_TORCH_PIECES = {
    "optimizer": "Adam",
    "lr": "",
    "parameter": '''

def parameter(numbers, shape):
    return torch.nn.Parameter(tensor(numbers, shape))
''',
    "gradient": '''

def gradient(numbers, shape):
    return tensor(numbers, shape)
''',
    "set_lr": '''\
        if LR_PER_STEP:
            for group, spec_group in zip(optimizer.param_groups, GROUPS):
                if "lr" not in spec_group:  # a group with its own lr keeps it
                    group["lr"] = lr_at(t)  # as a scheduler writes it
''',
    "schedule": "",
    "after_step": "",
}
_TORCH_TENSOR_LR = '''
# lr as a 0-d float64 Tensor (it holds the lr exactly; torch.tensor(lr) would be float32)
KWARGS["lr"] = torch.tensor(KWARGS["lr"], dtype=torch.float64)
GROUPS = [dict(g, lr=torch.tensor(g["lr"], dtype=torch.float64)) if "lr" in g else g for g in GROUPS]
'''
_TORCH_TENSOR_SET_LR = '''\
        if LR_PER_STEP:
            for group, spec_group in zip(optimizer.param_groups, GROUPS):
                if "lr" not in spec_group:  # a group with its own lr keeps it
                    group["lr"].fill_(lr_at(t))  # a tensor-aware scheduler writes the tensor in place
'''
_TORCH_NON_LEAF = '''

def parameter(numbers, shape):
    # differentiable=True: torch refuses in-place updates of a leaf that requires grad, so
    # the parameter is a non-leaf (a clone of one), as in torch's own tests of it
    leaf = tensor(numbers, shape).requires_grad_(True)
    p = leaf.clone()
    p.retain_grad()
    return p
'''
_TORCH_LAMBDA_LR = '''\
    # torch.optim.lr_scheduler.LambdaLR, stepped after every optimizer step: the factor for
    # step k is lr[k] / lr[0] (a single lr: 1)
    factor = (lambda k: 1.0) if not LR_PER_STEP else (lambda k: lr_at(k) / LR_PER_STEP[0])
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
'''
_TORCH_SCHEDULER_STEP = '''\
        scheduler.step()
'''
_TORCH_SPARSE_GRADIENT = '''

def gradient(grad, shape):
    rows, numbers = grad  # a row listed twice carries two pieces that sum to its gradient
    return torch.sparse_coo_tensor(torch.tensor(rows, dtype=torch.int64)[None, :],
                                   tensor(numbers, (len(rows),) + tuple(shape[1:])), shape)
'''


# --------------------------------------------------------------------------- the data a script reads


def _lr_per_step(case: Case) -> list[float] | None:
    lr = case.hp("lr")
    return [float(x) for x in lr] if isinstance(lr, list) else None


def arguments(case: Case, implementation: str) -> dict:
    """The JSON-ready data of a torch script: the constructor's keyword arguments as the
    translation gives them (lr as a number: the tensor-lr template makes it a Tensor
    itself; tuples as lists), the groups (every parameter in one without any) and the
    per-step lr."""
    kwargs = translate.constructor_arguments(case, implementation)
    kwargs["lr"] = float(kwargs["lr"])
    return {"kwargs": {k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()},
            "groups": translate.group_arguments(case, implementation) or [{"params": [p.name for p in case.params]}],
            "lr_per_step": _lr_per_step(case)}


def _torch(**pieces: str) -> Template:
    return Template(_TORCH, dict(_TORCH_PIECES, **pieces), arguments, has_gradient=translate.receives_gradient)


# The templates, each named by its implementations' records.
ADAM = _torch()  # torch, torch-foreach, torch-fused: foreach / fused in the record's options
ADAMW = _torch(optimizer="AdamW")
TENSOR_LR = _torch(lr=_TORCH_TENSOR_LR, set_lr=_TORCH_TENSOR_SET_LR)
NON_LEAF = _torch(parameter=_TORCH_NON_LEAF)  # torch-differentiable: differentiable=True in the options
LR_SCHEDULER = _torch(schedule=_TORCH_LAMBDA_LR, set_lr="", after_step=_TORCH_SCHEDULER_STEP)
SPARSE_ADAM = Template(_TORCH, dict(_TORCH_PIECES, optimizer="SparseAdam"), arguments,
                       sparse={"gradient": _TORCH_SPARSE_GRADIENT}, has_gradient=translate.receives_gradient)
