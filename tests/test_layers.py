"""The harness's modules form layers that only point down (issue 19).

Read from the source with `ast`, nothing imported:

- the import graph between harness modules has no cycle, imports inside functions
  counted (they hid the old engine <-> isolation circle) and a module's import of its
  parent packages too;
- an import inside a function is either of a heavy third-party module (HEAVY) or marked
  with a comment containing "defer" on its line or just above its block of imports
  (saying why: the command line starts without Hypothesis, jinja2 only for a page, ...);
- no module uses another harness module's private name (`from harness.x import _y`,
  `x._y`);
- the status words come from harness/statuses.py, not from the engine.

`python tests/test_layers.py` prints the layers (the diagram in the module docstrings'
terms): each module on the lowest layer above everything it imports.
"""

from __future__ import annotations

import ast
import functools
import sys
from pathlib import Path

HARNESS = Path(__file__).resolve().parent.parent / "harness"
# Third-party modules an import inside a function may defer without a comment: the
# frameworks and the slow-to-import renderers and generators.
HEAVY = ("torch", "mindspore", "matplotlib", "jinja2", "markupsafe", "hypothesis")
STATUS_WORDS = {"PASS", "KNOWN", "VIOLATION", "NO_COUNTERPART", "UNSUPPORTED", "CRASH", "STATUSES"}


def module_name(path: Path) -> str:
    parts = path.relative_to(HARNESS.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(HARNESS.rglob("*.py"))}


def _in_function(node: ast.AST, parents: dict) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return True
    return False


def _imported(node: ast.Import | ast.ImportFrom, module: str) -> list[tuple[str, str | None]]:
    """(module, name) pairs an import statement names; name None for `import x`."""
    if isinstance(node, ast.Import):
        return [(alias.name, None) for alias in node.names]
    base = node.module or ""
    if node.level:  # relative: from the module's package
        package = module.split(".") if module in MODULES and MODULES[module].name == "__init__.py" \
            else module.split(".")[:-1]
        base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
    return [(base, alias.name) for alias in node.names]


