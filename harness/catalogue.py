"""The implementation catalogue: one declarative record per implementation, read by the
adapters, the strategies, the sweep, the bench and the reports (the role PyTorch's
`OptimizerInfo` database in torch/testing/_internal/common_optimizers.py plays for its
optimizer tests). It is the one table of implementations: each record names its
framework's wing (`WINGS`, harness/adapters/<framework>/) and, in it, its adapter class,
the bench's bare loop and its reproducer template; the optimizer class and the
constructor keywords that select the implementation are data the wing's translation
reads. Nothing here imports a framework.

A record says, as data, how a user calls the implementation (its call and execution
mode), which framework (worker process, attribution's mechanisms) it belongs to, and the
case space it can express: a case is described by its *features*, one value class per
factor (`FACTORS`: each hyperparameter, the dtype, the gradient layout, parameter
groups), and a record excludes what it cannot run:

    no counterpart   the implementation's API has no way to ask for it (torch has no
                     Nesterov; SparseAdam is lazy only). Never compared: the result is
                     `no-counterpart`, with the framework's own error where passing the
                     option under its own name gives one.
    unsupported      the API takes it but the framework fails on it, measured (a kernel
                     without that dtype, a validation error). The case is still run: a
                     framework that accepts it makes the claim stale, which is reported.
    unreliable       the framework runs it, but its result depends on memory the harness
                     does not control (a kernel reading an uninitialized buffer): run once
                     for the record, never compared, `unsupported` with the reason; where
                     the mechanism has a deterministic part a test pins it
                     (tests/test_catalogue.py), so a fix is noticed.

An exclusion may hold only for some framework versions (PEP 440 specifiers on the
installed packages, e.g. {"mindspore": ">=2.10"}): outside them it is not applied.

Conditions of an exclusion (`when`, all must hold): a factor name with the value classes
it matches, or one of the finer predicates in `_PREDICATES` (0-d parameters, an lr list
shorter than the run, ...). Pairwise coverage (harness/coverage.py) works on the factors;
the finer predicates are avoided by the cases it builds.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np
from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from harness.casefile import DEFAULT_HYPERPARAMETERS, Case

# --------------------------------------------------------------------------- features

# factor -> its value classes, the first one the default.
FACTORS: dict[str, tuple[Any, ...]] = {
    "lr": ("number", "zero", "list"),
    "betas": ("default", "other", "extreme"),
    "eps": ("default", "other"),
    "weight_decay": ("zero", "nonzero"),
    "decoupled_weight_decay": (False, True),
    "amsgrad": (False, True),
    "maximize": (False, True),
    "use_locking": (False, True),
    "use_nesterov": (False, True),
    "loss_scale": ("one", "other"),
    "use_lazy": (False, True),
    "use_offload": (False, True),
    "dtype": ("float32", "float64", "float16", "bfloat16"),
    "layout": ("dense", "row_sparse", "missing"),
    "groups": ("none", "groups"),
    # Last, so that for an implementation without eps_root (one expressible class) the
    # greedy covering rows of every other factor are the ones they were before it existed
    # (harness/coverage.py sets factors in this order; eps_root=zero then joins each row).
    "eps_root": ("zero", "nonzero"),
}
OPTION_FACTORS = tuple(f for f in FACTORS if f not in ("dtype", "layout", "groups"))


def _betas_class(betas: list[float]) -> str:
    if list(betas) == DEFAULT_HYPERPARAMETERS["betas"]:
        return "default"
    beta1, beta2 = betas
    # The regimes where a float32 complement or lerp weight shows: beta1 < 0.5 (torch's
    # lerp takes 1 - weight), beta2 near 1 (fl32(1 - beta2) is off by u32 / (1 - beta2)).
    return "extreme" if beta1 < 0.5 or beta2 > 0.9999 else "other"


def features(case: Case) -> dict[str, Any]:
    """The case's value class in every factor."""
    lr = case.hp("lr")
    if isinstance(lr, list):
        lr_class = "list"
    else:
        lrs = [lr] + [g.lr for g in case.param_groups if g.lr is not None]
        lr_class = "zero" if any(x == 0.0 for x in lrs) else "number"
    out: dict[str, Any] = {
        "lr": lr_class,
        "betas": _betas_class(case.hp("betas")),
        "eps": "default" if case.hp("eps") == DEFAULT_HYPERPARAMETERS["eps"] else "other",
        "weight_decay": "nonzero" if case.decays() else "zero",
        "loss_scale": "one" if case.hp("loss_scale") == 1.0 else "other",
        "dtype": case.dtype,
        "layout": "row_sparse" if case.sparse_rows else ("missing" if case.missing else "dense"),
        "groups": "groups" if case.param_groups else "none",
        "eps_root": "zero" if case.hp("eps_root") == 0.0 else "nonzero",
    }
    for key in ("decoupled_weight_decay", "amsgrad", "maximize", "use_locking", "use_nesterov", "use_lazy",
                "use_offload"):
        out[key] = bool(case.hp(key))
    return out


# Finer conditions than the factors (cases built for pairwise coverage avoid them).
def _scalar_params(case: Case) -> bool:
    return any(len(p.shape) == 0 for p in case.params)


def _lr_list_shorter_than_run(case: Case) -> bool:
    lr = case.hp("lr")
    return isinstance(lr, list) and len(lr) < case.num_steps


def _lr_list_starts_at_zero(case: Case) -> bool:
    lr = case.hp("lr")
    return isinstance(lr, list) and lr[0] == 0.0


def _group_lr(case: Case) -> bool:
    return any(g.lr is not None for g in case.param_groups)


def _betas_outside_open_interval(case: Case) -> bool:
    return not all(0.0 < b < 1.0 for b in case.hp("betas"))


def _subnormal_moments_possible(case: Case) -> bool:
    """In float32 / float64, some nonzero gradient whose moment contribution
    (1 - beta1) |g| or (1 - beta2) g^2 is below the dtype's smallest normal number."""

    if case.dtype not in ("float32", "float64"):
        return False
    tiny = float(np.finfo(case.np_dtype).tiny)
    beta1, beta2 = case.hp("betas")
    g = np.abs(np.concatenate([np.asarray(x, dtype=np.float64).reshape(-1) for step in case.grads for x in step]))
    g = g[np.isfinite(g) & (g > 0)]
    return bool(np.any(((1 - beta1) * g < tiny) | ((1 - beta2) * g * g < tiny)))


def _step_without_gradients(case: Case) -> bool:
    """Some step at which no parameter has a gradient (every one missing): Keras'
    apply_gradients refuses it."""
    return any(len(missing) == len(case.params) for missing in case.missing)


def _rows_after_the_last_listed(case: Case) -> bool:
    """Some step at which a row-sparse gradient lists no row at or after some row of its
    parameter (a row beyond the last one listed): Paddle's non-lazy SelectedRows kernel
    then reads its row list past its end."""
    return any(max(rows) < case.params[j].shape[0] - 1 for step in case.sparse_rows for j, rows in enumerate(step)
               if rows and case.params[j].shape)


