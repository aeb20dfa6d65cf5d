"""The README's plugin example is real code: it registers, lists, swaps into DecompGRU and trains."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import torch

from zoo.cli import main
from zoo.compose import build_model
from zoo.registry import clear_registry_cache, get_registry
from zoo.specs import load_spec

ROOT = Path(__file__).resolve().parents[1]


def readme_plugin_code() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Register a new mixer plugin", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_plugin_example_is_short_and_works(tmp_path, monkeypatch, capsys):
    code = readme_plugin_code()
    assert len(code.strip().splitlines()) <= 30
    (tmp_path / "my_mixer.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    clear_registry_cache()
    try:
        assert main(["--plugin", "my_mixer", "list", "mixer"]) == 0
        assert "median_demean" in capsys.readouterr().out
        swap = "model.branches.trend.mixer.name=median_demean"
        spec = load_spec(ROOT / "specs" / "decompgru.toml", overrides=[swap], plugins=["my_mixer"])
        model = build_model(spec.model, 6, get_registry(["my_mixer"]))
        mask = torch.ones(16, dtype=torch.bool)
        mask[3] = False
        out = model(torch.randn(16, 150, 6), {"size": torch.randn(16), "mask": mask})
        (out * torch.randn(16)).sum().backward()
        assert all(p.grad is not None for p in model.parameters())
    finally:
        clear_registry_cache()
        sys.modules.pop("my_mixer", None)