def _harness_module(name: str) -> str | None:
    """The harness module an imported dotted name is (or is inside), else None."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


class Module:
    def __init__(self, name: str) -> None:
        self.name = name
        self.source = MODULES[name].read_text(encoding="utf-8")
        self.lines = self.source.splitlines()
        self.tree = ast.parse(self.source)
        parents = {child: node for node in ast.walk(self.tree) for child in ast.iter_child_nodes(node)}
        # (line, imported module, name, inside a function, the statement)
        self.imports = []
        for node in ast.walk(self.tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target, name_ in _imported(node, name):
                    self.imports.append((node.lineno, target, name_, _in_function(node, parents), node))

    def depends_on(self) -> set[str]:
        """The harness modules importing this one runs (parent packages included, but for
        harness/__init__.py, which imports nothing: test_the_package_itself_imports_nothing)."""
        out = set()
        for _, target, name, _, _ in self.imports:
            for dotted in ([f"{target}.{name}", target] if name else [target]):
                found = _harness_module(dotted)
                if found:
                    out.add(found)
                    break
        parents = set()
        for found in out | {self.name}:
            while found.count(".") > 1:
                found = found.rpartition(".")[0]
                parents.add(found)
        return (out | parents) - {self.name, "harness"}

    def marked_deferred(self, line: int) -> bool:
        """A comment with "defer" on the import's line or above it, within its block of
        imports and comments."""
        index = line - 1
        while index >= 0:
            text = self.lines[index].strip()
            if "#" in text and "defer" in text[text.index("#"):].lower():
                return True
            if index != line - 1 and not text.startswith(("#", "import ", "from ")):
                return False
            index -= 1
        return False

    def module_aliases(self) -> dict[str, str]:
        """Local name -> the harness module (or package) it is bound to."""
        aliases = {}
        for _, target, name, _, node in self.imports:
            alias = next(a for a in node.names if a.name == (name or target))
            if name is None and target.startswith("harness"):  # import harness.x [as y]
                aliases[alias.asname or "harness"] = target if alias.asname else "harness"
            elif name is not None and f"{target}.{name}" in MODULES:  # from harness import x [as y]
                aliases[alias.asname or name] = f"{target}.{name}"
        return aliases

    def private_uses(self) -> list[tuple[int, str]]:
        """(line, what) for every `_name` of another harness module this module uses."""
        uses = []
        for line, target, name, _, _ in self.imports:
            if _harness_module(target) and name and name.startswith("_") and f"{target}.{name}" not in MODULES:
                uses.append((line, f"from {target} import {name}"))
        aliases = self.module_aliases()
        for node in ast.walk(self.tree):
            if not (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")):
                continue
            chain, value = [], node.value  # harness.isolation._pool: chain ["harness", "isolation"]
            while isinstance(value, ast.Attribute):
                chain.insert(0, value.attr)
                value = value.value
            if not isinstance(value, ast.Name) or value.id not in aliases:
                continue
            owner = ".".join([aliases[value.id], *chain])
            if owner in MODULES and owner != self.name:
                uses.append((node.lineno, f"{'.'.join([value.id, *chain])}.{node.attr}"))
        return uses


@functools.cache
def load() -> dict[str, Module]:
    return {name: Module(name) for name in MODULES}


def graph(modules: dict[str, Module]) -> dict[str, set[str]]:
    return {name: module.depends_on() for name, module in modules.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle (its modules in import order, the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def layers(edges: dict[str, set[str]]) -> dict[str, int]:
    """Each module's layer: 0 for one that imports no harness module, else one above the
    highest module it imports (the graph has no cycle)."""
    out: dict[str, int] = {}

    def layer(node: str) -> int:
        if node not in out:
            out[node] = 1 + max((layer(target) for target in edges.get(node, ())), default=-1)
        return out[node]

    for node in edges:
        layer(node)
    return out


def test_the_import_graph_of_the_harness_has_no_cycle():
    cycle = find_cycle(graph(load()))
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_package_itself_imports_nothing():
    assert not Module("harness").imports


def test_the_cycle_check_sees_imports_inside_functions():
    assert find_cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
    module = Module("harness.sweep")  # its strategies import is inside sweep_cases
    assert "harness.strategies" in module.depends_on()
    assert any(inside and target == "harness.strategies" for _, target, _, inside, _ in module.imports)


def test_an_import_inside_a_function_defers_a_heavy_module_and_says_so():
    unmarked = []
    for name, module in load().items():
        for line, target in sorted({(line, f"{target}.{name}" if f"{target}.{name}" in MODULES else target)
                                    for line, target, name, inside, _ in module.imports if inside}):
            if module.marked_deferred(line):
                continue
            if _harness_module(target) or target.partition(".")[0] not in HEAVY:
                unmarked.append(f"{MODULES[name].relative_to(HARNESS.parent)}:{line}: {target}")
    assert not unmarked, "imports inside functions without a '# deferred: why' comment:\n" + "\n".join(unmarked)


def test_no_module_uses_another_modules_private_names():
    used = [f"{name}:{line}: {what}" for name, module in load().items()
            for line, what in module.private_uses()]
    assert not used, "private names used across modules:\n" + "\n".join(used)


def test_the_private_name_check_sees_both_spellings():
    module = Module("harness.engine")
    module.tree = ast.parse("from harness import isolation\nimport harness.isolation\n"
                            "from harness.isolation import _pool\nisolation._pool\nharness.isolation._pool\n")
    module.imports = [(n.lineno, *pair, False, n) for n in module.tree.body if isinstance(n, (ast.Import, ast.ImportFrom))
                      for pair in _imported(n, module.name)]
    assert [line for line, _ in module.private_uses()] == [3, 4, 5]


def test_the_status_words_come_from_the_statuses_module():
    from_engine = [f"{name}:{line}: {imported}" for name, module in load().items()
                   for line, target, imported, _, _ in module.imports
                   if target == "harness.engine" and imported in STATUS_WORDS]
    assert not from_engine, "status words imported from harness.engine:\n" + "\n".join(from_engine)
    assert layers(graph(load()))["harness.statuses"] == 0


if __name__ == "__main__":
    by_layer: dict[int, list[str]] = {}
    for module, level in layers(graph(load())).items():
        if module not in ("harness", "harness.__main__"):
            by_layer.setdefault(level, []).append(module.removeprefix("harness."))
    for level in sorted(by_layer, reverse=True):
        print(f"{level:2d}  {' '.join(sorted(by_layer[level]))}")
    sys.exit(0)