_PREDICATES: dict[str, Callable[[Case], bool]] = {
    "step_without_gradients": _step_without_gradients,
    "rows_after_the_last_listed": _rows_after_the_last_listed,
    "scalar_params": _scalar_params,
    "lr_list_shorter_than_run": _lr_list_shorter_than_run,
    "lr_list_starts_at_zero": _lr_list_starts_at_zero,
    "group_lr": _group_lr,
    "betas_outside_open_interval": _betas_outside_open_interval,
    "subnormal_moments_possible": _subnormal_moments_possible,
}

# --------------------------------------------------------------------------- records

NO_COUNTERPART = "no counterpart"
UNSUPPORTED = "unsupported"
UNRELIABLE = "unreliable"


@dataclass(frozen=True)
class Exclusion:
    kind: str  # NO_COUNTERPART, UNSUPPORTED or UNRELIABLE
    when: Mapping[str, Any]  # factor -> value class or tuple of classes; predicate name -> True
    reason: str  # what a report says; for UNSUPPORTED, what was measured
    versions: Mapping[str, str] = field(default_factory=dict)  # package -> PEP 440 specifier

    def matches(self, case_features: Mapping[str, Any], case: Case | None = None) -> bool:
        """Whether the exclusion holds for a case with these features. Finer predicates
        need the case; without one (a pairwise assignment) they count as avoidable."""
        for key, wanted in self.when.items():
            if key in _PREDICATES:
                if case is None or _PREDICATES[key](case) != bool(wanted):
                    return False
            elif case_features.get(key) not in (wanted if isinstance(wanted, tuple) else (wanted,)):
                return False
        return True

    @property
    def factor_level(self) -> bool:
        return not any(key in _PREDICATES for key in self.when)


@dataclass(frozen=True)
class Implementation:
    name: str
    # "reference", "torch", "mindspore": its wing (WINGS), worker process and attribution's mechanisms
    framework: str
    adapter: str  # "module:Class" in its wing (test-only extra implementations: "file.py:Class")
    call: str  # how a user calls it
    mode: str  # the execution mode it runs in
    exclusions: tuple[Exclusion, ...] = ()
    # What its wing builds, as data (read by the wing's translate.py, and so by its adapter,
    # bare loop and reproducer template): the optimizer class, as users spell it, and the
    # constructor keywords that select this form of it (foreach=True, ...).
    optimizer: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    bare_loop: str | None = None  # "module:function" in its wing: the bench's bare loop (harness/bench.py)
    bench_cases: str = "defaults"  # the bench's case set for it: one that exercises what defines it
    reproducer: str | None = None  # "module:TEMPLATE" in its wing: its reproducer script's template

    def applicable(self) -> tuple[Exclusion, ...]:
        """The exclusions that hold for the installed framework versions."""
        return tuple(e for e in self.exclusions if versions_match(e.versions))


def no_counterpart(reason: str, versions: Mapping[str, str] | None = None, **when: Any) -> Exclusion:
    return Exclusion(NO_COUNTERPART, when, reason, versions or {})


def unsupported(reason: str, versions: Mapping[str, str] | None = None, **when: Any) -> Exclusion:
    return Exclusion(UNSUPPORTED, when, reason, versions or {})


def unreliable(reason: str, versions: Mapping[str, str] | None = None, **when: Any) -> Exclusion:
    return Exclusion(UNRELIABLE, when, reason, versions or {})


# --------------------------------------------------------------------------- versions

