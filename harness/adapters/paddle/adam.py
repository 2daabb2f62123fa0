"""Adapter for paddle.optimizer.Adam and AdamW (paddle 3.3, dygraph, CPU), as the
catalogue record names them (its `optimizer` and `options`, through the wing's
translation, translate.py).

How a step runs, as paddle's users run one:

    loss.backward(); optimizer.step(); [scheduler.step()]; optimizer.clear_grad()

The gradients come from backward() of a loss whose gradient is the case's: dense, the
loss is sum(p * g) (the multiply's backward hands over g * 1, exact); row-sparse, the
parameter is an embedding table looked up with paddle.nn.functional.embedding(rows, p,
sparse=True) and the loss is sum(lookup * values), whose backward is the SelectedRows
gradient (rows as listed, repeats included: the kernel merges them) that users of
sparse embeddings get. paddle's public Tensor.grad setter would take a dense gradient
too, but users get gradients from backward(), and it is the only way to a SelectedRows
gradient. float16 parameters are multiplied in float32 (p.astype("float32") * g: the
CPU has no float16 multiply kernel; the cast's backward hands g back in float16, exact)
so that the optimizer's own error is the one reported.

Parameters are made with paddle.create_parameter in the case dtype (row-sparse cases:
[rows, elements per row], the 2-D table an embedding looks up; the same elements in the
same order), their values set with set_value.

State: the optimizer's accumulators, found through its public state_dict() under
"<param name>_moment1_0", "_moment2_0", "_moment2_max_0", "_beta1_pow_acc_0",
"_beta2_pow_acc_0" (the Tensors themselves, updated in place): moment1 -> exp_avg,
moment2 -> exp_avg_sq, moment2_max -> max_exp_avg_sq. A parameter gets them at its first
gradient; until then its moments are zeros. paddle has no step counter: the beta powers
hold beta^(t+1) as a running product in the accumulator dtype (beta_pow = fl(beta *
beta_pow), measured bit for bit), so the step is read back by matching beta2_pow (beta1_pow
where beta2 = 0) against that recurrence; where it cannot tell steps apart (both betas 0,
or the product stalls within the run) no "step" is reported.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import paddle

from harness.adapters.base import Snapshot, as_stored
from harness.adapters.paddle.translate import (constructor_arguments, group_arguments, lr_schedule, optimizer_class,
                                               receives_gradient)
from harness.casefile import Case
from harness.row_sparse import row_sparse

ACCUMULATORS = (("exp_avg", "moment1"), ("exp_avg_sq", "moment2"), ("max_exp_avg_sq", "moment2_max"))
_SIXTEEN_BIT = ("float16", "bfloat16")


def _accumulator_dtype(dtype: str) -> type:
    # adam.py _add_moments_pows: float16/bfloat16 parameters get float32 accumulators.
    return np.float64 if dtype == "float64" else np.float32


class PaddleAdapter:
    name: ClassVar[str] = "paddle-adam"
    description: ClassVar[str] = f"paddle.optimizer.Adam (paddle {paddle.__version__}, dygraph, CPU)"

    def __init__(self, case: Case) -> None:
        self.case = case
        self.sparse = bool(case.sparse_rows)
        self.params = []
        for spec in case.params:
            shape = ([spec.shape[0], int(np.prod(spec.shape[1:], dtype=np.int64))] if self.sparse
                     else list(spec.shape))
            p = paddle.create_parameter(shape, dtype=case.dtype,
                                        default_initializer=paddle.nn.initializer.Constant(0.0))
            p.set_value(self._tensor(spec.value.reshape(shape)))
            self.params.append(p)
        by_name = dict(zip((p.name for p in case.params), self.params))
        groups = [dict(group, params=[by_name[n] for n in group["params"]])
                  for group in group_arguments(case, self.name)]
        kwargs = constructor_arguments(case, self.name)
        lrs = lr_schedule(case)
        self.scheduler = None
        if lrs is not None:
            self.scheduler = paddle.optimizer.lr.LambdaDecay(
                learning_rate=1.0, lr_lambda=lambda k: lrs[min(k, len(lrs) - 1)])
            kwargs["learning_rate"] = self.scheduler
        cls = getattr(paddle.optimizer, optimizer_class(self.name))
        self.optimizer = cls(parameters=groups or self.params, **kwargs)
        self.steps = 0
        self.step_reader = _StepReader(case)

    def _tensor(self, values: np.ndarray) -> paddle.Tensor:
        # np.array, not np.ascontiguousarray: a 0-d parameter stays 0-d.
        if self.case.dtype == "bfloat16":
            return paddle.to_tensor(np.array(values, dtype=np.float32)).astype("bfloat16")
        return paddle.to_tensor(np.array(values))

    def _term(self, j: int, grad: np.ndarray) -> paddle.Tensor:
        """A loss term whose gradient with respect to parameter j is the case's."""
        p = self.params[j]
        if self.sparse:
            rows, values = row_sparse(self.case, self.steps, j, grad)
            lookup = paddle.nn.functional.embedding(paddle.to_tensor(rows), p, sparse=True)
            return (lookup * self._tensor(values.reshape(len(rows), -1))).sum()
        g = grad.reshape(p.shape)
        if self.case.dtype == "float16":
            return (p.astype("float32") * paddle.to_tensor(g.astype(np.float32))).sum()
        return (p * self._tensor(g)).sum()

    def step(self, grads: list[np.ndarray]) -> None:
        # A parameter without a gradient this step is left out of the loss: before its first
        # gradient it has none (step() skips it), after one clear_grad() left it zeros.
        terms = [self._term(j, grad) for j, grad in enumerate(grads) if receives_gradient(self.case, self.steps, j)]
        if terms:
            paddle.add_n(terms).backward()
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        self.optimizer.clear_grad()
        self.steps += 1

    def snapshot(self) -> Snapshot:
        state = self.optimizer.state_dict()
        out: Snapshot = {}
        for spec, p in zip(self.case.params, self.params):
            entry = {"param": as_numpy(p)}
            for ours, theirs in ACCUMULATORS:
                if ours == "max_exp_avg_sq" and not self.case.hp("amsgrad"):
                    continue
                tensor = state.get(f"{p.name}_{theirs}_0")
                entry[ours] = (as_numpy(tensor) if tensor is not None
                               else np.zeros(entry["param"].size, dtype=entry["param"].dtype))
            if self.step_reader.usable:
                entry["step"] = self.step_reader.step(state.get(f"{p.name}_{self.step_reader.accumulator}_0"))
            out[spec.name] = entry
        return out


