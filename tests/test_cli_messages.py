"""What a newcomer reads: `zoo show --toml` output, error and help messages, Ctrl-C, plugin versions."""

from __future__ import annotations

import importlib.metadata
import shutil
import sys
import tomllib
from pathlib import Path

import pytest

from zoo import cli
from zoo import registry as registry_mod
from zoo.cli import main
from zoo.errors import SpecError
from zoo.registry import get_registry
from zoo.specs import load_spec, loads_spec, spec_hash

SPECS = Path(__file__).resolve().parents[1] / "specs"


def test_show_toml_writes_only_toml_to_stdout(capsys, tmp_path):
    swap = "model.branches.trend.mixer.name=demean"
    assert main(["show", str(SPECS / "decompgru.toml"), "--toml", "--set", swap]) == 0
    out, err = capsys.readouterr()
    (tmp_path / "f.toml").write_text(out)
    loaded = load_spec(tmp_path / "f.toml")  # the README's promise: the file loads back
    original = load_spec(SPECS / "decompgru.toml", overrides=[swap])
    assert loaded == original and spec_hash(loaded) == spec_hash(original)
    assert "hash:" in err and "parameters:" in err and "hash:" not in out
    assert main(["show", str(SPECS / "ridge.toml"), "--toml"]) == 0  # an estimator spec too
    out, err = capsys.readouterr()
    assert tomllib.loads(out)["model"]["estimator"]["name"] == "ridge" and "features (" in err


def test_unknown_loss_says_losses(capsys):
    assert main(["show", str(SPECS / "decompgru.toml"), "--set", "train.loss.name=icc"]) == 2
    err = capsys.readouterr().err
    assert "known losses: ic, weighted_mse" in err and "losss" not in err
    assert registry_mod.plural("mixer") == "mixers" and registry_mod.plural("loss") == "losses"


def test_train_on_a_study_file_points_to_zoo_study(capsys):
    study = SPECS / "studies" / "ablations.toml"
    assert main(["train", str(study)]) == 2
    err = capsys.readouterr().err
    assert "is a study file" in err and f"zoo study {study}" in err and "Traceback" not in err


def test_missing_extends_target_names_the_key_and_the_file(tmp_path):
    child = tmp_path / "child.toml"
    child.write_text('extends = "../nowhere/base.toml"\nname = "c"\n')
    with pytest.raises(SpecError) as info:
        load_spec(child)
    msg = str(info.value)
    assert msg.startswith(f"{child}: extends = '../nowhere/base.toml'") and "no such file" in msg


def test_broken_entry_point_shows_the_plugins_own_error(tmp_path, monkeypatch, capsys):
    plugin = tmp_path / "brokenplug.py"
    plugin.write_text('"""A plugin whose import fails."""\n\nraise RuntimeError("needs libfoo >= 2")\n')
    monkeypatch.syspath_prepend(str(tmp_path))

    class EntryPoint:
        name, value = "brokenplug", "brokenplug"

        def load(self):
            import importlib

            return importlib.import_module(self.value)

    monkeypatch.setattr(
        importlib.metadata, "entry_points", lambda group: [EntryPoint()] if group == "zoo" else []
    )
    registry_mod.clear_registry_cache()
    try:
        with pytest.warns(UserWarning, match="needs libfoo >= 2") as record:
            reg = get_registry()
        # the warning points at the plugin's own line, not at the registry's loader
        assert Path(record[0].filename) == plugin and record[0].lineno == 3
        (why,) = reg.broken.values()
        assert why == f"RuntimeError: needs libfoo >= 2 ({plugin}:3)"
        assert main(["list", "head"]) == 0
        err = capsys.readouterr().err
        assert f"({plugin}:3)" in err and "registry.py" not in err
    finally:
        registry_mod.clear_registry_cache()
        sys.modules.pop("brokenplug", None)


@pytest.mark.parametrize("args", [[], ["train"], ["show"], ["evaluate"], ["data", "ingest"], ["main"]])
def test_help_has_no_type_noise(args, capsys):
    assert main([*args, "--help"]) == 0
    out = capsys.readouterr().out
    for noise in ("<bool>", "<list[str]>", "<str>", "<int", "<path>", "<float"):
        assert noise not in out, noise
    assert "Show this message and exit." in out


def test_ctrl_c_prints_how_to_resume(monkeypatch, capsys):
    import zoo.specs

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(zoo.specs, "load_spec", interrupted)
    argv = ["train", "specs/gru.toml", "--set", "train.seeds=[0]"]
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert "interrupted; to resume, run the same command again:" in err
    assert "zoo train specs/gru.toml --set 'train.seeds=[0]'" in err
    assert cli.resume_hint(["list"]) is None  # nothing to resume
    assert cli.resume_hint(["evaluate", "main"]) is None  # "main" is the study here, not the command
    assert "zoo -p m study s.toml" in cli.resume_hint(["-p", "m", "study", "s.toml"])


def test_outside_plugin_versions(ext_on_path, tmp_path, monkeypatch):
    from zoo.tracking import runs as tracking

    assert get_registry().outside_versions() == {}  # built-ins are versioned by the zoo itself
    mod = tmp_path / "versioned_mixer.py"
    shutil.copy(ext_on_path / "attention_free_mixer.py", mod)
    monkeypatch.syspath_prepend(str(tmp_path))
    first = get_registry(["versioned_mixer"]).outside_versions()
    assert list(first) == ["versioned_mixer"] and first["versioned_mixer"].startswith("sha256:")
    mod.write_text(mod.read_text() + "\n# changed\n")
    second = get_registry(["versioned_mixer"]).outside_versions()
    assert tracking.version_changes(first, second) == [
        f"versioned_mixer: {first['versioned_mixer']} -> {second['versioned_mixer']}"
    ]
    assert registry_mod.module_version(pytest).startswith("pytest==")  # an installed distribution
    sys.modules.pop("versioned_mixer", None)


def test_spec_hash_ignores_plugin_versions(ext_on_path):
    raw = tomllib.loads((SPECS / "gru.toml").read_text())
    with_plugin = loads_spec({**raw, "plugins": []}, plugins=["attention_free_mixer"])
    assert spec_hash(with_plugin) == spec_hash(load_spec(SPECS / "gru.toml"))
