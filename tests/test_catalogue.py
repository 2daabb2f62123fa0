"""The implementation catalogue (harness/catalogue.py) and the pairwise coverage built on
it (harness/coverage.py): well-formed records, version-conditional exclusions, and a
covering set that covers every expressible pair with cases inside each space."""

import itertools

import pytest

from harness import catalogue
from harness.casefile import case_from_dict
from harness.catalogue import FACTORS, IMPLEMENTATIONS, Exclusion, features, outside, versions_match
from harness.coverage import completable, covering_rows, expressible_pairs, pairs_of
from harness.strategies import covering_case, outside_settings, probe_case

CASE = {"schema": "optim-parity/case/1", "dtype": "float32", "hyperparameters": {},
        "params": [{"name": "w", "shape": [2], "value": [0.5, -1.0]}], "grads": [[[0.1, -0.2]]]}


def test_every_record_names_known_factors_classes_and_predicates():
    catalogue.check_catalogue()
    for name, record in IMPLEMENTATIONS.items():
        assert record.name == name and record.framework in catalogue.FRAMEWORK_PACKAGES
        assert record.call and record.mode and ":" in record.adapter


def test_every_record_points_into_its_wing_and_its_pieces_resolve():
    """The one table of implementations: a record names its adapter, bare loop and
    reproducer template in its framework's wing (the reference: harness/adapters/reference.py),
    and the optimizer class its call starts with; the framework-free pieces resolve."""
    from harness.adapters import resolve, translation
    from harness.catalogue import WINGS
    from harness.reproducer_script import Template

    for name, record in IMPLEMENTATIONS.items():
        package = WINGS.get(record.framework, "harness.adapters.reference")
        for target in filter(None, (record.adapter, record.bare_loop, record.reproducer)):
            assert target.startswith(package + ".") or target.startswith(package + ":"), (name, target)
        assert record.bare_loop and callable(resolve(record.bare_loop)), name
        if record.framework in WINGS:
            assert record.optimizer and record.call.startswith(record.optimizer), name
            assert isinstance(resolve(record.reproducer), Template), name
            for function in ("keyword_arguments", "constructor_arguments", "group_arguments"):
                assert callable(getattr(translation(record.framework), function)), (name, function)


@pytest.mark.parametrize("name", [n for n in IMPLEMENTATIONS if n != "reference"])
def test_the_covering_cases_cover_every_expressible_pair_from_inside_the_space(name):
    covered = set()
    for index, row in enumerate(covering_rows(name)):
        case = covering_case(name, index)
        assert features(case) == row, f"{name} case {index} does not realise its assignment"
        assert outside(name, case) is None, f"{name} case {index} is outside its space"
        covered |= pairs_of(features(case))
    assert expressible_pairs(name) <= covered
    # A few dozen cases, not the product of the factors.
    assert len(covering_rows(name)) <= 30


@pytest.mark.parametrize("name", [n for n in IMPLEMENTATIONS if n != "reference"])
def test_every_setting_outside_the_space_gets_a_probe_that_is_outside(name):
    for factor, value in outside_settings(name):
        assert not completable(name, {factor: value})
        assert outside(name, probe_case(factor, value)) is not None, (name, factor, value)


def test_expressible_pairs_respect_pair_exclusions():
    # torch.optim.Adam is not lazy: lazy with row-sparse gradients has no counterpart, each alone has
    assert (("use_lazy", True), ("layout", "row_sparse")) not in expressible_pairs("torch")
    assert completable("torch", {"use_lazy": True}) and completable("torch", {"layout": "row_sparse"})
    # SparseAdam is lazy only and sparse only
    assert not completable("torch-sparse", {"use_lazy": False}) and not completable("torch-sparse", {"layout": "dense"})
    # the spec expresses everything
    assert len(expressible_pairs("reference")) == sum(
        len(FACTORS[a]) * len(FACTORS[b]) for a, b in itertools.combinations(FACTORS, 2))


def test_no_counterpart_wins_over_a_measured_failure_and_reasons_are_joined():
    case = case_from_dict(dict(CASE, dtype="bfloat16", hyperparameters={"maximize": True}))
    found = outside("mindspore", case)
    assert found.kind == catalogue.NO_COUNTERPART and "maximize" in found.reason
    assert outside("mindspore", case_from_dict(dict(CASE, dtype="bfloat16"))).kind == catalogue.UNSUPPORTED
    assert outside("torch", case_from_dict(CASE)) is None


