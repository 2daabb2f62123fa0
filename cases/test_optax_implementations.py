"""The optax implementations (harness/adapters/optax/, a jitted tx.update +
optax.apply_updates step on jax's CPU backend):

    optax-adam               optax.adam (L2 weight decay: optax.add_decayed_weights chained
                             in front), jax_enable_x64 off (jax's default)
    optax-adamw              optax.adamw (decoupled weight decay)
    optax-adam-x64           optax.adam under jax.experimental.enable_x64()
    optax-adamw-x64          optax.adamw under jax.experimental.enable_x64()
    optax-adam-mu-bfloat16   optax.adam(..., mu_dtype=jnp.bfloat16)
    optax-amsgrad            optax.amsgrad, torch's amsgrad=True in optax (its cases get
                             amsgrad=True: without it the alias has no counterpart)

Each is checked against the spec on generated cases in which any row's option is varied
(and the shared options with it), like the per-row modules do for torch and mindspore;
what a record cannot express comes out no-counterpart (cases/test_option_pairs.py probes
each such setting). The worker runs every optax record in one process, x64 and not, as
here: tests/test_optax_adapters.py checks that the flag never leaks.
"""

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.catalogue import implementations
from harness.conformance import assert_conforms
from harness.pytest_plugin import scaled
from harness.strategies import ROW_HYPERPARAMETERS, row_cases

IMPLEMENTATIONS = implementations(framework="optax")


@st.composite
def any_row_cases(draw, long_runs: bool = False):
    """(row, case): a row of the difference table, then a case generated for it."""
    row = draw(st.sampled_from(sorted(ROW_HYPERPARAMETERS)))
    return row, draw(row_cases(row, long_runs=long_runs))


def test_every_optax_record_is_checked():
    assert IMPLEMENTATIONS == ("optax-adam", "optax-adamw", "optax-adam-x64", "optax-adamw-x64",
                               "optax-adam-mu-bfloat16", "optax-amsgrad")


def _for(implementation, case):
    """The case as the implementation can take it: optax.amsgrad only with amsgrad=True."""
    if implementation == "optax-amsgrad":
        return dataclasses.replace(case, hyperparameters={**case.hyperparameters, "amsgrad": True})
    return case


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@settings(max_examples=scaled(20))
@given(drawn=any_row_cases())
def test_implementation_conforms(implementation, drawn):
    row, case = drawn
    assert_conforms(_for(implementation, case), row, f"test_optax_implementations_{implementation}",
                    implementations=["reference", implementation])


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@settings(max_examples=scaled(2))
# 1,000-10,000 steps, where float32 rounding (and the float32 bias corrections) accumulate.
@given(drawn=any_row_cases(long_runs=True))
def test_implementation_conforms_long_runs(implementation, drawn):
    row, case = drawn
    assert_conforms(_for(implementation, case), row, f"test_optax_implementations_long_{implementation}",
                    implementations=["reference", implementation])
