"""The optax wing's measured facts (harness/adapters/optax/), each what a record, a
translation or a registry entry relies on. They import jax and run optax in the test
process, so tests/test_optax_adapters.py runs this module in a pytest process of its own
(frameworks meet only in separate processes; a pytest-xdist worker also runs torch and
MindSpore tests):

- jax_enable_x64 is process-global: the -x64 records turn it on around their own jax
  calls only, and the worker runs every optax record in one process, so a record
  without x64 that runs after one with it must still run in jax's default precision
  (float32 bias corrections, float64 refused);
- without x64 a float64 case is refused with jax's own warning (catalogue: unsupported),
  and what a user who ignores the warning gets is float32 arithmetic, measured here;
- optax's nesterov=True is not MindSpore's use_nesterov (catalogue: no counterpart);
- the jitted step (the adapters' mode) and op-by-op dispatch give the same float32
  values; with mu_dtype=bfloat16 they differ (reference/adam.py
  _first_moment_decayed_in_dtype models the jitted one);
- 1 - beta^t without x64 is 1 - fl32(fl32(beta)^t) (reference/adam.py _float32_beta_powers);
- jax.grad gives an unused parameter zeros (registry optax-missing-gradient-is-zero);
- optax's defaults (adamw's weight_decay 1e-4, torch AdamW's 1e-2);
- optax.amsgrad keeps the maximum of the bias-corrected nu (registry
  optax-amsgrad-max-of-bias-corrected) and takes amsgrad only.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest

from harness.adapters import load_adapter, setup
from harness.casefile import load_case
from harness.conformance import check_case
from harness.engine import KNOWN, PASS, UNSUPPORTED

pytest.importorskip("optax")
setup("optax")  # jax's runtime settings (CPU) before its first use in this process

import jax  # noqa: E402  (after the wing's setup)
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402

REPRODUCERS = Path(__file__).resolve().parent.parent / "cases" / "reproducers"
BETA_POWERS = load_case(REPRODUCERS / "optax-float32-beta-powers.json")


def _float64(case):
    """The case in float64 (its values are float32 numbers, exact in float64)."""
    import dataclasses

    params = tuple(dataclasses.replace(p, value=p.value.astype(np.float64)) for p in case.params)
    grads = tuple(tuple(g.astype(np.float64) for g in step) for step in case.grads)
    return dataclasses.replace(case, dtype="float64", params=params, grads=grads)


def _run(name, case):
    adapter = load_adapter(name)(case)
    for grads in case.grads:
        adapter.step(list(grads))
    return adapter.snapshot()


# --------------------------------------------------------------------------- x64 isolation


def test_x64_records_restore_the_flag_in_process():
    """An -x64 adapter built, stepped and read: the flag is off again after each call,
    and a record without x64 then runs in float32 (jax's default)."""
    assert not jax.config.jax_enable_x64
    wide = _run("optax-adam-x64", _float64(BETA_POWERS))
    assert not jax.config.jax_enable_x64
    assert wide["w"]["param"].dtype == np.float64
    narrow = _run("optax-adam", BETA_POWERS)
    assert narrow["w"]["param"].dtype == np.float32
    assert jnp.zeros(1).dtype == jnp.float32


def test_a_record_without_x64_refuses_to_run_under_a_leaked_flag():
    """Should the flag ever leak, a record without x64 fails loudly instead of silently
    running in float64."""
    jax.config.update("jax_enable_x64", True)
    try:
        with pytest.raises(RuntimeError, match="jax_enable_x64 is on"):
            load_adapter("optax-adam")(BETA_POWERS)
    finally:
        jax.config.update("jax_enable_x64", False)


def test_x64_does_not_leak_between_records_in_the_worker():
    """The worker runs every optax record in one process, in the order given: the
    records without x64 keep their float32 bias corrections (registered as
    optax-float32-beta-powers) and refuse float64 after an x64 record ran, and the x64
    records conform, before and after them."""
    order = ["reference", "optax-adam-x64", "optax-adam", "optax-adamw-x64", "optax-adamw", "optax-adam-x64"]
    statuses = [result.status for result in check_case(BETA_POWERS, order)]
    assert statuses == [PASS, PASS, KNOWN, PASS, KNOWN, PASS]
    statuses = [result.status for result in check_case(_float64(BETA_POWERS), order)]
    assert statuses == [PASS, PASS, UNSUPPORTED, PASS, UNSUPPORTED, PASS]


def test_float64_without_x64_is_refused_with_jax_s_warning():
    truncated = "requested in asarray is not available, and will be truncated to dtype float32"
    with pytest.raises(TypeError, match=truncated):
        load_adapter("optax-adam")(_float64(BETA_POWERS))


def test_float64_data_without_x64_silently_runs_in_float32():
    """What the unsupported record spares a comparison: a float64 user array handed to
    jax without x64 (no dtype asked for: no warning) becomes float32, and the run is off
    the float64 spec as optax-adam is off a float32 case (float32 roundings and float32
    bias corrections: here 4.7e-5 of the path, where float64's tolerance is ~1e-15 of it)."""
    from harness.trajectory import reference_trajectory

    case = _float64(load_case(REPRODUCERS / "optax-adam-mu-bfloat16.json"))
    params = {p.name: jnp.asarray(p.value.reshape(p.shape)) for p in case.params}
    assert params["w"].dtype == jnp.float32
    tx = optax.adam(case.hp("lr"))
    state = tx.init(params)
    for grads in case.grads:
        updates, state = tx.update({"w": jnp.asarray(grads[0])}, state, params)
        params = optax.apply_updates(params, updates)
    spec = reference_trajectory(case).data["w"]["param"]
    path = np.abs(np.diff(spec, axis=0)).sum(axis=0)
    relative = np.abs(np.asarray(params["w"], dtype=np.float64) - spec[-1]) / path
    assert 1e-6 < relative.max() < 1e-4


# --------------------------------------------------------------------------- measured facts


def test_optax_nesterov_is_not_mindspore_use_nesterov():
    """Step 1 from zero state, b1 = 0.9: optax's nesterov (Dozat's NAdam) moves by
    b1 (1 - b1) / (1 - b1^2) + 1 = 1.4737 times Adam's step, MindSpore's use_nesterov
    (b1 m + (1 - b1) g over 1 - b1) by 1 + b1 = 1.9 times: another algorithm."""
    params = {"w": jnp.ones(3)}
    grads = {"w": jnp.asarray([0.1, -0.2, 0.3])}
    plain, _ = optax.adam(0.1).update(grads, optax.adam(0.1).init(params), params)
    nadam = optax.adam(0.1, nesterov=True)
    nested, _ = nadam.update(grads, nadam.init(params), params)
    ratio = np.asarray(nested["w"]) / np.asarray(plain["w"])
    np.testing.assert_allclose(ratio, 0.9 * 0.1 / (1 - 0.81) + 1, rtol=1e-6)
    assert not np.allclose(ratio, 1.9, rtol=1e-2)


def test_jit_and_op_by_op_differ_by_an_ulp_in_float32_and_more_for_a_bfloat16_mu():
    """The adapters jit the step (the mode users run); op-by-op dispatch is not the same
    program: in float32 an update or a moment may differ by an ulp (XLA compiles the
    jitted step as one fused program), never more; a bfloat16 mu differs by bfloat16 ulps
    (under jit the bfloat16 product b1 * mu is not
    rounded, reference/adam.py _first_moment_decayed_in_dtype)."""
    grads = {"w": jnp.asarray(np.array([0.1, -0.2, 0.3, 1e-3, 0.7, 1.3], np.float32))}
    params = {"w": jnp.ones(6)}

    def moments(tx, jit):
        update = jax.jit(tx.update) if jit else tx.update
        state = tx.init(params)
        out = []
        for _ in range(6):
            updates, state = update(grads, state, params)
            out.append((np.asarray(updates["w"]), np.asarray(state[0].mu["w"]).astype(np.float32)))
        return out

    for (u_jit, m_jit), (u_eager, m_eager) in zip(moments(optax.adam(1e-3), True), moments(optax.adam(1e-3), False)):
        np.testing.assert_array_max_ulp(u_jit, u_eager, maxulp=1)
        np.testing.assert_array_max_ulp(m_jit, m_eager, maxulp=1)
    tx = optax.adam(1e-3, mu_dtype=jnp.bfloat16)
    assert any(not np.array_equal(a[1], b[1]) for a, b in zip(moments(tx, True), moments(tx, False)))


def test_float32_bias_correction_is_the_rounded_float32_power():
    """Without x64, 1 - b**count (optax's tree_bias_correction) is 1 - fl32(fl32(b)^t):
    reference/adam.py _float32_beta_powers (9 in 90,000 (b, t) pairs an ulp off, none in
    this sample)."""
    for beta in (0.9, 0.999, 0.99):
        correction = jax.jit(lambda count, beta=beta: 1 - beta**count)
        counts = np.arange(1, 2001, dtype=np.int32)
        got = np.asarray(jax.vmap(correction)(jnp.asarray(counts)))
        beta32 = float(np.float32(beta))
        model = np.float32(1) - np.array([np.float32(beta32 ** int(t)) for t in counts], np.float32)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, model)


