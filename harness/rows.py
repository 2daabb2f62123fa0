"""The difference table for the Adam family, as data: the seed's PyTorch <-> MindSpore
rows, generalised to concepts every framework maps onto.

Source: MindSpore docs, "比较与torch.optim.Adam的差异" (note/api_mapping/pytorch_diff/Adam.md,
r2.1), kept in shared/seed/. Each row holds the names on both sides, the claim the seed
makes (original words and a translation), how a canonical case value becomes each
framework's constructor arguments, and the reference switches that model the row's
documented or suspected semantic differences (used by attribution: if switching one of
them brings an implementation back inside tolerance, the row explains the violation).

The seed's "kwargs" row is split into use_lazy and use_offload.

Each row is a concept (a hyperparameter, or how parameters are passed) with every
framework's own word for it (`names`: torch, mindspore, optax, keras, paddle; None where
the framework has no counterpart), so that attribution names the concept and each
framework's word for it (`word`). The seed's own columns (torch_name, mindspore_name and
its claim) stay as the seed wrote them. Rows beyond the seed (eps_root: optax's) have no
claim from it. Each optimizer's defaults, which differ between frameworks, are
harness/framework_defaults.py; the second seed table (MindSpore's AdamW page) is
SEED_TABLES below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.casefile import DEFAULT_HYPERPARAMETERS

# A variant switch set to this takes the case's dtype (harness/adapters/reference.py).
CASE_DTYPE = "case dtype"

SHARED = "shared"
MINDSPORE_ONLY = "mindspore-only"
OPTAX_ONLY = "optax-only"  # a concept no row of the seed has (eps_root)

FRAMEWORKS = ("torch", "mindspore", "optax", "keras", "paddle")


@dataclass(frozen=True)
class Row:
    id: str
    kind: str  # SHARED or MINDSPORE_ONLY
    torch_name: str | None
    mindspore_name: str | None
    claim_zh: str
    claim_en: str
    # Canonical hyperparameter key(s) the row governs.
    canonical_keys: tuple[str, ...]
    # canonical key -> torch.optim.Adam keyword (None: no torch counterpart).
    torch_args: dict[str, str | None] = field(default_factory=dict)
    # canonical key -> mindspore.nn.Adam keyword(s); betas splits into two.
    mindspore_args: dict[str, str | tuple[str, ...]] = field(default_factory=dict)
    # Reference switches (keywords of reference.adam.adam_step, plus the reference
    # adapter's per-parameter options) that model this row's semantic differences.
    variants: tuple[dict[str, Any], ...] = ()
    # The frameworks beyond the seed's two: framework -> its word for the concept (None:
    # no counterpart). torch's and MindSpore's are torch_name and mindspore_name.
    names: dict[str, str | None] = field(default_factory=dict)

    def word(self, framework: str) -> str | None:
        """The framework's own word for this row's concept (None: it has none)."""
        if framework == "torch":
            return self.torch_name
        if framework == "mindspore":
            return self.mindspore_name
        return self.names.get(framework)


ROWS: tuple[Row, ...] = (
    Row(
        id="params",
        kind=SHARED,
        torch_name="params",
        mindspore_name="params",
        claim_zh="一致",
        claim_en="consistent",
        canonical_keys=(),
        torch_args={},
        mindspore_args={},
        # The name-based weight-decay exemption of MindSpore's flat-list form is a
        # weight_decay row variant; group-mapping differences have no variant and show
        # up as "unexplained".
        # The parameters' dtype is the optimizer state's dtype: m and v held (and
        # rounded before use) in float16 underflow / overflow (torch's Adam keeps
        # exp_avg, exp_avg_sq as zeros_like(param)). Or the reverse: the step is computed
        # in float32 (opmath, torch's fused kernel) from moments not yet stored, so a moment
        # beyond the dtype's range is used as formed and only the stored one is +-inf
        # (storage_dtype None; attribution stores every state in the case dtype).
        # A parameter without a gradient at a step (torch: .grad None, skipped) updated
        # with a zero gradient instead (nn.Adam takes one gradient per parameter), or only
        # after the parameter's first gradient (Paddle: clear_grad() leaves zeros).
        # mint forms g * g as a tensor of the dtype too (overflow above |g| = 255.9 in float16).
        # The parameters are never written: the in-place update of the parameter (and of
        # the step counter) is lost, the moments are kept (mint in PyNative, MindSpore 2.10).
        variants=({"moments_dtype": CASE_DTYPE}, {"moments_dtype": CASE_DTYPE, "gradient_square_dtype": CASE_DTYPE},
                  {"storage_dtype": None}, {"missing_gradient": "zero"},
                  {"missing_gradient": "zero_after_first"}, {"parameter_update_lost": True},
                  # optax.adam(mu_dtype=jnp.bfloat16): the first moment kept in bfloat16, its
                  # decay term a bfloat16 product (beta1 0.9 -> 0.8984375).
                  {"first_moment_dtype": "bfloat16"},
                  # optax: the moments in the float16 dtype in the direct form (no lerp).
                  {"moments_dtype": CASE_DTYPE, "moments_direct_form": True},
                  {"moments_dtype": CASE_DTYPE, "gradient_square_dtype": CASE_DTYPE, "moments_direct_form": True},
                  # Keras: a missing gradient skips the variable, but its step is the
                  # optimizer's global iterations (the next update's bias correction).
                  {"missing_gradient_step": "global"}),
        names={"optax": "params (a pytree: tx.init(params), tx.update(grads, state, params))", "keras": "apply_gradients(zip(grads, variables))", "paddle": "parameters"},
    ),
    Row(
        id="lr",
        kind=SHARED,
        torch_name="lr",
        mindspore_name="learning_rate",
        claim_zh="功能一致，参数名不同",
        claim_en="same function, different name",
        canonical_keys=("lr",),
        torch_args={"lr": "lr"},
        mindspore_args={"lr": "learning_rate"},
        names={"optax": "learning_rate", "keras": "learning_rate", "paddle": "learning_rate"},
    ),
    Row(
        id="eps",
        kind=SHARED,
        torch_name="eps",
        mindspore_name="eps",
        claim_zh="一致",
        claim_en="consistent",
        canonical_keys=("eps",),
        torch_args={"eps": "eps"},
        mindspore_args={"eps": "eps"},
        # eps added to a denominator held in the parameter's dtype vanishes below half
        # its smallest subnormal (float16: 1e-8 -> 0), torch's single-tensor/foreach path.
        # optax: eps and eps_root weakly typed, so rounded to the parameters' dtype (float16: 0).
        variants=({"eps_placement": "before_bias_correction"}, {"denominator_dtype": CASE_DTYPE},
                  {"eps_in_dtype": CASE_DTYPE}),
        names={"optax": "eps", "keras": "epsilon", "paddle": "epsilon"},
    ),
    Row(
        id="weight_decay",
        kind=SHARED,
        torch_name="weight_decay",
        mindspore_name="weight_decay",
        claim_zh="一致",
        claim_en="consistent",
        # decoupled_weight_decay (torch's Adam keyword; AdamW is its decoupled class) has
        # no nn.Adam counterpart: the MindSpore adapter declares it unsupported.
        canonical_keys=("weight_decay", "decoupled_weight_decay"),
        torch_args={"weight_decay": "weight_decay", "decoupled_weight_decay": "decoupled_weight_decay"},
        mindspore_args={"weight_decay": "weight_decay"},
        # Decoupled decay (the spec's weight_decay_mode="decoupled") is AdamW's, a
        # different class on both sides; as a variant here it only landed borderline
        # elements inside tolerance by coincidence, so it is not offered.
        # paddle's AdamW kernels take the decoupled coefficient as a C++ float: float32 in a
        # float64 run.
        variants=({"weight_decay_exempt_substrings": ("beta", "gamma")}, {"weight_decay_float32": True}),
        names={"optax": "weight_decay (optax.adamw; optax.adam has none)", "keras": "weight_decay (decoupled, every optimizer)", "paddle": "weight_decay (Adam: L2Decay; AdamW: decoupled coefficient)"},
    ),
    Row(
        id="amsgrad",
        kind=SHARED,
        torch_name="amsgrad",
        mindspore_name="use_amsgrad",
        claim_zh="功能一致，参数名不同",
        claim_en="same function, different name",
        canonical_keys=("amsgrad",),
        torch_args={"amsgrad": "amsgrad"},
        mindspore_args={"amsgrad": "use_amsgrad"},
        variants=(
            {"amsgrad": "toggle"},
            # MindSpore's amsgrad kernel also runs float64 parameters, but with the
            # float32 lr, eps and weight decay nn.Adam hands every kernel (the float32
            # betas and the eps placement are the betas and eps rows' variants).
            {"hyperparameters_float32": True},
            # MindSpore's amsgrad kernel keeps vmax when v is NaN (v > vmax ? v : vmax).
            {"amsgrad_max_keeps_on_nan": True},
            # mint.optim.Adam's graph holds every hyperparameter as a float32 scalar
            # (betas, bias corrections from a float32 step counter, the step size) while
            # its arithmetic runs in float64: the same float32-accurate float64 run, with
            # mint's formula (eps after the bias correction).
            {"hyperparameters_float32": True, "betas_precision": "float32_scalars"},
            # ... and with amsgrad=True, which mint runs as plain Adam (it never stores
            # the running max; one row, so not a combination of two of its variants).
            {"hyperparameters_float32": True, "betas_precision": "float32_scalars", "amsgrad": "toggle"},
            # mint in PyNative: the same float32 scalars, the complements 1 - beta taken in
            # double first (the Python expression runs before the op).
            {"hyperparameters_float32": True, "betas_precision": "float32_scalars_eager"},
            {"hyperparameters_float32": True, "betas_precision": "float32_scalars_eager", "amsgrad": "toggle"},
            # optax.amsgrad: the maximum of the bias-corrected v_hat, not of the raw v.
            {"amsgrad_max_of_corrected": True},
            # experimental.optim.AdamW on float64: mint's float32 scalars, and the update reads
            # the moments rounded to float32 (decay factor fl32(1 - fl32(lr * wd))).
            {"hyperparameters_float32": True, "betas_precision": "float32_scalars", "update_reads_float32": True},
        ),
        names={"optax": "optax.amsgrad (an alias of its own)", "keras": "amsgrad", "paddle": "amsgrad"},
    ),
    Row(
        id="betas",
        kind=SHARED,
        torch_name="betas",
        mindspore_name="beta1, beta2",
        claim_zh="功能一致，参数名不同",
        claim_en="same function, different name",
        canonical_keys=("betas",),
        torch_args={"betas": "betas"},
        mindspore_args={"betas": ("beta1", "beta2")},
        # MindSpore's kernel arithmetic (float32 betas, increment form, flush to zero);
        # torch's lerp (rounded weight, lerp's arithmetic form); bias_correction_float32:
        # torch's differentiable/capturable branch computes 1 - beta^t from a float32 step
        # tensor (its float32 sqrt is only faithfully rounded on CPU: both neighbours are
        # offered, reference/adam.py).
        # SparseAdam's increment form: m += (g - m) * (1 - beta1) in the tensor dtype (exact betas).
        # MindSpore's in-graph sparse paths: float32 beta Tensors in the direct form.
        variants=({"betas_precision": "float32", "flush_subnormals": True}, {"betas_precision": "float32_direct"},
                  {"beta1_as_lerp_weight": True},
                  {"bias_correction_float32": "sqrt_rounded_down"}, {"bias_correction_float32": "sqrt_rounded_up"},
                  {"moments_increment_form": True},
                  # paddle's CPU kernels: betas, beta powers (running products) and bias
                  # corrections in the parameter's dtype, direct form (float32 for float32).
                  {"betas_precision": "kernel_dtype", "kernel_dtype": CASE_DTYPE},
                  # ... and its SelectedRows (row-sparse) kernel, which takes the bias
                  # corrections from the beta powers it has already advanced: 1 - beta^(t+1).
                  # row_sparse "selected_rows": that path sums repeated rows, as the spec
                  # reads them (nothing for the reference adapter to do); the key makes it a
                  # row-sparse path's variant, offered for row-sparse cases only (a step
                  # ahead is also what a zero gradient in place of a missing one does to the
                  # bias correction: there it is the params row's mechanism).
                  {"betas_precision": "kernel_dtype_step_ahead", "kernel_dtype": CASE_DTYPE,
                   "row_sparse": "selected_rows"},
                  # Keras's Adam: the betas cast to the variable's dtype and raised to t in
                  # it (bias corrections in it), complements 1 - beta from double, the
                  # increment form in the variable's dtype; with the eps row's eps-hat the
                  # step size and the update are ops in that dtype too.
                  # XLA's CPU ops flush subnormals (FTZ/DAZ) in their float32 arithmetic.
                  {"betas_precision": "dtype_powers", "kernel_dtype": CASE_DTYPE, "moments_increment_form": True,
                   "flush_subnormals": True},
                  # nn.AdamWeightDecay: no bias correction at all; and its CPU kernel as a
                  # whole (float32 betas in nn.Adam's kernel form, flush to zero; float16
                  # parameters computed in float16, float64 ones in float32).
                  {"bias_correction": False}, {"adam_weight_decay_kernel": CASE_DTYPE},
                  # optax without jax_enable_x64: 1 - fl32(fl32(beta)^t).
                  {"float32_beta_powers": True}),
        names={"optax": "b1, b2", "keras": "beta_1, beta_2", "paddle": "beta1, beta2"},
    ),
    Row(
        id="use_locking",
        kind=MINDSPORE_ONLY,
        torch_name=None,
        mindspore_name="use_locking",
        claim_zh="MindSpore的 `use_locking` 表示是否更新累加器，PyTorch无此参数",
        claim_en="MindSpore's use_locking says whether the accumulators are updated (under a lock); PyTorch has no such parameter",
        canonical_keys=("use_locking",),
        torch_args={"use_locking": None},
        mindspore_args={"use_locking": "use_locking"},
        names={"optax": None, "keras": None, "paddle": None},
    ),
    Row(
        id="use_nesterov",
        kind=MINDSPORE_ONLY,
        torch_name=None,
        mindspore_name="use_nesterov",
        claim_zh="MindSpore的 `use_nesterov` 表示是否使用NAG算法更新梯度，PyTorch无此参数",
        claim_en="MindSpore's use_nesterov says whether the NAG algorithm updates the gradients; PyTorch has no such parameter",
        canonical_keys=("use_nesterov",),
        torch_args={"use_nesterov": None},
        mindspore_args={"use_nesterov": "use_nesterov"},
        variants=({"nesterov": "toggle"},),
        # optax.adam(nesterov=True) is Dozat's NAdam, another algorithm (1.47 g against
        # MindSpore's 1.9 g at step 1, tests/test_optax_adapters.py): no counterpart.
        names={"optax": None, "keras": None, "paddle": None},
    ),
    Row(
        id="loss_scale",
        kind=MINDSPORE_ONLY,
        torch_name=None,
        mindspore_name="loss_scale",
        claim_zh="MindSpore的 `loss_scale` 为梯度缩放系数，PyTorch无此参数",
        claim_en="MindSpore's loss_scale is the gradient scaling factor; PyTorch has no such parameter",
        canonical_keys=("loss_scale",),
        # torch receives the unscaled gradients, which is what loss scaling recovers.
        torch_args={"loss_scale": None},
        mindspore_args={"loss_scale": "loss_scale"},
        # No variant: nn.Adam.construct calls decay_weight() before scale_grad(), which
        # reads as weight decay divided by loss_scale (the spec's
        # weight_decay_before_unscale switch), but MindSpore 2.10 was measured not to do
        # that (cases/reproducers history, README); a variant that is never right only
        # steals attributions from the weight_decay row.
        # Keras's loss_scale_factor divides the gradients by the scale as a number of their
        # dtype (float16: fl16(65536) = inf, every gradient 0 or NaN).
        variants=({"loss_scale_in_dtype": True},),
        names={"optax": None, "keras": "loss_scale_factor", "paddle": None},
    ),
    Row(
        id="use_lazy",
        kind=MINDSPORE_ONLY,
        torch_name=None,
        mindspore_name="use_lazy (kwargs)",
        claim_zh="MindSpore中 `kwargs` 中传入的入参名为\"use_lazy\"的参数可被解析生效，表示是否使用Lazy Adam算法，PyTorch无此参数",
        claim_en="kwargs use_lazy selects the Lazy Adam algorithm; PyTorch has no such parameter",
        canonical_keys=("use_lazy",),
        torch_args={"use_lazy": None},
        mindspore_args={"use_lazy": "use_lazy"},
        # Row-sparse gradients (the seed's one sparse row): with use_lazy and a repeated
        # index each copy updates the row on its own (MindSpore's in-graph lazy path)
        # instead of their sum; or the copies are summed but weight decay was added to
        # each listed copy and to no row not listed (nn.Optimizer's sparse weight decay,
        # target='CPU', lazy or not); or, without use_lazy, the in-graph path: that decay,
        # and each copy's square scatter-added into v instead of the square of their sum.
        variants=({"row_sparse": "separate"}, {"row_sparse": "decay_per_copy"}, {"row_sparse": "in_graph"}),
        names={"optax": None, "keras": None, "paddle": "lazy_mode"},
    ),
    Row(
        id="use_offload",
        kind=MINDSPORE_ONLY,
        torch_name=None,
        mindspore_name="use_offload (kwargs)",
        claim_zh="MindSpore中 `kwargs` 中传入的入参名为\"use_offload\"的参数可被解析生效，表示是否使用Offload Adam算法，PyTorch无此参数",
        claim_en="kwargs use_offload selects the Offload Adam algorithm; PyTorch has no such parameter",
        canonical_keys=("use_offload",),
        torch_args={"use_offload": None},
        mindspore_args={"use_offload": "use_offload"},
        names={"optax": None, "keras": None, "paddle": None},
    ),
    Row(
        id="eps_root",
        kind=OPTAX_ONLY,
        torch_name=None,
        mindspore_name=None,
        claim_zh="-",
        claim_en="not in the seed's table: optax's eps_root, added to v_hat inside the square root",
        canonical_keys=("eps_root",),
        torch_args={"eps_root": None},
        mindspore_args={},
        names={"optax": "eps_root", "keras": None, "paddle": None},
    ),
)

ROW_IDS: tuple[str, ...] = tuple(row.id for row in ROWS)
ROWS_BY_ID: dict[str, Row] = {row.id: row for row in ROWS}
UNEXPLAINED = "unexplained"

# Which framework's code a reference switch of the variants models (reference/adam.py),
# so that attribution explains an implementation only by mechanisms of its own framework.
# An exact coincidence otherwise wins by table order: on a one-step float64 case
# mint's float32 scalars (amsgrad row) reproduce torch-differentiable's float32 bias
# correction (betas row) to the bit, and the violation got the wrong row and no entry.
# A switch not listed models both frameworks (amsgrad toggle, eps placement: torch's
# SparseAdam too; the dtype switches: torch's and mint's float16 paths alike, and
# storage_dtype None is torch's fused kernel as much as nn.Adam's float32 CPU kernel).
SWITCH_FRAMEWORKS: dict[str, tuple[str, ...]] = {
    # paddle's CPU kernels: float32 betas in the direct form for float32 parameters, the
    # beta powers float32 running products (phi/kernels/funcs/adam_functors.h).
    "betas_precision": ("mindspore", "keras", "paddle"),
    # Arithmetic in the parameter's dtype: Keras' and paddle's kernels (keeps their betas
    # variants from MindSpore's attributions, where they fitted by coincidence).
    "kernel_dtype": ("keras", "paddle"),
    "flush_subnormals": ("mindspore", "keras"),
    "hyperparameters_float32": ("mindspore",),
    # MindSpore's amsgrad kernel (v > vmax ? v : vmax) and torch's fused CPU kernel (std::max).
    "amsgrad_max_keeps_on_nan": ("mindspore", "torch"),
    "weight_decay_exempt_substrings": ("mindspore",),
    "weight_decay_float32": ("paddle",),
    # jax.grad gives a parameter the loss does not use zeros, which optax users pass on.
    "missing_gradient": ("mindspore", "optax", "paddle"),
    "missing_gradient_step": ("keras",),
    "loss_scale_in_dtype": ("keras",),
    "parameter_update_lost": ("mindspore",),
    "nesterov": ("mindspore",),
    "row_sparse": ("mindspore", "paddle"),
    "beta1_as_lerp_weight": ("torch",),
    "bias_correction_float32": ("torch",),
    "moments_increment_form": ("torch", "keras"),
    "first_moment_dtype": ("optax",),
    "float32_beta_powers": ("optax",),
    "eps_in_dtype": ("optax",),
    "moments_direct_form": ("optax",),
    "amsgrad_max_of_corrected": ("optax",),
    "bias_correction": ("mindspore",),
    "adam_weight_decay_kernel": ("mindspore",),
    "update_reads_float32": ("mindspore",),
}


# Switches that model how an input reaches the optimizer rather than how it computes (a
# missing gradient fed as zeros, an in-place write that is lost): a variant made of them
# combines with the other variants of its row in attribution (harness/attribution.py),
# where a row's variants are otherwise alternatives (mint in float16 with a missing
# gradient: zeros fed in, and moments held in float16, both params-row mechanisms).
COMBINABLE_SWITCHES = frozenset({"missing_gradient", "parameter_update_lost", "missing_gradient_step"})


def exercised_rows(case: Any) -> list[str]:
    """The rows of the table a case exercises (every row counts each case it exercises,
    harness/verdicts.py): a row whose option the case sets to a non-default value (a
    group's own lr or weight decay included), `params` for several parameters or groups,
    `defaults` for a case that sets nothing."""
    set_keys = {key for key, value in case.hyperparameters.items() if value != DEFAULT_HYPERPARAMETERS[key]}
    for group in case.param_groups:
        set_keys |= {key for key in ("lr", "weight_decay") if getattr(group, key) is not None}
    out = [row.id for row in ROWS if set(row.canonical_keys) & set_keys]
    if len(case.params) > 1 or case.param_groups:
        out.insert(0, "params")
    return out or ["defaults"]


# Switches that model one implementation's code only (the rest of its framework never
# does it): offered to that implementation alone.
SWITCH_IMPLEMENTATIONS: dict[str, tuple[str, ...]] = {
    "parameter_update_lost": ("mindspore-mint",),
    "moments_increment_form": ("torch-sparse", "keras-adam", "keras-adamw"),
    "first_moment_dtype": ("optax-adam-mu-bfloat16",),
    # jax_enable_x64 off: the -x64 records form beta^t in float64.
    "float32_beta_powers": ("optax-adam", "optax-adamw", "optax-adam-mu-bfloat16", "optax-amsgrad"),
    "amsgrad_max_of_corrected": ("optax-amsgrad",),
    "bias_correction": ("mindspore-adamweightdecay",),
    "adam_weight_decay_kernel": ("mindspore-adamweightdecay",),
    "update_reads_float32": ("mindspore-experimental-adamw",),
}


def variant_models_implementation(variant: dict, implementation: str) -> bool:
    """Whether no switch of `variant` is specific to another implementation."""
    return all(implementation in SWITCH_IMPLEMENTATIONS.get(switch, (implementation,)) for switch in variant)


def variant_models(variant: dict, framework: str) -> bool:
    """Whether every switch of `variant` models code of `framework` (a framework this
    table does not know, e.g. a test-only implementation, takes every variant)."""
    if framework not in FRAMEWORKS:
        return True
    return all(framework in SWITCH_FRAMEWORKS.get(switch, (framework,)) for switch in variant)


# The seed's overall claim, measured by cases/test_defaults.py.
DEFAULTS_CLAIM_ZH = "`mindspore.nn.Adam` 可以覆盖 `torch.optim.Adam` 的功能，且默认参数下功能一致。"
DEFAULTS_CLAIM_EN = "mindspore.nn.Adam covers torch.optim.Adam's functionality, and under default arguments they behave the same."


# --------------------------------------------------------------------------- seed tables

SAME_DEFAULTS = "same"
DIFFERENT_DEFAULTS = "different"


@dataclass(frozen=True)
class SeedClaim:
    """One row of a seed page's table: a concept (a row of ROWS) and what the page says."""

    row: str  # the concept's row id in ROWS
    torch_name: str | None
    mindspore_name: str | None
    claim_zh: str
    claim_en: str
    # What the claim says of the two defaults: SAME_DEFAULTS, DIFFERENT_DEFAULTS, or None
    # (nothing); measured against harness/framework_defaults.py.
    defaults_claim: str | None = None


@dataclass(frozen=True)
class SeedTable:
    id: str
    title: str
    source: str
    # The two entry points (harness/framework_defaults.py) and the implementations that
    # call them as the page's users do (harness/catalogue.py).
    torch_entry: str
    mindspore_entry: str
    implementations: tuple[str, ...]
    overall_claim_zh: str
    overall_claim_en: str
    claims: tuple[SeedClaim, ...]


# The second seed: MindSpore's API-mapping page for AdamW (harness/seeds/README.md).
ADAMW_SEED = SeedTable(
    id="adamw",
    title="torch.optim.AdamW ↔ mindspore.nn.AdamWeightDecay",
    source="mindspore-ai/docs docs/mindspore/source_zh_cn/note/api_mapping/pytorch_diff/AdamWeightDecay.md "
           "(master; harness/seeds/README.md)",
    torch_entry="torch.optim.AdamW",
    mindspore_entry="mindspore.nn.AdamWeightDecay",
    implementations=("torch-adamw", "mindspore-adamweightdecay"),
    overall_claim_zh="PyTorch和MindSpore此优化器实现算法不同，详情请参考官网公式。",
    overall_claim_en="PyTorch and MindSpore implement this optimizer with different algorithms (see the formulas).",
    claims=(
        SeedClaim("params", "params", "params", "功能一致", "consistent"),
        SeedClaim("lr", "lr", "learning_rate", "功能一致，参数名及默认值不同",
                  "same function, different parameter name and default", DIFFERENT_DEFAULTS),
        SeedClaim("betas", "betas", "beta1, beta2", "功能一致，参数名不同", "same function, different parameter names"),
        SeedClaim("eps", "eps", "eps", "功能一致，默认值不同", "same function, different default", DIFFERENT_DEFAULTS),
        SeedClaim("weight_decay", "weight_decay", "weight_decay", "功能一致", "consistent"),
        SeedClaim("amsgrad", "amsgrad", None, "PyTorch的 `amsgrad` 表示是否应用amsgrad算法，MindSpore无此参数",
                  "PyTorch's amsgrad selects the AMSGrad algorithm; MindSpore has no such parameter"),
    ),
)
# Tables beyond the first seed's (whose rows are ROWS, measured per row for every
# implementation): each claim measured by its implementations' verdicts on the claim's row.
SEED_TABLES: tuple[SeedTable, ...] = (ADAMW_SEED,)
