"""Hypothesis strategies for hostile files: mutations of a valid document.

A mutation picks one place in a valid JSON/TOML tree (an object member, a list item or
the root) and does one thing to it: replaces it with a value of another type or a
boundary number, deletes it, adds an unknown key beside it, nests it deep, or empties
it. The mutated tree is then written out, usually as UTF-8 JSON/TOML, sometimes in an
encoding the harness must refuse (UTF-16, Latin-1, a cut-off file). Used by
tests/test_fuzz_inputs.py for every file format the commands read.
"""

from __future__ import annotations

import copy
import json
import math
from typing import Any

from hypothesis import strategies as st

# Values of every JSON type, and the numbers where checks go wrong.
ODD_VALUES = (
    None, True, False, 0, -1, 1, 2**63, -(2**63) - 1, 10**300, 10**399, 0.0, -0.0, 1e-320, 1e308, 3.5e38,
    "inf", "-inf", "nan", "", "x", "float32", "\ud800", "$\\frac{a}{b}$", '"""', "a\nb", "<script>", [], [[]],
    {}, {"a": 1}, [1, "2", None], ["float32"], [0.5] * 3,
)
DEEP = 200  # deeper than the readers take (harness/untrusted.py MAX_DEPTH)


def _places(tree: Any, path: tuple = ()) -> list[tuple]:
    """Every place in the tree, as the path of keys/indices from the root."""
    places = [path]
    if isinstance(tree, dict):
        for key, value in tree.items():
            places += _places(value, path + (key,))
    elif isinstance(tree, list):
        # a long list's items are alike: its first, second and last stand for the rest
        for index in sorted({0, 1, len(tree) - 1} & set(range(len(tree)))):
            places += _places(tree[index], path + (index,))
    return places


def _parent(tree: Any, path: tuple) -> Any:
    for key in path[:-1]:
        tree = tree[key]
    return tree


def _nested(value: Any, depth: int) -> Any:
    for _ in range(depth):
        value = [value]
    return value


@st.composite
def mutated(draw, document: Any) -> Any:
    """`document` with one mutation (a deep copy; the original is untouched)."""
    tree = copy.deepcopy(document)
    places = _places(tree)
    path = draw(st.sampled_from(places))
    kind = draw(st.sampled_from(["replace", "replace", "replace", "delete", "extra key", "deep", "empty",
                                 "duplicate"]))
    if not path:  # the root
        return draw(st.sampled_from(ODD_VALUES)) if kind == "replace" else _nested(tree, DEEP)
    parent, key = _parent(tree, path), path[-1]
    if kind == "replace":
        parent[key] = draw(st.sampled_from(ODD_VALUES) | st.floats() | st.integers() | st.text(max_size=5))
    elif kind == "delete":
        del parent[key]
    elif kind == "extra key" and isinstance(parent, dict):
        parent[draw(st.sampled_from(["extra", "", "\ud800", "__class__"]))] = draw(st.sampled_from(ODD_VALUES))
    elif kind == "deep":
        parent[key] = _nested(parent[key], DEEP)
    elif kind == "empty":
        parent[key] = type(parent[key])() if isinstance(parent[key], (list, dict, str)) else None
    elif kind == "duplicate" and isinstance(parent, list):
        parent.append(copy.deepcopy(parent[key]))
    else:
        parent[key] = None
    return tree


def _json_text(tree: Any) -> str:
    # Python's json writes NaN / Infinity for non-finite floats, as a careless writer would.
    return json.dumps(tree)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string (a lone surrogate's escape is invalid TOML, as it should be)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items()) + "}"
    return '""'  # None: TOML has no null


def toml_text(tree: Any, table: str) -> str:
    """A registry / rules document ({table: [entries]}) as TOML, arrays of tables first."""
    if not isinstance(tree, dict):
        return f"value = {_toml_value(tree)}\n"
    lines = [f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in tree.items() if k != table]
    entries = tree.get(table)
    if isinstance(entries, list) and all(isinstance(e, dict) for e in entries):
        for entry in entries:
            lines += [f"[[{table}]]"] + [f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in entry.items()]
    elif table in tree:
        lines.insert(0, f"{table} = {_toml_value(entries)}")
    return "\n".join(lines) + "\n"


@st.composite
def encoded(draw, text: str) -> bytes:
    """The text as the bytes of a file: mostly UTF-8, sometimes an encoding or a cut the
    readers must refuse with one line."""
    how = draw(st.sampled_from(["utf-8"] * 6 + ["utf-16", "latin-1", "cut", "bom", "nul"]))
    if how == "utf-16":
        return text.encode("utf-16", errors="surrogatepass")
    if how == "latin-1":
        return text.encode("utf-8", errors="surrogatepass").replace(b'"', b'"\xe9', 1)
    if how == "cut":
        data = text.encode("utf-8", errors="surrogatepass")
        return data[: draw(st.integers(0, max(len(data) - 1, 0)))]
    if how == "bom":
        return b"\xef\xbb\xbf" + text.encode("utf-8", errors="surrogatepass")
    if how == "nul":
        return text.encode("utf-8", errors="surrogatepass") + b"\x00"
    return text.encode("utf-8", errors="surrogatepass")


def json_file(document: Any) -> st.SearchStrategy[bytes]:
    """Hostile variants of a JSON document, as file bytes."""
    return mutated(document).map(_json_text).flatmap(encoded)


def toml_file(document: Any, table: str) -> st.SearchStrategy[bytes]:
    """Hostile variants of a TOML document of `[[table]]` entries, as file bytes."""
    return mutated(document).map(lambda tree: toml_text(tree, table)).flatmap(encoded)
