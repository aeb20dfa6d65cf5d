"""The import graph of every package (zoo, zoo.train, zoo.specs, zoo.tracking, zoo.datasets,
zoo.evaluation, zoo.plugins): no circle, the layers of docs/ARCHITECTURE.md, no private names
across modules.

Every import counts, module-level and inside functions (a function-level import is a circle
postponed, not removed). Read from the source with ``ast``; nothing is imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

import zoo.datasets
import zoo.evaluation
import zoo.plugins

import zoo

#: Import package -> its folder in the checkout (the repository's top-level folders install under zoo).
ROOTS = {
    "zoo": Path(zoo.__file__).parent,
    "zoo.datasets": Path(zoo.datasets.__file__).parent,
    "zoo.evaluation": Path(zoo.evaluation.__file__).parent,
    "zoo.plugins": Path(zoo.plugins.__file__).parent,
}

#: Layer crossings that exist today and are someone else's to remove (issue #24, item 5): tolerated,
#: never added to. ``importer -> imported``.
KNOWN_CROSSINGS: set[tuple[str, str]] = set()
#: Private names imported across modules today (issue #24, item 5): ``importer -> module.name``.
KNOWN_PRIVATE: set[tuple[str, str]] = set()


def _modules() -> dict[str, Path]:
    out = {}
    for pkg, root in ROOTS.items():
        for path in root.rglob("*.py"):
            if ".venv" in path.parts:
                continue
            rel = path.relative_to(root).with_suffix("").parts
            if pkg == "zoo" and rel[0] in ("datasets", "evaluation", "plugins"):
                continue  # not under zoo/ in the checkout, but say so if it ever is
            parts = rel[:-1] if rel[-1] == "__init__" else rel
            out[".".join((pkg, *parts))] = path
    return out


MODULES = _modules()


class Import:
    """One imported name: the module it resolves to, the name, and whether it is inside a function."""

    def __init__(self, module: str, name: str | None, in_function: bool) -> None:
        self.module, self.name, self.in_function = module, name, in_function


def _resolve(name: str) -> str:
    """The deepest project module a dotted name lies in, else the name's top level (``torch``)."""
    probe = name
    while probe:
        if probe in MODULES:
            return probe
        probe = probe.rpartition(".")[0]
    return name.split(".")[0]