@functools.lru_cache(maxsize=None)
def installed_version(package: str) -> str | None:
    """The installed distribution's version (read from its metadata: nothing is imported)."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def versions_match(specifiers: Mapping[str, str], installed: Callable[[str], str | None] | None = None) -> bool:
    """Whether every package's installed version (`installed`, default installed_version)
    is inside its PEP 440 specifier set (a package that is not installed matches nothing)."""
    if not specifiers:
        return True
    installed = installed or installed_version

    for package, specifier in specifiers.items():
        version = installed(package)
        if version is None:
            return False
        try:
            # A local label (torch's "+cpu") is ignored by a specifier without one.
            if not SpecifierSet(specifier).contains(Version(version), prereleases=True):
                return False
        except InvalidVersion:
            return False
    return True


# framework -> the distributions it needs: what registry entries' and exclusions'
# `versions` may name, what results.json lists, what the version matrix varies. The
# frameworks beyond torch and MindSpore are the optional extra "family" (pyproject.toml):
# without it their implementations are not in DEFAULT_IMPLEMENTATIONS.
FRAMEWORK_PACKAGES: dict[str, tuple[str, ...]] = {
    "reference": (), "torch": ("torch",), "mindspore": ("mindspore",), "optax": ("jax", "jaxlib", "optax"),
    "keras": ("keras", "jax", "jaxlib"), "paddle": ("paddlepaddle",)}
PACKAGES: tuple[str, ...] = tuple(dict.fromkeys(p for ps in FRAMEWORK_PACKAGES.values() for p in ps))


def framework_available(framework: str) -> bool:
    """Whether every distribution the framework needs is installed (read from metadata:
    nothing is imported). A framework the table does not know (a test-only one): yes."""
    return all(installed_version(package) is not None for package in FRAMEWORK_PACKAGES.get(framework, ()))


# --------------------------------------------------------------------------- the catalogue

# What every dense torch.optim form shares: torch has no Nesterov Adam (passed under its
# own name, torch rejects it), and updates every row (row-sparse gradients reach it as
# the dense gradient of a gather, zeros in the rows not listed: non-lazy Adam). loss_scale:
# torch receives the unscaled gradients, which is what loss scaling recovers; use_locking,
# use_offload and use_lazy with dense gradients do not change single-process math.
_NO_EPS_ROOT = "eps_root > 0: optax's eps_root (inside the square root) has no counterpart in"
_TORCH_DENSE = (
    no_counterpart("use_nesterov=True: torch.optim has no Nesterov Adam", use_nesterov=True),
    no_counterpart(f"{_NO_EPS_ROOT} torch.optim", eps_root="nonzero"),
    no_counterpart("lazy Adam (use_lazy with row-sparse gradients): torch.optim.Adam updates every row",
                   use_lazy=True, layout="row_sparse"),
)

# What every nn.Adam form shares (mindspore/nn/optim/adam.py, measured on MindSpore 2.10 CPU).
_NN_ADAM = (
    no_counterpart("maximize=True: nn.Adam has no maximize", maximize=True),
    no_counterpart(f"{_NO_EPS_ROOT} nn.Adam", eps_root="nonzero"),
    no_counterpart("decoupled_weight_decay=True: nn.Adam's weight decay is L2 (AdamWeightDecay is another class)",
                   decoupled_weight_decay=True),
    # The CPU Adam kernel's infer check: "input argument[grad] must be a type of {Float16, Float32}".
    unsupported("dtype bfloat16: not accepted by the CPU Adam kernels", dtype="bfloat16"),
    unsupported("dtype float64 without amsgrad: the CPU Adam kernel takes float16 and float32",
                dtype="float64", amsgrad=False, layout=("dense", "missing")),
    # ApplyAdamWithAmsgradV2 runs float32 and float64; float16: "Data type conversion is not
    # supported for a 'Parameter'".
    unsupported("dtype float16 with use_amsgrad: ApplyAdamWithAmsgradV2 rejects float16", dtype="float16",
                amsgrad=True),
    unsupported("0-d parameters with use_amsgrad: the ApplyAdamWithAmsgradV2 CPU kernel's resize fails",
                amsgrad=True, scalar_params=True),
    # Adam.__init__: "'use_lazy' and 'use_offload' can not both be True"; "there is no
    # parameter named 'use_amsgrad'" for lazy Adam and Adam with offload.
    unsupported("use_lazy with use_offload: nn.Adam refuses the pair (ValueError)", use_lazy=True, use_offload=True),
    unsupported("use_amsgrad with use_lazy: nn.Adam refuses the pair (ValueError)", amsgrad=True, use_lazy=True),
    unsupported("use_amsgrad with use_offload: nn.Adam refuses the pair (ValueError)", amsgrad=True,
                use_offload=True),
    # "For primitive[AdamNoUpdateParam], the input argument[grad] must be a type of {Tensor[Float32]}".
    unsupported("use_offload with another dtype than float32: AdamNoUpdateParam takes float32 only", use_offload=True,
                dtype=("float16", "bfloat16", "float64")),
    unsupported("0-d parameters with use_offload: AdamNoUpdateParam needs at least 1-D", use_offload=True,
                scalar_params=True),
    # _check_param_value: beta1, beta2 in the open interval (0, 1); torch accepts 0 <= beta < 1.
    unsupported("betas outside MindSpore's open interval (0, 1)", betas_outside_open_interval=True),
    # Measured (2.10, GRAPH_MODE, both targets): "Data type conversion is not supported for a
    # 'Parameter' ... the argument[x]'s data type of primitive[ScatterAdd] is Float16"
    # (FusedSparseAdam / FusedSparseLazyAdam with target='CPU'), lazy or not.
    unsupported("row-sparse gradients in float16: ScatterAdd (default target) and the Fused sparse kernels "
                "(target='CPU') reject a float16 Parameter", layout="row_sparse", dtype="float16"),
    # Measured: "For 'MultitypeFuncGraph', cannot find fn match given args": _adam_opt has
    # no RowTensor overload taking vhat (amsgrad), _run_off_load_opt takes dense Tensors only.
    unsupported("row-sparse gradients with use_amsgrad: nn.Adam has no sparse amsgrad path ('cannot find fn "
                "match')", layout="row_sparse", amsgrad=True),
    unsupported("row-sparse gradients with use_offload: the offload path takes dense gradients only ('cannot "
                "find fn match')", layout="row_sparse", use_offload=True),
)
_NN_ADAM_PYNATIVE = (
    unsupported("row-sparse gradients in PyNative: a RowTensor cannot enter the optimizer's graph from Python",
                layout="row_sparse"),
)
# MindSpore indexes a learning_rate list or Tensor by global_step: step len + 1 raises
# RuntimeError "For 'Gather', the 'input_indices' should be in the range [0, len)".
_LR_INDEXED = unsupported("a learning_rate list shorter than the run: MindSpore indexes it by global_step "
                          "and fails past its end", lr_list_shorter_than_run=True)

# mindspore.mint.optim.Adam: the torch-style API (lr, betas, eps, weight_decay, amsgrad, maximize).
_MINT = (
    no_counterpart(f"{_NO_EPS_ROOT} mint.optim.Adam", eps_root="nonzero"),
    no_counterpart("a per-step lr list: mint takes a float or a scalar Tensor (schedules are LRScheduler objects)",
                   lr="list"),
    no_counterpart("decoupled_weight_decay=True: mint.optim.Adam's weight decay is L2 (mint.optim.AdamW is another "
                   "class)", decoupled_weight_decay=True),
    *(no_counterpart(f"{key}=True: a MindSpore nn.Adam option mint.optim.Adam does not take", **{key: True})
      for key in ("use_locking", "use_nesterov", "use_lazy", "use_offload")),
    no_counterpart("loss_scale: a MindSpore nn.Adam option mint.optim.Adam does not take", loss_scale="other"),
    # "Select CPU operator[Sqrt] fail! Unsupported data type" (Sqrt has float16/32/64 kernels).
    unsupported("dtype bfloat16: no CPU Sqrt kernel for bfloat16", dtype="bfloat16"),
)
_MINT_PYNATIVE = (
    # Measured on 2.7.0 and 2.7.2: the first step raises RuntimeError "The kernel Muls
    # unregistered." in PyNative on the CPU (GRAPH_MODE runs); 2.8.0 and later run it.
    unsupported("PyNative on the CPU: the first step raises 'The kernel Muls unregistered'",
                versions={"mindspore": "<2.8"}),
    # Measured on 2.10: the same case (g = 1e-40 then 1e-40, float32) gave exp_avg 1.9e-41
    # (the spec's), 1.0e-41 (the beta multiply read m as 0) and 0 (every product flushed)
    # in one process, depending on what ran before it: whether an op flushes subnormals
    # depends on the state of the thread that runs it. nn.Adam's kernel and the compiled
    # form flush consistently (registry: mindspore-kernel-flush-to-zero, mindspore-mint-betas-float32).
    unreliable("subnormal moments in PyNative: whether mint's ops flush subnormal values depends on what ran "
               "before in the process", subnormal_moments_possible=True),
)

# framework -> its wing (harness/adapters/): the package whose setup() prepares the
# framework's runtime and whose translate.py turns a case into its arguments. The numpy
# reference has no wing of its own to set up: harness/adapters/reference.py.
WINGS: dict[str, str] = {"torch": "harness.adapters.torch", "mindspore": "harness.adapters.mindspore",
                         "optax": "harness.adapters.optax", "keras": "harness.adapters.keras",
                         "paddle": "harness.adapters.paddle"}
_TORCH, _MS, _REFERENCE = WINGS["torch"], WINGS["mindspore"], "harness.adapters.reference"
_OPTAX, _KERAS, _PADDLE = WINGS["optax"], WINGS["keras"], WINGS["paddle"]

# ---- mindspore AdamW records (nn.AdamWeightDecay, experimental.optim.AdamW, mint.optim.AdamW)
# What the three AdamW classes cannot ask for: L2 weight decay (they always decouple),
# and nn.Adam's MindSpore-only options.
_MS_ADAMW = (
    no_counterpart("L2 weight decay (decoupled_weight_decay=False with weight_decay > 0): the AdamW classes only "
                   "decouple", decoupled_weight_decay=False, weight_decay="nonzero"),
    *(no_counterpart(f"{key}=True: a MindSpore nn.Adam option the AdamW classes do not take", **{key: True})
      for key in ("use_locking", "use_nesterov", "use_lazy", "use_offload")),
    no_counterpart("loss_scale: a MindSpore nn.Adam option the AdamW classes do not take", loss_scale="other"),
    no_counterpart(f"{_NO_EPS_ROOT} MindSpore's AdamW classes", eps_root="nonzero"),
)
_MINDSPORE_ADAMW_RECORDS: tuple[Implementation, ...] = (
    Implementation("mindspore-adamweightdecay", "mindspore", f"{_MS}.adamw:MindSporeAdamWeightDecayAdapter",
                   "mindspore.nn.AdamWeightDecay(params, learning_rate, beta1, beta2, eps, weight_decay); "
                   "optimizer(grads)", "PyNative (MindSpore's default; construct is @jit)", _MS_ADAMW + (
                       no_counterpart("amsgrad=True: nn.AdamWeightDecay has no amsgrad", amsgrad=True),
                       no_counterpart("maximize=True: nn.AdamWeightDecay has no maximize", maximize=True),
                       # "Select CPU operator[AdamWeightDecay] fail! Unsupported data type!"
                       unsupported("dtype bfloat16: no CPU AdamWeightDecay kernel for bfloat16", dtype="bfloat16"),
                       # _check_param_value: beta1, beta2 in the open interval (0, 1).
                       unsupported("betas outside MindSpore's open interval (0, 1)",
                                   betas_outside_open_interval=True),
                       _LR_INDEXED),
                   optimizer="mindspore.nn.AdamWeightDecay", bare_loop=f"{_MS}.bare:adam_weight_decay",
                   reproducer=f"{_MS}.reproducer:NN_ADAM_WEIGHT_DECAY"),
    Implementation("mindspore-experimental-adamw", "mindspore", f"{_MS}.adamw:MindSporeExperimentalAdamWAdapter",
                   "mindspore.experimental.optim.AdamW(params, lr, betas, eps, weight_decay, amsgrad, maximize=); "
                   "optimizer(grads)", "PyNative (MindSpore's default; its arithmetic is an @jit method)",
                   _MS_ADAMW + (
                       # AdamW.__init__: `if lr < 0.0` on a list: "TypeError: '<' not supported".
                       no_counterpart("a per-step lr list: experimental AdamW takes a float or a Tensor (schedules "
                                      "are LRScheduler objects)", lr="list"),
                       # "Select CPU operator[TensorMove] fail! Unsupported data type!"
                       unsupported("dtype bfloat16: no CPU TensorMove kernel for bfloat16", dtype="bfloat16"),
                       # Measured (2.10): a 0-d float16 parameter, amsgrad or not, raises at step 1
                       # "TypeError: Data type conversion is not supported for a 'Parameter', nor
                       # for the input tensor of an in-place operator, so data type Float16, which
                       # cannot be converted to data type Float32 automatically" (0-d against the
                       # 0-d float32 lr / step-size Tensors, the result is float32); 1-d and up run.
                       unsupported("0-d float16 parameters: step 1 raises TypeError 'Data type conversion is not "
                                   "supported for a Parameter ... Float16 ... to Float32'", dtype="float16",
                                   scalar_params=True),
                   ),
                   optimizer="mindspore.experimental.optim.AdamW", bare_loop=f"{_MS}.bare:experimental_adamw",
                   reproducer=f"{_MS}.reproducer:EXPERIMENTAL_ADAMW"),
    Implementation("mindspore-mint-adamw", "mindspore", f"{_MS}.adamw:MindSporeMintAdamWAdapter",
                   "mindspore.mint.optim.AdamW(params, lr, betas, eps, weight_decay, amsgrad, maximize=); "
                   "optimizer(grads)", "PyNative (MindSpore's default: no mode is set)", _MS_ADAMW + (
                       no_counterpart("a per-step lr list: mint takes a float (schedules are LRScheduler objects)",
                                      lr="list"),
                       # Measured (2.10): the first step raises "RuntimeError: The kernel AdamW
                       # unregistered." (GRAPH_MODE: "Unsupported op [AdamW] on CPU"); the class
                       # documents "Supported Platforms: Ascend".
                       unsupported("the CPU backend: the first step raises 'RuntimeError: The kernel AdamW "
                                   "unregistered.' (gen.AdamW has no CPU kernel; documented for Ascend only)"),
                   ),
                   optimizer="mindspore.mint.optim.AdamW", bare_loop=f"{_MS}.bare:mint_adamw",
                   reproducer=f"{_MS}.reproducer:MINT_ADAMW"),
)
# ---- end mindspore AdamW records

# ---- optax records (optax.adam / optax.adamw, jax_enable_x64 off and on, mu_dtype)
# What every optax record shares (optax 0.2.8, optax/_src/alias.py adam / adamw; the
# translation is harness/adapters/optax/translate.py). Passed under their own names,
# optax's aliases reject these with a TypeError.
_OPTAX_SHARED = (
    no_counterpart("amsgrad=True: optax.adam has no amsgrad (optax.amsgrad is another alias, whose maximum is "
                   "taken over the bias-corrected nu, optax/_src/transform.py scale_by_amsgrad)", amsgrad=True),
    no_counterpart("maximize=True: optax has no maximize (users negate the loss)", maximize=True),
    no_counterpart("use_nesterov=True: optax's nesterov=True is Dozat's NAdam, b1 m_t / (1 - b1^(t+1)) + "
                   "(1 - b1) g_t / (1 - b1^t), not MindSpore's (b1 m_t + (1 - b1) g_t) / (1 - b1^t) "
                   "(step 1, b1 = 0.9: 1.47 g against 1.9 g)", use_nesterov=True),
    no_counterpart("loss_scale: optax has no loss scaling (its gradients are the unscaled ones)",
                   loss_scale="other"),
    no_counterpart("lazy Adam (use_lazy with row-sparse gradients): optax updates every element of the dense "
                   "gradient of a gather", use_lazy=True, layout="row_sparse"),
    no_counterpart("parameter groups: optax.adam takes one set of hyperparameters for the whole tree "
                   "(per-subtree values are optax.partition of several optimizers, each with its own count)",
                   groups="groups"),
)
# Without jax_enable_x64 jax has no float64 arrays (measured, jax 0.7.1): the case's
# float64 values asked for as float64 come back float32 with jax's warning.
_OPTAX_NO_X64 = (
    unsupported("dtype float64 without jax_enable_x64: jax has no float64 arrays, it warns and truncates them to "
                "float32 (the -x64 records run float64)", dtype="float64"),
)
_OPTAX_ADAM_ONLY = (
    no_counterpart("decoupled_weight_decay=True: optax.adam has no weight decay of its own; decoupled decay is "
                   "optax.adamw", decoupled_weight_decay=True, weight_decay="nonzero"),
)
_OPTAX_ADAMW_ONLY = (
    no_counterpart("L2 weight decay (decoupled_weight_decay=False with weight_decay > 0): optax.adamw only "
                   "decouples", decoupled_weight_decay=False, weight_decay="nonzero"),
)
_OPTAX_ADAM_CALL = ("optax.adam(learning_rate, b1, b2, eps, eps_root); with L2 weight decay "
                    "optax.chain(optax.add_decayed_weights(weight_decay), optax.adam(...)); a per-step lr as "
                    "learning_rate=lambda count: table[count]")
_OPTAX_ADAMW_CALL = ("optax.adamw(learning_rate, b1, b2, eps, eps_root, weight_decay) (optax's default "
                     "weight_decay 1e-4, torch AdamW's 1e-2: the case's is passed); a per-step lr as "
                     "learning_rate=lambda count: table[count]")
_OPTAX_MODE = ("jax.jit of the training step: updates, state = tx.update(grads, state, params); "
               "params = optax.apply_updates(params, updates) (CPU)")
_OPTAX_MODE_DEFAULT = _OPTAX_MODE + ", jax_enable_x64 off (jax's default)"
_OPTAX_RECORDS: tuple[Implementation, ...] = (
    Implementation("optax-adam", "optax", f"{_OPTAX}.adam:OptaxAdapter", _OPTAX_ADAM_CALL,
                   _OPTAX_MODE_DEFAULT, _OPTAX_SHARED + _OPTAX_NO_X64 + _OPTAX_ADAM_ONLY,
                   optimizer="optax.adam", bare_loop=f"{_OPTAX}.bare:adam", reproducer=f"{_OPTAX}.reproducer:ADAM"),
    Implementation("optax-adamw", "optax", f"{_OPTAX}.adam:OptaxAdamWAdapter", _OPTAX_ADAMW_CALL,
                   _OPTAX_MODE_DEFAULT, _OPTAX_SHARED + _OPTAX_NO_X64 + _OPTAX_ADAMW_ONLY,
                   optimizer="optax.adamw", bare_loop=f"{_OPTAX}.bare:adam", reproducer=f"{_OPTAX}.reproducer:ADAM"),
    Implementation("optax-adam-x64", "optax", f"{_OPTAX}.adam:OptaxAdamX64Adapter", _OPTAX_ADAM_CALL,
                   _OPTAX_MODE + ", under jax.experimental.enable_x64()", _OPTAX_SHARED + _OPTAX_ADAM_ONLY,
                   optimizer="optax.adam", options={"jax_enable_x64": True}, bare_loop=f"{_OPTAX}.bare:adam",
                   reproducer=f"{_OPTAX}.reproducer:ADAM"),
    Implementation("optax-adamw-x64", "optax", f"{_OPTAX}.adam:OptaxAdamWX64Adapter", _OPTAX_ADAMW_CALL,
                   _OPTAX_MODE + ", under jax.experimental.enable_x64()", _OPTAX_SHARED + _OPTAX_ADAMW_ONLY,
                   optimizer="optax.adamw", options={"jax_enable_x64": True}, bare_loop=f"{_OPTAX}.bare:adam",
                   reproducer=f"{_OPTAX}.reproducer:ADAM"),
    Implementation("optax-adam-mu-bfloat16", "optax", f"{_OPTAX}.adam:OptaxAdamMuBfloat16Adapter",
                   "optax.adam(learning_rate, b1, b2, eps, eps_root, mu_dtype=jnp.bfloat16) (the first moment "
                   "kept in bfloat16, as large-model training configs set it); L2 decay and a per-step lr as for "
                   "optax-adam",
                   _OPTAX_MODE_DEFAULT, _OPTAX_SHARED + _OPTAX_NO_X64 + _OPTAX_ADAM_ONLY,
                   optimizer="optax.adam", options={"mu_dtype": "bfloat16"}, bare_loop=f"{_OPTAX}.bare:adam",
                   reproducer=f"{_OPTAX}.reproducer:ADAM"),
    # torch's amsgrad=True in optax: another alias, optax.amsgrad (whose maximum is taken over
    # the bias-corrected nu: registered).
    Implementation("optax-amsgrad", "optax", f"{_OPTAX}.adam:OptaxAmsgradAdapter",
                   "optax.amsgrad(learning_rate, b1, b2, eps, eps_root); L2 decay and a per-step lr as for "
                   "optax-adam", _OPTAX_MODE_DEFAULT,
                   tuple(e for e in _OPTAX_SHARED if "amsgrad" not in e.when) + _OPTAX_NO_X64 + _OPTAX_ADAM_ONLY + (
                       no_counterpart("amsgrad=False: optax.amsgrad always keeps the maximum (plain Adam is "
                                      "optax.adam)", amsgrad=False),),
                   optimizer="optax.amsgrad", bare_loop=f"{_OPTAX}.bare:adam",
                   reproducer=f"{_OPTAX}.reproducer:ADAM"),
)
# ---- end optax records

# ---- keras records (keras.optimizers.Adam / AdamW on the jax backend)
# What keras.optimizers.Adam and AdamW share (keras/src/optimizers/adam.py, adamw.py,
# base_optimizer.py; measured on Keras 3.15.1, jax 0.7.1, CPU, jax_enable_x64 off).
# Options Keras does not take are passed under their own names: BaseOptimizer raises
# ValueError "Argument(s) not recognized: {...}". Weight decay is decoupled in every
# Keras optimizer (base_optimizer.py _apply_weight_decay: var -= var * wd * lr, before
# the update); loss_scale is Keras's loss_scale_factor (gradients divided by it);
# use_locking, use_offload: single-process math unchanged.
_KERAS_ADAM = (
    no_counterpart("maximize=True: Keras's Adam has no maximize", maximize=True),
    no_counterpart(f"{_NO_EPS_ROOT} keras.optimizers.Adam", eps_root="nonzero"),
    no_counterpart("use_nesterov=True: Keras's Adam has no Nesterov form (Nadam is another algorithm)",
                   use_nesterov=True),
    no_counterpart("L2 weight decay (decoupled_weight_decay=False with weight_decay > 0): Keras's weight_decay is "
                   "decoupled in every optimizer", decoupled_weight_decay=False, weight_decay="nonzero"),
    no_counterpart("lazy Adam (use_lazy with row-sparse gradients): on the jax backend Keras updates every row",
                   use_lazy=True, layout="row_sparse"),
    no_counterpart("parameter groups: a Keras optimizer has one learning_rate and one weight_decay for all its "
                   "variables", groups="groups"),
    # jax_enable_x64 off (JAX's default): keras.Variable(dtype="float64") holds float32
    # values and Keras computes in float32; the adapter makes JAX's warning its error.
    unsupported("dtype float64: on the jax backend without jax_enable_x64 (JAX's default) a float64 variable is "
                "float32: UserWarning 'Explicitly requested dtype float64 requested in asarray is not available, "
                "and will be truncated to dtype float32'", dtype="float64"),
    unsupported("a step at which no parameter has a gradient: apply_gradients raises ValueError 'No gradients "
                "provided for any variable.'", step_without_gradients=True),
)

_KERAS_RECORDS: tuple[Implementation, ...] = (
    Implementation("keras-adam", "keras", f"{_KERAS}.adam:KerasAdapter",
                   "keras.optimizers.Adam(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay=, "
                   "loss_scale_factor=); optimizer.apply_gradients(zip(grads, variables))",
                   "eager (jax backend, op by op; CPU)", _KERAS_ADAM, optimizer="keras.optimizers.Adam",
                   bare_loop=f"{_KERAS}.bare:adam", reproducer=f"{_KERAS}.reproducer:ADAM"),
    Implementation("keras-adamw", "keras", f"{_KERAS}.adam:KerasAdamWAdapter",
                   "keras.optimizers.AdamW(learning_rate, weight_decay, beta_1, beta_2, epsilon, amsgrad, "
                   "loss_scale_factor=); optimizer.apply_gradients(zip(grads, variables))",
                   "eager (jax backend, op by op; CPU)", _KERAS_ADAM, optimizer="keras.optimizers.AdamW",
                   bare_loop=f"{_KERAS}.bare:adam", reproducer=f"{_KERAS}.reproducer:ADAMW"),
)
# ---- end keras records

# ---- paddle records (paddle.optimizer.Adam / AdamW, lazy_mode, multi_precision)
# What paddle.optimizer.Adam and AdamW share (python/paddle/optimizer/adam.py, adamw.py;
# measured on paddle 3.3.1 CPU, dygraph).
_PADDLE_SHARED = (
    no_counterpart("maximize=True: paddle's Adam/AdamW have no maximize", maximize=True),
    no_counterpart("use_nesterov=True: paddle's Adam has no Nesterov form", use_nesterov=True),
    no_counterpart("loss_scale: paddle's optimizers take no loss scale (paddle.amp.GradScaler unscales before "
                   "step)", loss_scale="other"),
    no_counterpart("eps_root: paddle's Adam/AdamW add epsilon outside the square root only", eps_root="nonzero"),
    # A group's learning_rate is a ratio of the optimizer's: a LambdaDecay schedule would scale it too.
    no_counterpart("a group with its own lr under a per-step lr: a group's learning_rate is a ratio of the "
                   "scheduled one", lr="list", group_lr=True),
    # "The kernel with key (CPU, Undefined(AnyLayout), float16) of kernel `adam` is not
    # registered ... Paddle support following DataTypes: float64, float32." (bfloat16 alike;
    # with multi_precision=True the same: the kernel is chosen by the parameter's dtype.)
    unsupported("dtype float16/bfloat16: the CPU adam/adamw kernels are registered for float32 and float64 only "
                "(RuntimeError: kernel not registered), multi_precision or not", dtype=("float16", "bfloat16")),
)
_PADDLE_RECORDS: tuple[Implementation, ...] = (
    Implementation("paddle-adam", "paddle", f"{_PADDLE}.adam:PaddleAdapter",
                   "paddle.optimizer.Adam(learning_rate, beta1, beta2, epsilon, parameters, weight_decay, lazy_mode, "
                   "amsgrad); loss.backward(); opt.step(); opt.clear_grad()", "dygraph (paddle's default), CPU",
                   _PADDLE_SHARED + (
                       no_counterpart("decoupled_weight_decay=True: Adam's weight_decay is L2Decay (AdamW is another "
                                      "class)", decoupled_weight_decay=True, weight_decay="nonzero"),
                       # Adam.step: "Adam don't support weight_decay with sparse parameters, please set it to None."
                       unsupported("row-sparse (SelectedRows) gradients with weight decay: Adam.step raises "
                                   "RuntimeError", layout="row_sparse", weight_decay="nonzero"),
                       # phi/kernels/funcs/adam_functors.h SparseAdamFunctor<T, CPUAdam>::operator()
                       # (the non-lazy path): `if (i == *(rows_ + j))` walks every row i against the
                       # sorted listed rows, and once all are consumed j is their count, so each
                       # row after the last listed one is compared with the word past the end of
                       # the row list: where that memory equals i, the row takes
                       # grad_[j * row_numel + k], also past the end (seen: exp_avg -1.6e19 on a
                       # suite run, where a replay of the same case alone passed).
                       unreliable("row-sparse gradients without use_lazy where a row lies after the last listed one: "
                                  "paddle's non-lazy SelectedRows Adam reads its row list (and then the gradient) "
                                  "past their end, so the result depends on memory contents", layout="row_sparse",
                                  use_lazy=False, rows_after_the_last_listed=True),
                   ), optimizer="paddle.optimizer.Adam", bare_loop=f"{_PADDLE}.bare:adam",
                   reproducer=f"{_PADDLE}.reproducer:ADAM"),
    Implementation("paddle-adamw", "paddle", f"{_PADDLE}.adam:PaddleAdamWAdapter",
                   "paddle.optimizer.AdamW(learning_rate, beta1, beta2, epsilon, parameters, weight_decay, lazy_mode, "
                   "amsgrad); loss.backward(); opt.step(); opt.clear_grad()", "dygraph (paddle's default), CPU",
                   _PADDLE_SHARED + (
                       no_counterpart("L2 weight decay (decoupled_weight_decay=False with weight_decay > 0): AdamW "
                                      "only decouples", decoupled_weight_decay=False, weight_decay="nonzero"),
                       # Measured: OSError "Invalid dimension to be accessed. Now only supports access to
                       # dimension 0 to 9, but received dimension is -1617068416" (a garbage dimension),
                       # lazy_mode or not; its docstring: "AdamW doesn't support sparse parameter optimization".
                       # Measured again in fresh processes: the dimension differs run by run
                       # and, as often as not, the process aborts (std::bad_alloc,
                       # std::bad_array_new_length): memory-dependent, so unreliable.
                       unreliable("row-sparse (SelectedRows) gradients: AdamW's step reads a garbage dimension, "
                                  "raising OSError 'Invalid dimension to be accessed' or aborting the process "
                                  "(std::bad_alloc) depending on memory contents (its docs: no sparse parameter "
                                  "optimization)", layout="row_sparse"),
                   ), optimizer="paddle.optimizer.AdamW", bare_loop=f"{_PADDLE}.bare:adam",
                   reproducer=f"{_PADDLE}.reproducer:ADAMW"),
)
# ---- end paddle records

IMPLEMENTATIONS: dict[str, Implementation] = {record.name: record for record in (
    Implementation("reference", "reference", f"{_REFERENCE}:ReferenceAdapter",
                   "reference.adam.adam_step per parameter per step", "numpy float64",
                   bare_loop=f"{_REFERENCE}:bare_loop"),
    Implementation("torch", "torch", f"{_TORCH}.adam:TorchAdapter",
                   "torch.optim.Adam(params, lr, betas, eps, weight_decay, amsgrad, maximize, decoupled_weight_decay)",
                   "eager (CPU: foreach=None picks the single-tensor path)", _TORCH_DENSE,
                   optimizer="torch.optim.Adam", bare_loop=f"{_TORCH}.bare:adam",
                   reproducer=f"{_TORCH}.reproducer:ADAM"),
    Implementation("torch-foreach", "torch", f"{_TORCH}.variants:TorchForeachAdapter",
                   "torch.optim.Adam(..., foreach=True)", "eager (_multi_tensor_adam)", _TORCH_DENSE,
                   optimizer="torch.optim.Adam", options={"foreach": True},
                   bare_loop=f"{_TORCH}.bare:adam", reproducer=f"{_TORCH}.reproducer:ADAM"),
    Implementation("torch-fused", "torch", f"{_TORCH}.variants:TorchFusedAdapter",
                   "torch.optim.Adam(..., fused=True)", "eager (the CPU fused kernel)", _TORCH_DENSE,
                   optimizer="torch.optim.Adam", options={"fused": True},
                   bare_loop=f"{_TORCH}.bare:adam", reproducer=f"{_TORCH}.reproducer:ADAM"),
    Implementation("torch-adamw", "torch", f"{_TORCH}.variants:TorchAdamWAdapter",
                   "torch.optim.AdamW(params, lr, betas, eps, weight_decay, amsgrad, maximize)", "eager",
                   _TORCH_DENSE + (no_counterpart("L2 weight decay (decoupled_weight_decay=False with weight_decay > 0):"
                                                  " AdamW only decouples", decoupled_weight_decay=False,
                                                  weight_decay="nonzero"),),
                   optimizer="torch.optim.AdamW", bare_loop=f"{_TORCH}.bare:adam",
                   reproducer=f"{_TORCH}.reproducer:ADAMW"),
    Implementation("torch-tensor-lr", "torch", f"{_TORCH}.variants:TorchTensorLrAdapter",
                   "torch.optim.Adam(params, lr=torch.tensor(lr, dtype=torch.float64), ...)", "eager", _TORCH_DENSE,
                   optimizer="torch.optim.Adam", bare_loop=f"{_TORCH}.bare:adam_tensor_lr",
                   reproducer=f"{_TORCH}.reproducer:TENSOR_LR"),
    Implementation("torch-differentiable", "torch", f"{_TORCH}.variants:TorchDifferentiableAdapter",
                   "torch.optim.Adam(..., differentiable=True) on non-leaf parameters", "eager, under autograd",
                   _TORCH_DENSE, optimizer="torch.optim.Adam", options={"differentiable": True},
                   bare_loop=f"{_TORCH}.bare:adam", reproducer=f"{_TORCH}.reproducer:NON_LEAF"),
    Implementation("torch-lr-scheduler", "torch", f"{_TORCH}.variants:TorchLrSchedulerAdapter",
                   "torch.optim.Adam + torch.optim.lr_scheduler.LambdaLR (scheduler.step() after every step)", "eager",
                   _TORCH_DENSE + (
                       no_counterpart("a schedule starting at lr = 0: LambdaLR scales the initial lr",
                                      lr_list_starts_at_zero=True),
                       no_counterpart("a group with its own lr: LambdaLR would scale it too", group_lr=True)),
                   optimizer="torch.optim.Adam", bare_loop=f"{_TORCH}.bare:adam_lr_scheduler",
                   reproducer=f"{_TORCH}.reproducer:LR_SCHEDULER"),
    Implementation("torch-sparse", "torch", f"{_TORCH}.sparse_adam:TorchSparseAdapter",
                   "torch.optim.SparseAdam(params, lr, betas, eps, maximize) with sparse COO gradients",
                   "eager", (
                       no_counterpart("dense gradients: SparseAdam takes sparse gradients only",
                                      layout=("dense", "missing")),
                       no_counterpart("non-lazy Adam (use_lazy=False): SparseAdam is lazy, it updates only the rows "
                                      "a gradient lists", use_lazy=False, layout="row_sparse"),
                       no_counterpart("weight decay: SparseAdam has none", weight_decay="nonzero"),
                       no_counterpart("decoupled_weight_decay=True: SparseAdam has no weight decay",
                                      decoupled_weight_decay=True),
                       no_counterpart("amsgrad=True: SparseAdam has no amsgrad", amsgrad=True),
                       no_counterpart("use_nesterov=True: torch.optim has no Nesterov Adam", use_nesterov=True),
                       no_counterpart(f"{_NO_EPS_ROOT} torch.optim", eps_root="nonzero"),
                       # torch/optim/sparse_adam.py: "Invalid learning rate" unless 0 < lr.
                       unsupported("lr = 0: SparseAdam requires 0 < lr (Adam accepts 0)", lr="zero"),
                   ), optimizer="torch.optim.SparseAdam", bare_loop=f"{_TORCH}.bare:sparse_adam",
                   bench_cases="row-sparse",  # SparseAdam rejects dense gradients
                   reproducer=f"{_TORCH}.reproducer:SPARSE_ADAM"),
    Implementation("mindspore", "mindspore", f"{_MS}.nn_adam:MindSporeAdapter",
                   "mindspore.nn.Adam(params, learning_rate, beta1, beta2, eps, use_locking, use_nesterov, "
                   "weight_decay, loss_scale, use_amsgrad, use_lazy=, use_offload=); optimizer(grads)",
                   "PyNative (MindSpore's default; construct is @jit)", _NN_ADAM + _NN_ADAM_PYNATIVE + (_LR_INDEXED,),
                   optimizer="mindspore.nn.Adam", bare_loop=f"{_MS}.bare:nn_adam",
                   reproducer=f"{_MS}.reproducer:NN_ADAM"),
    Implementation("mindspore-graph", "mindspore", f"{_MS}.nn_adam:MindSporeGraphAdapter",
                   "mindspore.nn.Adam, built and stepped under set_context(mode=GRAPH_MODE)", "GRAPH_MODE",
                   _NN_ADAM + (_LR_INDEXED,), optimizer="mindspore.nn.Adam", bare_loop=f"{_MS}.bare:nn_adam_graph",
                   reproducer=f"{_MS}.reproducer:NN_ADAM_GRAPH"),
    Implementation("mindspore-target-cpu", "mindspore", f"{_MS}.nn_adam:MindSporeTargetCpuAdapter",
                   "mindspore.nn.Adam with optimizer.target = 'CPU' (host Fused sparse kernels)", "GRAPH_MODE",
                   _NN_ADAM + (_LR_INDEXED, unsupported(
                       "row-sparse float64: the Fused sparse CPU kernels take float32", layout="row_sparse",
                       dtype="float64"),
                       # FusedSparseAdam (sparse_apply_adam_cpu_kernel.cc): with use_nesterov,
                       # ComputeAdam writes the Nesterov numerator m_t, a workspace buffer,
                       # for the listed rows only, and ComputeWeight then reads m_t for every
                       # row: a row not listed takes the value it had at the last step that
                       # listed it, or whatever the buffer held (seen: -6009.3 added to a
                       # parameter of -1 after other cases ran in the process).
                       unreliable("row-sparse gradients without use_lazy and with use_nesterov: FusedSparseAdam "
                                  "updates the rows a gradient does not list from an uninitialized workspace "
                                  "(m_t), so the result depends on memory contents", layout="row_sparse",
                                  use_lazy=False, use_nesterov=True)),
                   optimizer="mindspore.nn.Adam", bare_loop=f"{_MS}.bare:nn_adam_target_cpu",
                   bench_cases="row-sparse",  # with dense gradients it is mindspore-graph
                   reproducer=f"{_MS}.reproducer:NN_ADAM_TARGET_CPU"),
    Implementation("mindspore-lr-tensor", "mindspore", f"{_MS}.nn_adam:MindSporeLrTensorAdapter",
                   "mindspore.nn.Adam(learning_rate=Tensor(per-step values, float32))", "PyNative",
                   _NN_ADAM + _NN_ADAM_PYNATIVE + (_LR_INDEXED,), optimizer="mindspore.nn.Adam",
                   bare_loop=f"{_MS}.bare:nn_adam_lr_tensor",
                   bench_cases="lr-schedule",  # with a single lr it is mindspore
                   reproducer=f"{_MS}.reproducer:NN_ADAM_LR_TENSOR"),
    Implementation("mindspore-lr-schedule", "mindspore", f"{_MS}.nn_adam:MindSporeLrScheduleAdapter",
                   "mindspore.nn.Adam(learning_rate=LearningRateSchedule cell)", "PyNative",
                   _NN_ADAM + _NN_ADAM_PYNATIVE, optimizer="mindspore.nn.Adam",
                   bare_loop=f"{_MS}.bare:nn_adam_lr_schedule", bench_cases="lr-schedule",
                   reproducer=f"{_MS}.reproducer:NN_ADAM_LR_SCHEDULE"),
    Implementation("mindspore-mint", "mindspore", f"{_MS}.mint_adam:MindSporeMintAdapter",
                   "mindspore.mint.optim.Adam(params, lr, betas, eps, weight_decay, amsgrad, maximize); "
                   "optimizer(grads)", "PyNative (MindSpore's default: no mode is set)", _MINT + _MINT_PYNATIVE,
                   optimizer="mindspore.mint.optim.Adam", bare_loop=f"{_MS}.bare:mint_adam",
                   reproducer=f"{_MS}.reproducer:MINT"),
    Implementation("mindspore-mint-graph", "mindspore", f"{_MS}.mint_adam:MindSporeMintGraphAdapter",
                   "mindspore.mint.optim.Adam, built and stepped under set_context(mode=GRAPH_MODE)", "GRAPH_MODE",
                   # Measured: 2.10.0 raises "For 'Assign', the 'x' and 'y' must have the same
                   # dimension" (the update broadcasts to state_step's shape [1]); 2.7.0-2.9.0 run it.
                   _MINT + (unsupported("0-d parameters: the update broadcasts to state_step's shape [1] and the "
                                        "in-place add's Assign rejects the 0-d parameter", scalar_params=True,
                                        versions={"mindspore": ">=2.10"}),),
                   optimizer="mindspore.mint.optim.Adam", bare_loop=f"{_MS}.bare:mint_adam_graph",
                   reproducer=f"{_MS}.reproducer:MINT_GRAPH"),
    *_MINDSPORE_ADAMW_RECORDS, *_OPTAX_RECORDS, *_KERAS_RECORDS, *_PADDLE_RECORDS,
)}

# Every implementation whose framework is installed (the optional extra's may be absent).
DEFAULT_IMPLEMENTATIONS = tuple(name for name, record in IMPLEMENTATIONS.items()
                                if framework_available(record.framework))
# The seed's two frameworks as the table names them, and the spec: what the per-row modules run.
TABLE_IMPLEMENTATIONS = ("reference", "torch", "mindspore")

# Extra implementations, for the harness's own tests (never cases/): an environment
# variable so that isolated worker processes see them too, e.g.
#   OPTIM_PARITY_EXTRA_IMPLEMENTATIONS="crash-abort=/abs/tests/crashing_adapters.py:AbortAdapter"
EXTRA_ENV = "OPTIM_PARITY_EXTRA_IMPLEMENTATIONS"


def extra_implementations() -> dict[str, Implementation]:
    out = {}
    for item in filter(None, os.environ.get(EXTRA_ENV, "").split(";")):
        name, _, target = item.partition("=")
        name = name.strip()
        out[name] = Implementation(name, name.split("-", 1)[0], target.strip(), "(test-only)", "(test-only)")
    return out


def lookup(name: str) -> Implementation:
    """The record of `name` (KeyError for an unknown name)."""
    record = IMPLEMENTATIONS.get(name)
    return record if record is not None else extra_implementations()[name]


def known(name: str) -> bool:
    return name in IMPLEMENTATIONS or name in extra_implementations()


def framework_of(name: str) -> str:
    """The framework behind an implementation: its record's `framework` (the catalogue's,
    or a test-only extra implementation's). Only a name without any record (an
    implementation of another checkout, read from a results file) falls back to its
    first word, as implementation names start with their framework."""
    record = IMPLEMENTATIONS.get(name) or extra_implementations().get(name)
    return record.framework if record is not None else name.split("-", 1)[0]


def implementations(*, framework: str | None = None, within: Callable[[Implementation], bool] | None = None
                    ) -> tuple[str, ...]:
    """Names in catalogue order, optionally of one framework or matching `within`."""
    return tuple(name for name, record in IMPLEMENTATIONS.items()
                 if (framework is None or record.framework == framework) and (within is None or within(record)))


@dataclass(frozen=True)
class Outside:
    """Why a case is outside an implementation's space."""

    kind: str  # NO_COUNTERPART, UNSUPPORTED or UNRELIABLE
    reason: str

    @property
    def compared(self) -> bool:
        """Whether a run the framework completes is compared (a measured failure that
        does not happen is a stale claim, judged like any other case)."""
        return self.kind == UNSUPPORTED


