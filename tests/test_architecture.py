"""The package's shape: imports flow one way, the studio adapter stays at the edge.

Every module of `annotate/` is parsed with `ast` (nothing is imported), every `import` and
`from ... import` is collected wherever it sits (functions included, `if TYPE_CHECKING:`
blocks excluded), relative imports are resolved, and the rules below are checked on the
resulting graph of annotate modules. Each rule is its own test so a failure names it.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

PACKAGE = "annotate"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE
MAX_LINES = 450

CORE = (
    "annotate.scoring",
    "annotate.repeats",
    "annotate.learn",
    "annotate.evaluate",
    "annotate.evaluation",  # the measuring half of evaluate
    "annotate.corpus",
    "annotate.formats",
    "annotate.metrics",
    "annotate.documents",
    "annotate.schema",
)
STUDIO = "annotate.studio"
STUDIO_MAY_IMPORT = (
    "annotate.formats",
    "annotate.corpus",
    "annotate.schema",
    "annotate.documents",
    "annotate.errors",
    "annotate.atomic",
    "annotate.ui",
    "annotate.resources",
    STUDIO,
)


@dataclass(frozen=True)
class Import:
    """One import of an annotate module: who imports what, and where."""

    source: str  # the importing module
    target: str  # the imported annotate module
    names: tuple[str, ...]  # names taken by `from target import ...` (empty for `import`)
    path: Path
    line: int

    def where(self) -> str:
        return f"{self.path.relative_to(ROOT.parent)}:{self.line}"


def within(module: str, prefix: str) -> bool:
    """True when `module` is `prefix` or one of its submodules."""
    return module == prefix or module.startswith(prefix + ".")


@cache
def modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package is named by its `__init__`)."""
    found: dict[str, Path] = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def is_package(module: str) -> bool:
    return modules()[module].name == "__init__.py"


def is_type_checking(test: ast.expr) -> bool:
    """`if TYPE_CHECKING:` or `if typing.TYPE_CHECKING:`."""
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of `tree` except those only seen by type checkers."""
    nodes: list[ast.AST] = []
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        nodes.append(node)
        if isinstance(node, ast.If) and is_type_checking(node.test):
            children: list[ast.AST] = [node.test, *node.orelse]
        else:
            children = list(ast.iter_child_nodes(node))
        stack.extend(reversed(children))
    return nodes


def resolve_from(module: str, node: ast.ImportFrom) -> str:
    """The absolute name of the module a `from ... import` reads from."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if not is_package(module):
        base.pop()  # a plain module's relative imports start from its package
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


@cache
def parsed(module: str) -> list[ast.AST]:
    path = modules()[module]
    return runtime_nodes(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))


@cache
def imports() -> list[Import]:
    """Every runtime import of an annotate module by an annotate module."""
    known = modules()
    found: list[Import] = []
    for module, path in known.items():
        for node in parsed(module):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if within(alias.name, PACKAGE) and alias.name in known:
                        found.append(Import(module, alias.name, (), path, node.lineno))
            elif isinstance(node, ast.ImportFrom):
                base = resolve_from(module, node)
                if not within(base, PACKAGE):
                    continue
                plain: list[str] = []
                for alias in node.names:
                    # `from pkg import sub` reads the submodule, not pkg's __init__
                    sub = f"{base}.{alias.name}"
                    if sub in known:
                        found.append(Import(module, sub, (), path, node.lineno))
                    else:
                        plain.append(alias.name)
                if plain and base in known:
                    found.append(Import(module, base, tuple(plain), path, node.lineno))
    return found


def graph() -> dict[str, dict[str, Import]]:
    """source -> target -> the first import that makes the edge.

    Importing `annotate.a.b` first runs `annotate/a/__init__.py`, so that package is an edge
    too, except for modules inside it: a package's own modules find it already importing,
    and its `__init__` importing them is a cycle only if one of them imports it back.
    """
    known = modules()
    edges: dict[str, dict[str, Import]] = {module: {} for module in known}
    for imp in imports():
        parts = imp.target.split(".")
        parents = [".".join(parts[:n]) for n in range(1, len(parts))]
        if imp.target != imp.source:
            edges[imp.source].setdefault(imp.target, imp)
        for parent in parents:
            if parent in known and not within(imp.source, parent):
                edges[imp.source].setdefault(parent, imp)
    return edges


