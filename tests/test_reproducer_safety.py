"""Case files are untrusted: a generated reproducer script must carry every case-derived
string as data. For hostile parameter names (and case ids, rows, registry ids) the script
parses to exactly the code of a benign case's script — the same names, attributes, calls
and imports, the same docstring but for the file name it says to run (the report row's
letters, digits, '_' and '-') — for every template, dense and row-sparse; the name comes
back intact from the script's data, and a generated torch script still runs to its verdict."""

import ast
import functools
import json
import re
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.casefile import Case, ParamGroup, ParamSpec
from harness.reproducer_script import FRAMEWORK_TEMPLATES, reproducer_file_name, reproducer_script

PAYLOAD = '__import__("pathlib").Path("PWNED").touch()'
# Each would turn into code if pasted raw into the docstring, a string literal or str.format.
KNOWN_NASTY = [
    f'w"""; {PAYLOAD}; """', f"w'''; {PAYLOAD}; '''", f'"""\n{PAYLOAD}\n"""', f"'\n{PAYLOAD}\n#",
    '"', "'", "\\", '\\"""', 'x\\', "\n", "\r", "\r\n", "\u2028", "\u2029", "\x00", "\x0b\x0c\x1c\x85",
    "{}", "{0}", "{name}", "{{", "}}", "{__class__}", "#", "# coding: latin-1", "\ud800", "a\udfffb", "\ufeff",
    "$x$", "<script>alert(1)</script>", "*" * 10_000, '"""' * 1000,
]
FRAGMENTS = ['"""', "'''", '"', "'", "\\", "\n", "\r", "\u2028", "\u2029", "\x00", "{", "}", "{}", "#", ";",
             "\ud800", "\udc00", PAYLOAD, "\\N{BULLET}", "\\x00", "f'{1}'"]
hostile_names = st.one_of(
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.characters(exclude_categories=())), min_size=1,
             max_size=30).map("".join),
    st.builds(lambda fragment, times: fragment * times, st.sampled_from(FRAGMENTS), st.integers(1, 3000)),
)


def _case(name: str, row_sparse: bool = False) -> Case:
    """Two parameters in two groups, so the name is in the params, the groups and the watch.
    Built directly (as harness/strategies.py does): the generator must be safe for any str,
    whatever the loader accepts. row_sparse: the gradients listed by rows (the templates of
    the implementations that take them as such have pieces of their own)."""
    other = "b" if name != "b" else "c"
    params = (ParamSpec(name, (2,), np.array([0.5, -1.0], np.float32)),
              ParamSpec(other, (1,), np.array([2.0], np.float32)))
    grads = tuple((np.array([1e-6, -1e-6], np.float32), np.array([0.1], np.float32)) for _ in range(3))
    sparse_rows = tuple(((0, 1, 1), (0,)) for _ in range(3)) if row_sparse else ()
    return Case("float32", {"lr": 0.01}, params, grads, (ParamGroup((name,), lr=0.02), ParamGroup((other,))),
                sparse_rows=sparse_rows)


def _script(name: str, implementation: str, label: str | None = None, row_sparse: bool = False) -> str:
    label = name if label is None else label
    violation = {"quantity": "param", "param": name, "index": 1, "step": 3, "expected": 0.5, "actual": 0.6,
                 "tolerance": 1e-6, "rows": [label, "eps"], "divergence": label}
    return reproducer_script(_case(name, row_sparse), implementation, violation, case_id=label, row=label)


def _code(tree: ast.Module) -> set[tuple[str, str]]:
    """Every name, attribute, call and import in the script: what it can do."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            out.add(("name", node.id))
        elif isinstance(node, ast.Attribute):
            out.add(("attribute", node.attr))
        elif isinstance(node, ast.Call):
            out.add(("call", ast.unparse(node.func)))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            out.add(("import", ast.unparse(node)))
    return out


def _data(tree: ast.Module) -> dict:
    """The argument of the script's json.loads: the case data, as the script will read it."""
    (call,) = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and ast.unparse(n.func) == "json.loads"]
    (argument,) = call.args
    assert isinstance(argument, ast.Constant) and isinstance(argument.value, str)
    return json.loads(argument.value)


def _docstring(tree: ast.Module, row: str, implementation: str) -> str:
    """The docstring, with the file name it says to run (made of the row: letters, digits,
    '_' and '-' only) as FILE."""
    file_name = reproducer_file_name(row, implementation)
    assert re.fullmatch(r"reproduce_[A-Za-z0-9_-]+\.py", file_name)
    docstring = ast.get_docstring(tree)
    assert f"Run: python {file_name} " in docstring
    return docstring.replace(file_name, "FILE")


@functools.cache
def _benign(implementation: str, row_sparse: bool) -> tuple[set, str]:
    tree = ast.parse(_script("w", implementation, row_sparse=row_sparse))
    return _code(tree), _docstring(tree, "w", implementation)


def _check(name: str, implementations=tuple(FRAMEWORK_TEMPLATES), row_sparse: bool = False) -> None:
    """The name (also the case id, the row and the registry id) gives the benign script's
    code and docstring, and comes back from its data."""
    for implementation in implementations:
        tree = ast.parse(_script(name, implementation, row_sparse=row_sparse))
        assert (_code(tree), _docstring(tree, name, implementation)) == _benign(implementation, row_sparse), \
            implementation
        data = _data(tree)
        assert data["watch"][1] == name and name in data["params"] and data["case_id"] == name
        assert data["rows"][0] == name and data["divergence"] == name


@pytest.mark.parametrize("name", KNOWN_NASTY, ids=range(len(KNOWN_NASTY)))
def test_known_nasty_names_stay_data(name):
    _check(name)


@pytest.mark.parametrize("name", KNOWN_NASTY[:16], ids=range(16))
def test_known_nasty_names_stay_data_in_row_sparse_scripts(name):
    _check(name, [n for n, t in FRAMEWORK_TEMPLATES.items() if t.sparse is not None], row_sparse=True)


# Each example on one template (every template shares the header that holds the data; the
# known names above go through all of them).
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_names, st.sampled_from(sorted(FRAMEWORK_TEMPLATES)), st.booleans())
def test_generated_hostile_names_stay_data(name, implementation, row_sparse):
    _check(name, [implementation], row_sparse)


def test_an_unknown_implementation_or_dtype_is_refused():
    with pytest.raises((KeyError, ValueError)):
        _script("w", 'torch"""')
    violation = {"quantity": "param", "param": "w", "index": 0, "step": 1, "expected": 0, "actual": 0, "tolerance": 1}
    case = Case('float32"; import os; "', {}, (ParamSpec("w", (1,), np.zeros(1, np.float32)),),
                ((np.zeros(1, np.float32),),))
    with pytest.raises(ValueError, match="dtype"):
        reproducer_script(case, "torch", violation)


@pytest.mark.parametrize("name", [f'w"""; {PAYLOAD}; """', "\ud800'''\\\u2028{0}#\x00\r"])
def test_a_script_with_a_hostile_name_still_reproduces(tmp_path, name):
    script = tmp_path / "reproduce.py"
    script.write_text(_script(name, "torch", label=f"c{PAYLOAD}"), encoding="utf-8")
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip().splitlines()[-1].startswith(("DIVERGES: ", "within tolerance: "))
    assert not (tmp_path / "PWNED").exists()
