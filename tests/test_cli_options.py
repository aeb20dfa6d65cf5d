"""Shared CLI options are defined once (zoo/cli_common.py) and every command uses that definition."""

from __future__ import annotations

import ast
from pathlib import Path

from zoo import cli_common

ZOO = Path(__file__).resolve().parents[1] / "zoo"
SHARED = ("--uri", "--workers", "--scheduler", "--gpus-per-fit", "--cluster-host")
#: Commands still declaring their own copy (the lead is editing ``zoo benchmark``; issue #24 item 5).
KNOWN = {"_benchmark"}


def own_declarations() -> set[tuple[str, str, str]]:
    """(file, function, flag) of every ``typer.Option(..., FLAG, ...)`` written outside cli_common."""
    out = set()
    for path in ZOO.glob("cli*.py"):
        if path.name == "cli_common.py":
            continue
        for fn in ast.walk(ast.parse(path.read_text())):
            if not isinstance(fn, ast.FunctionDef):
                continue
            for call in ast.walk(fn.args):
                if isinstance(call, ast.Call) and getattr(call.func, "attr", "") == "Option":
                    flags = {a.value for a in call.args if isinstance(a, ast.Constant)}
                    out |= {(path.name, fn.name, f) for f in flags & set(SHARED)}
    return out


def test_shared_options_are_declared_once():
    assert {d for d in own_declarations() if d[1] not in KNOWN} == set()


def test_the_shared_definitions_exist():
    for name in ("URI_OPTION", "WORKERS_OPTION", "AUTO_WORKERS_OPTION", "SCHEDULER_OPTION", "GPUS_OPTION"):
        assert getattr(cli_common, name).param_decls[0].startswith("--")