class PaddleAdamWAdapter(PaddleAdapter):
    name: ClassVar[str] = "paddle-adamw"
    description: ClassVar[str] = f"paddle.optimizer.AdamW (paddle {paddle.__version__}, dygraph, CPU)"


class _StepReader:
    """The step count behind a beta-power accumulator: beta_pow starts at beta and is
    multiplied by beta once per step in the accumulator dtype, so after t steps it is
    the (t+1)-th term of that recurrence; the terms are computed for the whole run up
    front and must all differ (else `usable` is False and no step is reported)."""

    def __init__(self, case: Case) -> None:
        beta1, beta2 = case.hp("betas")
        dtype = _accumulator_dtype(case.dtype)
        beta, self.accumulator = (beta2, "beta2_pow_acc") if beta2 > 0 else (beta1, "beta1_pow_acc")
        b = dtype(beta)
        terms, x = [], b
        for _ in range(case.num_steps + 1):
            terms.append(float(x))
            x = dtype(x * b)
        self.terms = {value: t for t, value in enumerate(terms)}
        self.usable = 0 < beta < 1 and len(self.terms) == len(terms)

    def step(self, tensor: paddle.Tensor | None) -> int:
        if tensor is None:
            return 0  # no gradient yet: no accumulators, no step
        value = float(tensor.numpy().reshape(-1)[0])
        # A value off the recurrence is reported as -1: never a step count.
        return self.terms.get(value, -1)


def as_numpy(tensor: paddle.Tensor) -> np.ndarray:
    """A tensor's values, flat, in their storage_dtype (bfloat16 through float32, exact)."""
    if tensor.dtype == paddle.bfloat16:
        tensor = tensor.astype("float32")
    return as_stored(tensor.numpy())
