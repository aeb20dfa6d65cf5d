"""Plugins: built-ins through the hook, outside modules via --plugin / spec / entry points, clear errors."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest
import torch
from zoo.plugins import DEFAULT_PLUGINS

from zoo import registry as registry_mod
from zoo.cli import main
from zoo.compose import build_model
from zoo.errors import RegistryError
from zoo.registry import get_registry
from zoo.specs import load_spec

SPECS = Path(__file__).resolve().parents[1] / "specs"
SWAP = "model.branches.trend.mixer.name=shrink_to_mean"


def test_every_builtin_comes_through_the_hook():
    reg = get_registry()
    origins = {c.origin for c in reg.list()}
    assert origins == set(DEFAULT_PLUGINS)
    for name in DEFAULT_PLUGINS:
        assert reg.pm.get_plugin(name) is not None
        assert reg.pm.hook.zoo_components.get_hookimpls()  # registered via hookimpl, not a side door
    assert {"identity", "demean", "group_demean"} <= set(reg.names("mixer"))


def test_list_filters_by_slot_and_wildcard(capsys):
    assert main(["list", "mixer", "--filter", "*demean"]) == 0
    out = capsys.readouterr().out
    assert "group_demean" in out and "demean" in out and "identity" not in out
    assert "groups: int = 5" in out and "(from zoo.plugins.mixers)" in out
    assert main(["list", "mixers"]) == 2
    assert "unknown slot 'mixers'" in capsys.readouterr().err


def test_outside_mixer_is_listed_swapped_in_and_trains(ext_on_path, capsys):
    assert main(["--plugin", "attention_free_mixer", "list", "mixer"]) == 0
    out = capsys.readouterr().out
    assert "shrink_to_mean" in out and "(from attention_free_mixer)" in out and "strength: float = 0.5" in out

    assert (
        main(["--plugin", "attention_free_mixer", "show", str(SPECS / "decompgru.toml"), "--set", SWAP]) == 0
    )
    out = capsys.readouterr().out
    assert "ShrinkToMean()" in out and "GroupDemean" not in out and "parameters: 51865" in out

    spec = load_spec(SPECS / "decompgru.toml", overrides=[SWAP], plugins=["attention_free_mixer"])
    model = build_model(spec.model, 6, get_registry(["attention_free_mixer"]))
    x = torch.randn(20, 150, 6)
    out = model(x, {"size": torch.randn(20), "mask": torch.ones(20, dtype=torch.bool)})
    (out * torch.randn(20)).sum().backward()
    gate = model.branches["trend"].mixer.gate
    assert gate.grad is not None and torch.any(gate.grad != 0)


def test_plugin_named_in_the_spec(ext_on_path, tmp_path):
    path = tmp_path / "with_plugin.toml"
    path.write_text(
        f'extends = "{SPECS / "decompgru.toml"}"\nname = "p"\nplugins = ["attention_free_mixer"]\n'
        '[model.branches.trend]\nmixer = { name = "shrink_to_mean", strength = 1.0 }\n'
    )
    spec = load_spec(path)
    assert spec.model.branches["trend"].mixer.params == {"strength": 1.0}


def test_unknown_mixer_without_the_plugin_is_a_clear_error(capsys):
    assert main(["show", str(SPECS / "decompgru.toml"), "--set", SWAP]) == 2
    err = capsys.readouterr().err
    assert "unknown mixer 'shrink_to_mean'" in err
    assert "known mixers: cross_attention, demean, group_demean, identity" in err
    assert "Traceback" not in err


def test_duplicate_names_both_origins(ext_on_path):
    with pytest.raises(
        RegistryError,
        match=r"mixer 'demean' is registered twice: by 'zoo\.plugins\.mixers' and by "
        r"'duplicate_mixer'",
    ):
        get_registry(["duplicate_mixer"])


def test_missing_plugin_module(capsys):
    assert main(["--plugin", "no_such_module_xyz", "list"]) == 2
    assert "cannot import plugin module 'no_such_module_xyz'" in capsys.readouterr().err


class FakeEntryPoint:
    def __init__(self, name: str, value: str, target=None, error: Exception | None = None):
        self.name, self.value, self._target, self._error = name, value, target, error

    def load(self):
        if self._error:
            raise self._error
        return self._target


def test_entry_points_load_and_a_broken_one_is_reported_not_fatal(ext_on_path, monkeypatch):
    import attention_free_mixer

    eps = [
        FakeEntryPoint("good", "attention_free_mixer", target=attention_free_mixer),
        FakeEntryPoint("bad", "broken_pkg.plugin", error=ImportError("No module named 'broken_pkg'")),
    ]
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: eps if group == "zoo" else [])
    with pytest.warns(UserWarning, match="skipped plugin entry point 'bad'"):
        reg = get_registry()
    assert "shrink_to_mean" in reg.names("mixer")
    assert any("broken_pkg" in where for where in reg.broken)
    registry_mod.clear_registry_cache()
    monkeypatch.setenv(registry_mod.LOAD_PLUGINS_ENV, "")  # load no entry points at all
    assert "shrink_to_mean" not in get_registry().names("mixer")