def _imports(module: str) -> list[Import]:
    path = MODULES[module]
    tree = ast.parse(path.read_text())
    is_pkg = path.name == "__init__.py"
    found: list[Import] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if isinstance(child, ast.Import):
                found.extend(Import(_resolve(a.name), None, inner) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = module.split(".")
                    anchor = anchor if is_pkg else anchor[:-1]
                    anchor = anchor[: len(anchor) - child.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                for a in child.names:
                    target = f"{base}.{a.name}"
                    if target in MODULES:  # ``from pkg import submodule``
                        found.append(Import(target, None, inner))
                    else:
                        found.append(Import(_resolve(base), a.name, inner))
            visit(child, inner)

    visit(tree, False)
    return found


GRAPH = {m: _imports(m) for m in MODULES}


def _edges() -> dict[str, set[str]]:
    return {m: {i.module for i in imps if i.module in MODULES and i.module != m} for m, imps in GRAPH.items()}


def _circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on.add(start)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(edges[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def _under(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def test_the_graph_covers_every_package():
    for pkg in (
        "zoo",
        "zoo.train",
        "zoo.specs",
        "zoo.tracking",
        "zoo.datasets",
        "zoo.evaluation",
        "zoo.plugins",
    ):
        assert pkg in MODULES, pkg
    assert len(MODULES) > 80


def test_circles_are_found():
    # the detector itself: a three-module ring and a self-contained tail
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _circles(edges) == [["a", "b", "c"]]


def test_no_import_circle():
    assert _circles(_edges()) == []


def _crossings(package: str, allowed_zoo: tuple[str, ...], banned: tuple[str, ...]) -> set[tuple[str, str]]:
    """(importer, imported) of ``package`` reaching zoo outside ``allowed_zoo``, or a ``banned`` library."""
    bad = set()
    for module, imps in GRAPH.items():
        if not _under(module, package):
            continue
        for i in imps:
            if i.module.split(".")[0] in banned or (
                _under(i.module, "zoo") and not _under(i.module, *allowed_zoo)
            ):
                bad.add((module, i.module))
    return bad - KNOWN_CROSSINGS


def test_datasets_imports_only_errors_and_never_torch():
    # zoo.faults: the fault-injection points of the store writes (a leaf module, os and signal only)
    assert _crossings("zoo.datasets", ("zoo.datasets", "zoo.errors", "zoo.faults"), ("torch",)) == set()


def test_evaluation_never_imports_torch_plugins_or_training():
    allowed = ("zoo.evaluation", "zoo.errors", "zoo.specs", "zoo.tracking", "zoo.datasets", "zoo.registry")
    assert _crossings("zoo.evaluation", allowed, ("torch",)) == set()
    # the registry loads the built-in plugins (torch): only inside the function that needs it
    registry_at_top = [
        m
        for m, imps in GRAPH.items()
        if _under(m, "zoo.evaluation")
        for i in imps
        if i.module == "zoo.registry" and not i.in_function
    ]
    assert registry_at_top == []


def test_tracking_is_torch_free_and_below_training():
    assert _crossings("zoo.tracking", ("zoo.tracking", "zoo.errors", "zoo.specs"), ("torch",)) == set()


def test_specs_import_no_training_evaluation_or_torch():
    banned_zoo = ("zoo.train", "zoo.evaluation", "zoo.plugins", "zoo.tracking", "zoo.cli")
    bad = {
        (m, i.module)
        for m, imps in GRAPH.items()
        if _under(m, "zoo.specs")
        for i in imps
        if i.module == "torch" or _under(i.module, *banned_zoo) or i.module.startswith("zoo.cli")
    }
    assert bad == set()


def test_plugins_use_only_public_contracts():
    # zoo.datasets.calc: the cube calculations, numpy only (a factor plugin computes with them)
    contracts = (
        "zoo.plugins",
        "zoo.hookspecs",
        "zoo.interfaces",
        "zoo.errors",
        "zoo.registry",
        "zoo.datasets.calc",
    )
    bad = {
        (m, i.module)
        for m, imps in GRAPH.items()
        if _under(m, "zoo.plugins")
        for i in imps
        if _under(i.module, "zoo") and i.module != "zoo" and not _under(i.module, *contracts)
    }
    bad |= {  # ``from zoo import X``: only the names zoo re-exports from errors and hookspecs
        (m, f"zoo.{i.name}")
        for m, imps in GRAPH.items()
        if _under(m, "zoo.plugins")
        for i in imps
        if i.module == "zoo" and i.name not in {"hookimpl", *dir(zoo.errors)}
    }
    assert bad == set()


def test_core_never_imports_the_command_line():
    bad = {
        (m, i.module)
        for m, imps in GRAPH.items()
        if not m.startswith("zoo.cli")
        for i in imps
        if i.module.startswith("zoo.cli")
    }
    assert bad == set()


def _private_uses() -> set[tuple[str, str]]:
    """(importer, module.name) for every private name (or private module) taken from another module."""
    out = set()
    for module, imps in GRAPH.items():
        pkg = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
        for i in imps:
            if not _under(i.module, "zoo") or i.module == module:
                continue
            if i.name and i.name.startswith("_") and not i.name.startswith("__"):
                out.add((module, f"{i.module}.{i.name}"))
            leaf = i.module.rpartition(".")
            if leaf[2].startswith("_") and not leaf[2].startswith("__") and leaf[0] != pkg:
                out.add((module, i.module))  # a private module of another package
        out |= {(module, name) for name in _private_attributes(module)}
    return out


def _private_attributes(module: str, text: str | None = None) -> set[str]:
    """``alias._name`` where ``alias`` is a project module this module imported (``jobs._SOURCES``)."""
    tree = ast.parse(MODULES[module].read_text() if text is None else text)
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name in MODULES and a.asname:
                    aliases[a.asname] = a.name
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                if f"{node.module}.{a.name}" in MODULES:
                    aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    return {
        f"{aliases[n.value.id]}.{n.attr}"
        for n in ast.walk(tree)
        if isinstance(n, ast.Attribute)
        and isinstance(n.value, ast.Name)
        and n.value.id in aliases
        and n.attr.startswith("_")
        and not n.attr.startswith("__")
        and aliases[n.value.id] != module
    }


def test_no_private_names_across_modules():
    assert _private_uses() - KNOWN_PRIVATE == set()


def test_private_attributes_are_found():
    # the detector itself, on the pattern the runner used before (``fitjobs._SOURCES.pop(...)``)
    text = "def f():\n    from zoo.train import jobs as fitjobs\n\n    fitjobs._SOURCES.pop(1)\n"
    assert _private_attributes("zoo.train.runner", text) == {"zoo.train.jobs._SOURCES"}