def test_jax_grad_gives_an_unused_parameter_zeros():
    grads = jax.grad(lambda p: jnp.sum(p["used"] ** 2))({"used": jnp.ones(2), "unused": jnp.ones(3)})
    np.testing.assert_array_equal(np.asarray(grads["unused"]), np.zeros(3))


def test_optax_defaults():
    """optax.adam / adamw defaults (the translation always passes the case's values):
    learning_rate has none; b1 0.9, b2 0.999, eps 1e-8 as torch; eps_root 0.0 (torch has
    none); adamw's weight_decay 1e-4 where torch.optim.AdamW's is 1e-2."""
    adam = inspect.signature(optax.adam).parameters
    adamw = inspect.signature(optax.adamw).parameters
    assert adam["learning_rate"].default is inspect.Parameter.empty
    for parameters in (adam, adamw):
        assert {k: parameters[k].default for k in ("b1", "b2", "eps", "eps_root", "mu_dtype")} == {
            "b1": 0.9, "b2": 0.999, "eps": 1e-8, "eps_root": 0.0, "mu_dtype": None}
    assert adamw["weight_decay"].default == 1e-4
    assert "weight_decay" not in adam and "amsgrad" not in adam and "maximize" not in adam


@pytest.mark.parametrize("hyperparameters, word", [
    ({"amsgrad": True}, "amsgrad"), ({"maximize": True}, "maximize"), ({"loss_scale": 128.0}, "loss_scale"),
    ({"use_nesterov": True}, "use_nesterov"),
    ({"decoupled_weight_decay": True, "weight_decay": 0.1}, "decoupled_weight_decay"),
])
def test_optax_rejects_what_it_cannot_express_with_its_own_error(hyperparameters, word):
    import dataclasses

    case = dataclasses.replace(BETA_POWERS, hyperparameters=hyperparameters)
    result = check_case(case, ["reference", "optax-adam"])[1]
    assert result.status == "no-counterpart", result.message
    assert "TypeError" in result.message and word in result.message