def cycles(edges: dict[str, dict[str, Import]]) -> list[list[str]]:
    """One cycle (as a closed path) through each strongly connected group of modules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def connect(node: str) -> None:  # Tarjan; the package is small enough for recursion
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges[node]):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            connect(node)

    found: list[list[str]] = []
    for group in groups:
        members = set(group)
        start = group[0]
        # breadth-first from start back to start, inside the group: a shortest cycle
        parents: dict[str, str] = {}
        queue = [start]
        while queue and start not in parents:
            node = queue.pop(0)
            for nxt in sorted(edges[node]):
                if nxt in members and nxt not in parents:
                    parents[nxt] = node
                    queue.append(nxt)
        path = [start]
        node = parents[start]
        while node != start:
            path.append(node)
            node = parents[node]
        path.append(start)
        found.append(path[::-1])
    return sorted(found)


def describe_cycle(path: list[str], edges: dict[str, dict[str, Import]]) -> str:
    steps = []
    for a, b in zip(path, path[1:], strict=False):
        imp = edges[a][b]
        how = "" if imp.target == b else f", importing {imp.target} runs {b}/__init__"
        steps.append(f"  {a} -> {b}  ({imp.where()}{how})")
    return " -> ".join(path) + "\n" + "\n".join(steps)


def test_no_import_cycles() -> None:
    edges = graph()
    found = cycles(edges)
    assert not found, "import cycles between annotate modules:\n" + "\n".join(
        describe_cycle(path, edges) for path in found
    )


def test_core_does_not_import_studio() -> None:
    bad = [
        f"{imp.where()}: {imp.source} imports {imp.target}"
        for imp in imports()
        if any(within(imp.source, core) for core in CORE) and within(imp.target, STUDIO)
    ]
    assert not bad, "core modules must work without Label Studio:\n" + "\n".join(bad)


def test_studio_imports_only_the_edge_modules() -> None:
    bad = [
        f"{imp.where()}: {imp.source} imports {imp.target}"
        for imp in imports()
        if within(imp.source, STUDIO)
        and not any(within(imp.target, allowed) for allowed in STUDIO_MAY_IMPORT)
    ]
    assert not bad, (
        f"annotate.studio may import only {', '.join(STUDIO_MAY_IMPORT)}:\n" + "\n".join(bad)
    )


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def module_aliases(module: str) -> dict[str, str]:
    """Local names bound to annotate modules: `import annotate.a as m`, `from annotate import a`.

    `import annotate.a.b` binds `annotate`; chains such as `annotate.a.b` are resolved by
    `dotted` below. Bindings are collected module-wide (a name is rarely rebound).
    """
    known = modules()
    aliases: dict[str, str] = {}
    for node in parsed(module):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in known:
                    if alias.asname:
                        aliases[alias.asname] = alias.name
                    else:
                        top = alias.name.split(".")[0]
                        aliases[top] = top
        elif isinstance(node, ast.ImportFrom):
            base = resolve_from(module, node)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if within(base, PACKAGE) and sub in known:
                    aliases[alias.asname or alias.name] = sub
    return aliases


def dotted(node: ast.expr, aliases: dict[str, str]) -> str | None:
    """The annotate module an expression such as `m` or `annotate.a.b` names, if any."""
    if isinstance(node, ast.Name):
        return aliases.get(node.id)
    if isinstance(node, ast.Attribute):
        base = dotted(node.value, aliases)
        if base is not None and f"{base}.{node.attr}" in modules():
            return f"{base}.{node.attr}"
    return None


def test_no_private_names_across_modules() -> None:
    bad: list[str] = []
    for imp in imports():
        for name in imp.names:
            if is_private(name) and imp.target != imp.source:
                bad.append(f"{imp.where()}: {imp.source} imports {name} from {imp.target}")
        parts = imp.target.split(".")
        for n, part in enumerate(parts):
            # a private module is its package's business: `annotate.a._b` for `annotate.a.*`
            if is_private(part) and not within(imp.source, ".".join(parts[:n])):
                bad.append(f"{imp.where()}: {imp.source} imports private module {imp.target}")
    for module, path in modules().items():
        aliases = module_aliases(module)
        for node in parsed(module):
            if isinstance(node, ast.Attribute) and is_private(node.attr):
                owner = dotted(node.value, aliases)
                if owner is not None and owner != module:
                    where = f"{path.relative_to(ROOT.parent)}:{node.lineno}"
                    bad.append(f"{where}: {module} uses {owner}.{node.attr}")
    assert not bad, "private names used outside their module:\n" + "\n".join(sorted(set(bad)))


def test_modules_are_small() -> None:
    sizes = {
        module: len(path.read_text(encoding="utf-8").splitlines())
        for module, path in modules().items()
    }
    big = sorted((lines, module) for module, lines in sizes.items() if lines > MAX_LINES)
    assert not big, f"modules over {MAX_LINES} lines (split them by job):\n" + "\n".join(
        f"  {modules()[module].relative_to(ROOT.parent)}: {lines} lines" for lines, module in big
    )


# The checker itself, on a small package written to disk: a rule that never fires is no rule.

TOY = {
    "__init__.py": "",
    "a.py": (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from annotate.sub import d\n"
        "def f():\n    from . import b\n    return b._hidden\n"
    ),
    "b.py": "import annotate.a\nfrom annotate.a import f, _g\nannotate.a._g\n",
    # a package whose modules import it back: sub -> sub.c -> sub.d -> sub
    "sub/__init__.py": "from .c import thing\n",
    "sub/c.py": "from . import d, _priv\nthing = 1\n",
    "sub/_priv.py": "",
    "sub/d.py": "from annotate.sub import thing\nimport annotate.studio.x as s\n",
    # a package whose modules import each other but not it: no cycle
    "sub2/__init__.py": "from .p import x\n",
    "sub2/p.py": "from annotate.sub2.q import x\n",
    "sub2/q.py": "x = 1\n",
    "e.py": "from annotate.sub2.p import x\nimport annotate.sub._priv\n",
    # importing sub3.r runs sub3/__init__, which imports f back
    "sub3/__init__.py": "from annotate.f import y\n",
    "sub3/r.py": "z = 1\n",
    "f.py": "y = 2\ndef later():\n    from annotate.sub3.r import z\n",
    "studio/__init__.py": "",
    "studio/x.py": "from annotate import g\n",
    "g.py": "",
}


@pytest.fixture
def toy_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point the checker at a throwaway `annotate/` tree (TOY) for one test."""
    pkg = tmp_path / PACKAGE
    for name, text in TOY.items():
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(text)
    monkeypatch.setattr(sys.modules[__name__], "ROOT", pkg)
    for fn in (modules, parsed, imports):
        fn.cache_clear()
    yield pkg
    for fn in (modules, parsed, imports):
        fn.cache_clear()


