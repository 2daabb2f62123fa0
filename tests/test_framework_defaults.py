"""The entry points' defaults (harness/framework_defaults.py) are what the installed
frameworks declare: a framework that changes a default fails here, and the report's and
README's "defaults that differ from torch's" stay true."""

import pytest

from harness.catalogue import framework_available
from harness.framework_defaults import ENTRY_POINTS, declared, differences_from_torch, read_defaults

FRAMEWORKS = sorted({entry.framework for entry in ENTRY_POINTS})


def _same(declared_value, read_value) -> bool:
    """Equal values of the same kind (0 and 0.0 are the same default; False and 0 are not)."""
    if isinstance(declared_value, bool) or isinstance(read_value, bool):
        return declared_value is read_value
    if isinstance(declared_value, (int, float)) and isinstance(read_value, (int, float)):
        return float(declared_value) == float(read_value)
    return declared_value == read_value


def _mismatches(framework: str, table=ENTRY_POINTS) -> list[str]:
    read = read_defaults(framework)
    out = []
    for entry in table:
        if entry.framework != framework:
            continue
        for parameter, value in declared(entry).items():
            found = read[entry.path][parameter]
            if not _same(value, found):
                out.append(f"{entry.path}({parameter}=...): the table says {value!r}, the signature {found!r}")
    return out


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_declared_defaults_are_the_installed_signatures(framework):
    if not framework_available(framework):
        pytest.skip(f"{framework} is not installed (the optional 'family' extra)")
    assert _mismatches(framework) == []


def test_a_changed_default_is_noticed():
    """The check can fail: the table with one default changed disagrees with torch."""
    import dataclasses

    torch_adamw = next(e for e in ENTRY_POINTS if e.path == "torch.optim.AdamW")
    changed = dataclasses.replace(torch_adamw, defaults={**torch_adamw.defaults, "weight_decay": {"weight_decay": 0.0}})
    assert _mismatches("torch", (changed,)) == [
        "torch.optim.AdamW(weight_decay=...): the table says 0.0, the signature 0.01"]


def test_differences_from_torch_name_the_migration_traps():
    found = {(d["entry_point"], d["concept"]): (d["default"], d["torch_default"]) for d in differences_from_torch()}
    assert found[("mindspore.nn.AdamWeightDecay", "eps")] == (1e-06, 1e-08)
    assert found[("mindspore.nn.AdamWeightDecay", "weight_decay")] == (0.0, 0.01)
    assert found[("keras.optimizers.Adam", "eps")] == (1e-07, 1e-08)
    assert found[("keras.optimizers.AdamW", "weight_decay")] == (0.004, 0.01)
    assert found[("optax.adamw", "weight_decay")] == (0.0001, 0.01)
    # paddle's defaults are torch's (its Adam's weight_decay None is no decay, torch's 0)
    assert not any(path.startswith("paddle") for path, _ in found)
    assert ("mindspore.mint.optim.AdamW", "weight_decay") not in found