def test_adamw_rejects_l2_decay_and_adam_models_it_with_add_decayed_weights():
    """optax.adamw only decouples (L2: no counterpart, optax's TypeError); optax.adam with
    L2 decay is optax.chain(optax.add_decayed_weights(wd), optax.adam(...)), which
    conforms where the spec's L2 decay is compared (x64 on: no float32 bias correction)."""
    import dataclasses

    case = dataclasses.replace(BETA_POWERS, hyperparameters={"lr": 0.001, "weight_decay": 0.5})
    adamw = check_case(case, ["reference", "optax-adamw"])[1]
    assert adamw.status == "no-counterpart" and "TypeError" in adamw.message
    assert check_case(_float64(case), ["reference", "optax-adam-x64"])[1].status == PASS


def test_optax_amsgrad_keeps_the_maximum_of_the_bias_corrected_nu():
    """torch's amsgrad=True is optax.amsgrad in optax: its nu_max is the maximum of
    nu / (1 - b2^t) (g^2 at step 1, where torch's max_exp_avg_sq is (1 - b2) g^2), and
    after g = 1 then 0.1 its second update divides by sqrt(1) where torch's divides by
    sqrt(0.505) (registry optax-amsgrad-max-of-bias-corrected)."""
    tx = optax.amsgrad(0.01)
    params = {"w": jnp.ones(1)}
    state = tx.init(params)
    _, state = tx.update({"w": jnp.asarray([1.0])}, state, params)
    np.testing.assert_allclose(np.asarray(state[0].nu_max["w"]), [1.0], rtol=1e-4)
    second, state = tx.update({"w": jnp.asarray([0.1])}, state, params)
    m_hat = (0.9 * 0.1 + 0.1 * 0.1) / (1 - 0.81)
    np.testing.assert_allclose(np.asarray(second["w"]), [-0.01 * m_hat / (1.0 + 1e-8)], rtol=1e-4)
    torch_v = max(0.001, 0.999 * 0.001 + 0.001 * 0.01) / (1 - 0.999**2)
    assert abs(torch_v - 0.505) < 1e-3


def test_optax_amsgrad_rejects_plain_adam_with_its_own_error():
    import dataclasses

    case = dataclasses.replace(BETA_POWERS, hyperparameters={"lr": 0.001})
    result = check_case(case, ["reference", "optax-amsgrad"])[1]
    assert result.status == "no-counterpart" and "TypeError" in result.message and "amsgrad" in result.message