def test_checker_on_a_toy_package(toy_package: Path) -> None:
    edges = graph()
    assert set(edges["annotate.a"]) == {"annotate.b"}  # the TYPE_CHECKING import is skipped
    # no edge to its own package
    assert set(edges["annotate.sub.c"]) == {"annotate.sub.d", "annotate.sub._priv"}
    assert set(edges["annotate.sub.d"]) == {"annotate.sub", "annotate.studio", "annotate.studio.x"}
    assert set(edges["annotate.e"]) == {
        "annotate.sub2",
        "annotate.sub2.p",
        "annotate.sub",
        "annotate.sub._priv",
    }
    assert set(edges["annotate.f"]) == {"annotate.sub3", "annotate.sub3.r"}
    assert cycles(edges) == [
        ["annotate.a", "annotate.b", "annotate.a"],
        ["annotate.f", "annotate.sub3", "annotate.f"],
        ["annotate.sub", "annotate.sub.c", "annotate.sub.d", "annotate.sub"],
    ]
    with pytest.raises(AssertionError) as cycle:
        test_no_import_cycles()
    assert "f.py:3, importing annotate.sub3.r runs annotate.sub3/__init__" in str(cycle.value)
    with pytest.raises(AssertionError, match="studio/x.py:1: annotate.studio.x imports annotate.g"):
        test_studio_imports_only_the_edge_modules()
    with pytest.raises(AssertionError) as private:
        test_no_private_names_across_modules()
    message = str(private.value)
    assert "a.py:6: annotate.a uses annotate.b._hidden" in message
    assert "b.py:2: annotate.b imports _g from annotate.a" in message
    assert "b.py:3: annotate.b uses annotate.a._g" in message
    assert "e.py:2: annotate.e imports private module annotate.sub._priv" in message
    assert "annotate.sub.c imports private" not in message  # inside its package
    test_core_does_not_import_studio()  # no core module in the toy