def test_version_ranges_read_the_installed_version_and_ignore_local_labels():
    installed = {"torch": "2.13.0+cpu", "mindspore": "2.9.0"}.get
    assert versions_match({}, installed)
    assert versions_match({"torch": "==2.13.0"}, installed)  # +cpu is a local label
    assert versions_match({"mindspore": "<2.10"}, installed) and not versions_match({"mindspore": ">=2.10"}, installed)
    assert not versions_match({"paddle": ">=1"}, installed)  # not installed: matches nothing


def test_an_exclusion_outside_its_versions_is_not_applied(monkeypatch):
    record = IMPLEMENTATIONS["mindspore-mint-graph"]
    scalar = case_from_dict(dict(CASE, params=[{"name": "w", "shape": [], "value": [0.5]}], grads=[[[0.1]]]))
    for version, expected in (("2.10.0", True), ("2.9.0", False)):
        monkeypatch.setattr(catalogue, "installed_version", lambda package, v=version: v)
        applied = [e.reason for e in record.applicable()]
        assert any("0-d parameters" in reason for reason in applied) == expected
        assert (outside("mindspore-mint-graph", scalar) is not None) == expected


def test_an_exclusion_matches_factor_classes_and_finer_predicates():
    exclusion = Exclusion(catalogue.UNSUPPORTED, {"amsgrad": True, "scalar_params": True}, "r")
    scalar = case_from_dict(dict(CASE, hyperparameters={"amsgrad": True},
                                 params=[{"name": "w", "shape": [], "value": [0.5]}], grads=[[[0.1]]]))
    assert exclusion.matches(features(scalar), scalar)
    assert not exclusion.matches(features(case_from_dict(dict(CASE, hyperparameters={"amsgrad": True}))),
                                 case_from_dict(dict(CASE, hyperparameters={"amsgrad": True})))
    assert not exclusion.factor_level  # a pairwise assignment can always avoid it


def test_fused_sparse_adam_with_nesterov_updates_unlisted_rows_from_a_stale_workspace():
    """Why mindspore-target-cpu's non-lazy Nesterov row-sparse cases are `unreliable` (never
    compared): FusedSparseAdam writes the Nesterov numerator m_t into a workspace for the
    listed rows only, and updates every row from it. Pinned on its deterministic part: a
    row listed at step 1 and not at step 2 is moved at step 2 by step 1's numerator (the
    spec uses beta1 * m_2 + (1 - beta1) * 0). When this fails, MindSpore fixed it: drop
    the exclusion in harness/catalogue.py."""
    import numpy as np

    from harness.adapters import load_adapter
    from harness.casefile import case_from_dict

    case = case_from_dict({
        "schema": "optim-parity/case/1", "dtype": "float32", "hyperparameters": {"use_nesterov": True, "lr": 0.01},
        "params": [{"name": "embedding", "shape": [2, 2], "value": [0.5, -1.0, 2.0, 0.25]}],
        "grads": [[[1.0, -1.0, 0.0, 0.0]], [[0.0, 0.0, 0.5, 0.5]]], "sparse_rows": [[[0]], [[1]]]})
    assert outside("mindspore-target-cpu", case).kind == catalogue.UNRELIABLE
    adapter = load_adapter("mindspore-target-cpu")(case)
    adapter.step(list(case.grads[0]))
    after_one = adapter.snapshot()["embedding"]["param"].copy()
    adapter.step(list(case.grads[1]))
    moved = adapter.snapshot()["embedding"]["param"][:2] - after_one[:2]
    beta1, beta2, f32 = 0.9, 0.999, np.float32
    m1, v1 = (1 - beta1) * np.array([1.0, -1.0]), (1 - beta2) * np.array([1.0, 1.0])
    m2, v2 = beta1 * m1, beta2 * v1
    lr_t = 0.01 * np.sqrt(1 - beta2**2) / (1 - beta1**2)
    stale = -lr_t * (beta1 * m1 + (1 - beta1) * np.array([1.0, -1.0])) / (np.sqrt(v2) + 1e-8)
    fresh = -lr_t * (beta1 * m2) / (np.sqrt(v2) + 1e-8)
    np.testing.assert_allclose(moved, stale.astype(f32), rtol=1e-4)
    assert np.all(np.abs(moved - fresh) > 0.5 * np.abs(fresh))