def outside(name: str, case: Case) -> Outside | None:
    """None when the case is inside the implementation's space; else the exclusions that
    hold (no counterpart wins: what the API cannot ask for is not a claim to re-measure;
    then an unreliable result, which no comparison could judge)."""
    case_features = features(case)
    found = [e for e in lookup(name).applicable() if e.matches(case_features, case)]
    if not found:
        return None
    kind = next(k for k in (NO_COUNTERPART, UNRELIABLE, UNSUPPORTED) if any(e.kind == k for e in found))
    return Outside(kind, "; ".join(e.reason for e in found if e.kind == kind))


def describe(name: str) -> dict:
    """The record as JSON-ready data (results.json, the report)."""
    record = lookup(name)
    return {"name": record.name, "framework": record.framework, "call": record.call, "mode": record.mode,
            "exclusions": [{"kind": e.kind, "when": {k: (list(v) if isinstance(v, tuple) else v)
                                                     for k, v in e.when.items()},
                            "reason": e.reason, "versions": dict(e.versions), "applied": versions_match(e.versions)}
                           for e in record.exclusions]}


def check_catalogue() -> None:
    """Every exclusion names known factors, classes and predicates (run by the tests)."""
    for record in IMPLEMENTATIONS.values():
        for exclusion in record.exclusions:
            for key, wanted in exclusion.when.items():
                if key in _PREDICATES:
                    continue
                if key not in FACTORS:
                    raise ValueError(f"{record.name}: unknown factor {key!r} in {exclusion.reason!r}")
                for value in (wanted if isinstance(wanted, tuple) else (wanted,)):
                    if value not in FACTORS[key]:
                        raise ValueError(f"{record.name}: {key}={value!r} is not a class of {key}")

