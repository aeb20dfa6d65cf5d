"""The ``datasets`` package's own import graph: ``schema`` is the ground floor and nothing is circular."""

from __future__ import annotations

import ast
import graphlib
import importlib
from pathlib import Path

import pytest

from zoo import datasets

PACKAGE = Path(datasets.__file__).resolve().parent


def _imports(path: Path) -> set[str]:
    """``datasets`` submodules a module imports anywhere, function bodies included."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            parts = node.module.removeprefix("zoo.").split(".")
            if parts[0] != "datasets":
                continue
            if len(parts) > 1:
                found.add(parts[1])
            else:  # ``from datasets import synth`` names submodules (or re-exported names)
                found |= {a.name for a in node.names if (PACKAGE / f"{a.name}.py").exists()}
        elif isinstance(node, ast.Import):
            names = (a.name.removeprefix("zoo.") for a in node.names)
            found |= {n.split(".")[1] for n in names if n.startswith("datasets.")}
    return found


def _graph() -> dict[str, set[str]]:
    return {p.stem: _imports(p) - {p.stem} for p in PACKAGE.glob("*.py") if p.stem != "__init__"}


def test_schema_imports_nothing_from_datasets():
    # ``fields`` (the field-name constants) and ``atomic`` (the store swap, manifest and recovery) import
    # nothing from datasets and lie under the ground floor
    graph = _graph()
    assert graph["fields"] == set() and graph["atomic"] == set()
    assert graph["schema"] <= {"fields", "atomic"}


def test_datasets_modules_import_no_circle():
    graph = _graph()
    try:
        order = list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        pytest.fail(f"import circle in datasets/: {exc.args[1]}")
    assert order.index("schema") < order.index("stores")
    assert {"synth", "labels", "universes", "schema"} <= graph["stores"]


def test_public_api_is_unchanged():
    assert sorted(datasets.__all__) == [
        "FIELDS",
        "INDEXES",
        "SCHEMA_VERSION",
        "UNIVERSES",
        "describe_cube",
        "fingerprint",
        "open_cube",
        "trading_dates",
        "validate_cube",
        "write_cube",
    ]
    stores = importlib.import_module("zoo.datasets.stores")
    assert datasets.open_cube is stores.open_cube and datasets.describe_cube is stores.describe_cube
    for name in datasets.__all__:
        assert getattr(datasets, name) is not None, name
