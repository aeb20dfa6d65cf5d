"""The DaySource contract: a required core, optional capabilities reached only through ``capability``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from zoo.errors import TrainingError
from zoo.train.data import CubeSource
from zoo.train.source import CAPABILITIES, DaySource, SourceCapabilities, capability

ZOO = Path(__file__).resolve().parents[1] / "zoo"


class CoreOnly:
    """A source with the required core and nothing else."""

    dates, symbols, store = (), (), "core"

    def fingerprint(self) -> str:
        return "x"

    def day(self, i: int):
        return None

    def label(self, horizon: int):
        return None


def test_the_cube_source_has_the_core_and_every_capability():
    core = {"dates", "symbols", "store", "fingerprint", "day", "label"}
    assert core <= set(DaySource.__annotations__) | set(vars(DaySource))
    methods = CAPABILITIES - set(SourceCapabilities.__annotations__)  # ``cube`` is set per instance
    assert {m for m in methods if not callable(getattr(CubeSource, m, None))} == set()


def test_capability_falls_back_and_refuses_undeclared_names():
    src = CoreOnly()
    assert isinstance(src, DaySource)
    assert capability(src, "test_day") is None and capability(src, "neutralize") is None
    assert capability(src, "test_day") or src.day  # what a fit scores a test year with
    with pytest.raises(TrainingError, match="not a declared DaySource capability"):
        capability(src, "tset_day")


def test_no_probe_of_a_source_outside_the_one_place():
    probe = re.compile(r"\b(?:getattr|hasattr)\((?:source|src|ctx\.source)\b")
    found = [
        f"{p.relative_to(ZOO)}:{n}"
        for p in ZOO.rglob("*.py")
        if p.name != "source.py"
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if probe.search(line)
    ]
    assert found == []
