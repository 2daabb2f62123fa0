"""Adapter for the numpy specification (reference/adam.py), and the bench's bare loop of
the spec (`bare_loop`). The spec takes the case as it is: no framework, no translation,
no runtime setup (the catalogue's WINGS has no entry for it).

`variant` selects the spec's documented semantic switches (see harness/rows.py);
the engine builds the base spec with no variant, attribution builds one per row.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np

from harness.adapters.base import Snapshot
from harness.casefile import Case
from harness.row_sparse import row_sparse, touched_elements
from harness.rows import CASE_DTYPE
from reference.adam import (WEIGHT_DECAY_DECOUPLED, WEIGHT_DECAY_L2, AdamState, adam_step, beyond_range, init_state,
                            lr_at, weight_decay_applies)
from reference.dtypes import BFLOAT16, STORAGE, round_to

# Variant keys that the adapter resolves itself instead of passing through to adam_step.
_ADAPTER_KEYS = {"weight_decay_exempt_substrings", "stored_in_case_dtype", "row_sparse", "missing_gradient",
                 "parameter_update_lost", "missing_gradient_step", "loss_scale_in_dtype"}


class ReferenceAdapter:
    name: ClassVar[str] = "reference"
    description: ClassVar[str] = "reference/adam.py (numpy float64 spec)"

    def __init__(self, case: Case, variant: dict[str, Any] | None = None) -> None:
        self.case = case
        self.variant = dict(variant or {})
        self.states = [init_state(p.value.astype(np.float64)) for p in case.params]
        self.weight_decay_mode = WEIGHT_DECAY_DECOUPLED if case.hp("decoupled_weight_decay") else WEIGHT_DECAY_L2
        self.steps_taken = 0  # optimizer steps so far (a parameter's own count skips missing gradients)
        self.amsgrad = self._switch("amsgrad", case.hp("amsgrad"))
        # What every step passes to adam_step, worked out once per case (the spec's
        # per-step cost on small tensors is mostly Python: reference/adam.py).
        beta1, beta2 = case.hp("betas")
        # A switch set to CASE_DTYPE takes the case's dtype (rows.py cannot know it).
        passthrough = {k: (case.dtype if v == CASE_DTYPE else v) for k, v in self.variant.items()
                       if k not in _ADAPTER_KEYS | {"amsgrad", "nesterov"}}
        if "betas_precision" in passthrough:
            # MindSpore's CPU Adam kernel computes float16 inputs in float32 (measured).
            passthrough.setdefault("kernel_dtype", "float32" if case.dtype in ("float16", "bfloat16") else case.dtype)
        if "moments_increment_form" in passthrough:
            # Each op of the increment form is a tensor op: rounded to the tensor dtype.
            passthrough.setdefault("kernel_dtype", case.dtype)
        if "beta1_as_lerp_weight" in passthrough:
            # ATen's lerp holds the weight in opmath: float32 for float16/bfloat16 tensors.
            passthrough.setdefault("kernel_dtype", "float32" if case.dtype in ("float16", "bfloat16") else case.dtype)
        self.step_options = dict(
            beta1=beta1, beta2=beta2, eps=case.hp("eps"), eps_root=case.hp("eps_root"), amsgrad=self.amsgrad,
            maximize=case.hp("maximize"),
            nesterov=self._switch("nesterov", case.hp("use_nesterov")), loss_scale=case.hp("loss_scale"),
            # Values beyond the case dtype's range are +-inf as they are formed
            # (reference/adam.py); the params row's variant lifts that (storage_dtype None).
            **{"storage_dtype": case.dtype, "weight_decay_mode": self.weight_decay_mode, **passthrough})
        exempt = self.variant.get("weight_decay_exempt_substrings", ())
        self.weight_decays = [case.weight_decay_for(spec.name) if weight_decay_applies(spec.name, exempt) else 0.0
                              for spec in case.params]
        self.lrs = [case.lr_for(spec.name) for spec in case.params]
        # The loss-scaled gradient is a tensor of the case dtype: beyond its range it is
        # +-inf as formed (float16: |g| * 65536 > 65504), like the state.
        self.gradient_stored = passthrough.get("storage_dtype", case.dtype) is not None and case.hp("loss_scale") != 1.0
        # Row-sparse gradients under use_lazy: only the rows they list are updated (the
        # spec's lazy switch); with dense gradients lazy Adam is plain Adam.
        self.lazy = bool(case.sparse_rows) and case.hp("use_lazy")
        sparse = self.variant.get("row_sparse") if case.sparse_rows else None
        self.separate_copies = self.lazy and sparse == "separate"
        self.decay_per_copy = sparse in ("decay_per_copy", "in_graph")
        self.squares_per_copy = not self.lazy and sparse == "in_graph"
        self.missing_as_zero = self.variant.get("missing_gradient") == "zero"
        # missing_gradient="zero_after_first": a parameter without a gradient is skipped
        # until its first gradient, fed zeros after it (Paddle's clear_grad() leaves a zero
        # gradient where it had one, python/paddle/optimizer/optimizer.py clear_grad
        # set_to_zero=True; before a first backward the parameter has no gradient at all).
        self.missing_zero_after_first = self.variant.get("missing_gradient") == "zero_after_first"
        # missing_gradient_step="global": a parameter without a gradient is skipped, but its
        # step count is the optimizer's, which every step advances (Keras's `iterations`,
        # keras/src/optimizers/base_optimizer.py: one counter for all variables), so its
        # next update takes the global step's bias correction.
        self.missing_counts_step = self.variant.get("missing_gradient_step") == "global"
        # loss_scale_in_dtype: the loss-scaled gradient is divided by the loss scale as a
        # number of the case dtype (Keras's g / loss_scale_factor with a Python float, a
        # weakly typed scalar of the gradient's dtype: fl16(65536) = inf, so in float16
        # every gradient becomes 0, or NaN where g * L overflowed).
        self.loss_scale = case.hp("loss_scale")
        if self.variant.get("loss_scale_in_dtype"):
            self.step_options["loss_scale"] = float(round_to(np.float64(self.loss_scale), case.dtype))
        # The in-place writes of the parameter and of the step counter are lost (mint's
        # `parameters.add_` and `state_step.add_` in PyNative, MindSpore 2.10 CPU); the
        # moments, written with copy_, are kept.
        self.parameter_update_lost = bool(self.variant.get("parameter_update_lost"))
        self.stored_in_case_dtype = bool(self.variant.get("stored_in_case_dtype"))

    def _switch(self, key: str, case_value: bool) -> bool:
        # "toggle" flips the case's own setting (models an implementation that ignores it).
        value = self.variant.get(key, case_value)
        return (not case_value) if value == "toggle" else bool(value)

    def step(self, grads: list[np.ndarray]) -> None:
        case = self.case
        loss_scale = self.loss_scale
        t = self.steps_taken
        self.steps_taken += 1
        for i, grad in enumerate(grads):
            fed_zeros = self.missing_as_zero or (self.missing_zero_after_first and self.states[i].step > 0)
            if not fed_zeros and not case.has_gradient(t, i):
                # The spec: a parameter without a gradient is not part of this step's
                # objective: no update, no state change, its own step count (and so its
                # bias correction) does not advance. (Variant "zero": a zero gradient.)
                if self.missing_counts_step:
                    self.states[i] = dataclasses.replace(self.states[i], step=self.states[i].step + 1)
                continue
            state = self.states[i]
            weight_decay = self.weight_decays[i]
            # A schedule follows the optimizer's steps, as a scheduler does.
            lr = lr_at(self.lrs[i], t + 1)
            # The spec receives the loss-scaled gradient a MindSpore user would pass, and
            # divides it back (exact in float64 for power-of-two scales); a scale of 1
            # leaves every float64 value as it is, so it is not multiplied in.
            scaled = grad.astype(np.float64)
            if loss_scale != 1.0:
                scaled = scaled * loss_scale
            if self.gradient_stored:
                scaled = beyond_range(scaled, case.dtype)
            step_options = self.step_options
            # The decay nn.Optimizer adds to a loss-scaled gradient: weight_decay * loss_scale
            # (a float32 Tensor under hyperparameters_float32, as adam_step takes it).
            scaled_decay = loss_scale * weight_decay
            if self.step_options.get("hyperparameters_float32"):
                scaled_decay = float(np.float32(scaled_decay))
            if self.decay_per_copy and weight_decay:
                # nn.Optimizer adds weight_decay * w to every copy's value
                # (_tensor_apply_decay_with_sparse) before the copies are summed: a row
                # listed k times is decayed k times, a row not listed not at all.
                scaled = scaled + scaled_decay * _extra_copies(case, i, state) * state.param
            if self.squares_per_copy:
                unscale = (float(np.float32(1.0 / loss_scale)) if self.step_options.get("hyperparameters_float32")
                           else 1.0 / loss_scale)
                step_options = dict(step_options, gradient_square=_copy_squares(
                    case, i, state, grad * loss_scale if loss_scale != 1.0 else grad, scaled_decay, unscale))
            if self.separate_copies:
                def step(state: AdamState, grad: np.ndarray, lazy_rows: np.ndarray | None,
                         lr: float = lr, weight_decay: float = weight_decay) -> AdamState:
                    return adam_step(state, grad, lr=lr, weight_decay=weight_decay, lazy_rows=lazy_rows,
                                     **self.step_options)

                self.states[i] = _separate_copies(case, i, state, scaled, step)
            else:
                self.states[i] = adam_step(state, scaled, lr=lr, weight_decay=weight_decay,
                                           lazy_rows=touched_elements(case, t, i) if self.lazy else None,
                                           **step_options)
            if self.parameter_update_lost:
                self.states[i] = dataclasses.replace(self.states[i], param=state.param, step=state.step)
            if self.stored_in_case_dtype:
                # An implementation stores w and its moments in the case dtype after every
                # step; attribution emulates that so a right mechanism matches to well
                # below the ulp-sized tolerance floor (see harness/attribution.py).
                self.states[i] = _stored(self.states[i], case.dtype)

    def history(self, num_steps: int) -> ReferenceHistory:
        return ReferenceHistory(self, num_steps)

    def snapshot(self) -> Snapshot:
        # Views, not copies: every step makes new state arrays (adam_step returns new
        # ones and nothing writes into an old one), and recording copies what it keeps.
        out: Snapshot = {}
        for spec, state in zip(self.case.params, self.states):
            entry = {
                "param": state.param.reshape(-1),
                "exp_avg": state.exp_avg.reshape(-1),
                "exp_avg_sq": state.exp_avg_sq.reshape(-1),
                "step": state.step,
            }
            if self.amsgrad:
                entry["max_exp_avg_sq"] = state.max_exp_avg_sq.reshape(-1)
            out[spec.name] = entry
        return out


def bare_loop(case: Case, implementation: str = "reference") -> list[float]:
    """The bench's bare loop of the spec (harness/bench.py): its own calls for the case,
    adam_step per parameter per step, in the case's storage dtype (values beyond its range
    are inf, reference/adam.py storage_dtype). Steps are not timed one by one (0.0 each)."""
    states = [init_state(p.value.astype(np.float64)) for p in case.params]
    beta1, beta2 = case.hp("betas")
    for grads in case.grads:
        states = [adam_step(s, g.astype(np.float64), lr=case.hp("lr"), beta1=beta1, beta2=beta2, eps=case.hp("eps"),
                            eps_root=case.hp("eps_root"), storage_dtype=case.dtype)
                  for s, g in zip(states, grads)]
    return [0.0] * len(case.grads)


class ReferenceHistory:
    """What SnapshotHistory records from snapshot() after every step, bit for bit
    (tests/test_fast_paths.py), written straight from the states into arrays of
    the parameter's shape per step (no per-step dicts of views): the spec's step is
    ~20 us on small tensors, and the snapshot's dicts were ~2 us of it."""

    def __init__(self, adapter: ReferenceAdapter, num_steps: int) -> None:
        self.adapter = adapter
        quantities = ("param", "exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if adapter.amsgrad else ())
        self.arrays = [{quantity: np.zeros((num_steps + 1, *np.shape(spec_state.param))) for quantity in quantities}
                       for spec_state in adapter.states]
        self.steps = np.zeros((num_steps + 1, len(adapter.states)), dtype=np.int64)

    def take(self, t: int) -> None:
        for j, (arrays, state) in enumerate(zip(self.arrays, self.adapter.states)):
            for quantity, values in arrays.items():
                values[t] = getattr(state, quantity)
            self.steps[t, j] = state.step

    def data(self) -> dict[str, dict[str, np.ndarray]]:
        out = {}
        for j, (spec, arrays) in enumerate(zip(self.adapter.case.params, self.arrays)):
            # snapshot()'s order: param, exp_avg, exp_avg_sq, step, max_exp_avg_sq
            entry = {quantity: arrays[quantity].reshape(len(self.steps), -1)
                     for quantity in ("param", "exp_avg", "exp_avg_sq")}
            entry["step"] = np.ascontiguousarray(self.steps[:, j])
            if "max_exp_avg_sq" in arrays:
                entry["max_exp_avg_sq"] = arrays["max_exp_avg_sq"].reshape(len(self.steps), -1)
            out[spec.name] = entry
        return out


def _stored(state: AdamState, dtype: str) -> AdamState:
    if dtype == "float64":
        return state  # float64 holds every value the spec computes

    if dtype == BFLOAT16:
        def rounded(values: np.ndarray) -> np.ndarray:
            return round_to(values, dtype)
    else:
        storage = STORAGE[dtype]

        def rounded(values: np.ndarray) -> np.ndarray:
            # round_to without its errstate: one errstate for all four (float16 overflows to inf).
            return values.astype(storage).astype(np.float64)

    with np.errstate(over="ignore"):
        return dataclasses.replace(state, param=rounded(state.param), exp_avg=rounded(state.exp_avg),
                                   exp_avg_sq=rounded(state.exp_avg_sq),
                                   max_exp_avg_sq=rounded(state.max_exp_avg_sq))


def _separate_copies(case: Case, index: int, state: AdamState, grad: np.ndarray, step) -> AdamState:
    """Lazy Adam that treats each copy of a repeated row as its own gradient, as
    MindSpore's in-graph sparse path does (nn/optim/adam.py _run_lazy_opt_with_sparse:
    gather m, v for every index, scatter_add every copy's update into the parameter,
    scatter_update m, v, where the last copy wins). Copies of the same rank (first
    occurrence, second ...) are updated together from the previous state; the
    parameter receives the sum of their updates."""
    rows = case.sparse_rows[state.step][index]
    _, values = row_sparse(case, state.step, index, grad)
    row_size = values[0].size if len(rows) else 1
    seen: dict[int, int] = {}
    ranks = []
    for row in rows:
        ranks.append(seen.get(row, 0))
        seen[row] = ranks[-1] + 1
    param, exp_avg, exp_avg_sq = state.param.copy(), state.exp_avg.copy(), state.exp_avg_sq.copy()
    # The amsgrad maximum is per element like the moments: every copy's rows take their
    # own rank's value (thorough finding: returning the last rank's left the rows it did
    # not list at the old maximum, 0 on step 1, whose tolerance then absorbed anything).
    max_exp_avg_sq = state.max_exp_avg_sq.copy()
    result = state
    for rank in range(max(ranks, default=-1) + 1):
        copy_grad = np.zeros_like(state.param)
        elements = []
        for row, entry_rank, value in zip(rows, ranks, values):
            if entry_rank == rank:
                span = np.arange(row * row_size, (row + 1) * row_size)
                copy_grad[span] = value.reshape(-1)
                elements.append(span)
        touched = np.concatenate(elements)
        result = step(state, copy_grad, touched)
        # scatter_add in the tensor dtype: each copy's update is rounded and added in turn.
        dtype = case.np_dtype
        update = (result.param[touched] - state.param[touched]).astype(dtype)
        param[touched] = (param[touched].astype(dtype) + update).astype(np.float64)
        exp_avg[touched], exp_avg_sq[touched] = result.exp_avg[touched], result.exp_avg_sq[touched]
        max_exp_avg_sq[touched] = result.max_exp_avg_sq[touched]
    return dataclasses.replace(result, param=param, exp_avg=exp_avg, exp_avg_sq=exp_avg_sq,
                               max_exp_avg_sq=max_exp_avg_sq)


def _extra_copies(case: Case, index: int, state: AdamState) -> np.ndarray:
    """Per flat element: how many more times than once its row is listed this step (-1
    for a row not listed: no decay; a lazy step leaves such a row alone anyway)."""
    shape = case.params[index].shape
    rows = case.sparse_rows[state.step][index]
    counts = np.bincount(np.asarray(rows, dtype=np.int64), minlength=shape[0]).astype(np.float64)
    return np.repeat(counts - 1.0, state.param.size // shape[0])


def _copy_squares(case: Case, index: int, state: AdamState, scaled_grad: np.ndarray, scaled_decay: float,
                  unscale: float) -> np.ndarray:
    """Per flat element: the sum over the copies of its row of
    ((copy + scaled_decay * w) * unscale)^2, 0 in a row not listed: what MindSpore's
    in-graph non-lazy sparse path scatter-adds into v (nn/optim/adam.py
    _run_opt_with_sparse: scatter_add(v, indices, (1 - beta2) * square(values)), the
    loss-scaled values decayed per copy, then unscaled), where (their sum)^2 is the spec's."""
    shape = case.params[index].shape
    rows, values = row_sparse(case, state.step, index, scaled_grad)
    row_size = state.param.size // shape[0]
    squares = np.zeros((shape[0], row_size))
    decay = scaled_decay * state.param.reshape(shape[0], row_size)
    for row, value in zip(rows, values.astype(np.float64).reshape(len(rows), row_size)):
        squares[row] += ((value + decay[row]) * unscale) ** 2
    return squares.reshape(-1)
