"""Specs: extends, --set, validation messages, canonical round trip and hash."""

from __future__ import annotations

from pathlib import Path

import pytest

from zoo.errors import SpecError
from zoo.specs import canonical_toml, flatten, load_spec, spec_hash
from zoo.specs.loader import loads_spec, read_raw

SPECS = Path(__file__).resolve().parents[1] / "specs"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def base(tmp_path: Path, body: str, name: str = "bad.toml") -> Path:
    return write(tmp_path, name, f'extends = "{SPECS / "decompgru.toml"}"\nname = "x"\n{body}')


def test_decompgru_spec_matches_the_report():
    spec = load_spec(SPECS / "decompgru.toml")
    m = spec.model
    assert m.decomposition.name == "moving_average" and m.decomposition.params == {"window": 5}
    trend, residual = m.branches["trend"], m.branches["residual"]
    assert [r.name for r in trend.encoder] == ["patch_conv", "gru"]
    assert trend.encoder[0].params == {"width": 64, "kernel": 3, "stride": 3}
    assert trend.mixer.name == "group_demean" and trend.mixer.params["groups"] == 5
    assert trend.mixer.params["by"] == "size"
    assert [r.name for r in residual.encoder] == ["dsconv"] and residual.mixer.name == "identity"
    assert m.norm == "layernorm" and [r.name for r in m.trunk] == ["gru"] and m.head.name == "linear"
    assert spec.train.patience == 15 and spec.train.lr == 1e-3 and spec.train.seeds == (0, 42, 3407)
    assert spec.data.window == 150 and len(spec.data.fields) == 6


EXPERIMENT_SPECS = [p for p in sorted(SPECS.rglob("*.toml")) if "studies" not in p.parts]


@pytest.mark.parametrize("path", EXPERIMENT_SPECS, ids=lambda p: p.name)
def test_canonical_form_round_trips(path, tmp_path):
    spec = load_spec(path)
    text = canonical_toml(spec)
    again = load_spec(write(tmp_path, "canon.toml", text))
    assert again == spec
    assert canonical_toml(again) == text
    assert spec_hash(again) == spec_hash(spec)


def test_ablations_differ_from_decompgru_only_where_they_say():
    ref = flatten(load_spec(SPECS / "decompgru.toml"))
    demean = flatten(load_spec(SPECS / "ablations" / "demean.toml"))
    changed = {k for k in ref.keys() | demean.keys() if ref.get(k) != demean.get(k)}
    assert changed == {
        "name",
        "description",
        "model.branches.trend.mixer.name",
        "model.branches.trend.mixer.groups",
        "model.branches.trend.mixer.by",
        "model.branches.trend.mixer.mode",
    }


def test_hash_is_stable_and_sensitive():
    a = load_spec(SPECS / "decompgru.toml")
    b = load_spec(SPECS / "decompgru.toml", overrides=["train.patience=15"])
    c = load_spec(SPECS / "decompgru.toml", overrides=["train.patience=14"])
    assert spec_hash(a) == spec_hash(b) != spec_hash(c)
    assert len(spec_hash(a)) == 12


def test_defaults_are_filled_so_equal_models_hash_equal(tmp_path):
    explicit = base(
        tmp_path, "[model.branches.trend]\nmixer = { name = 'group_demean', groups = 5 }", "a.toml"
    )
    implicit = base(tmp_path, "[model.branches.trend]\nmixer = { name = 'group_demean' }", "b.toml")
    assert spec_hash(load_spec(explicit)) == spec_hash(load_spec(implicit))


def test_set_overrides_values_lists_and_components():
    spec = load_spec(
        SPECS / "decompgru.toml",
        overrides=[
            "train.patience=3",
            "train.seeds=[1, 2]",
            "model.trunk.0.hidden=32",
            "model.branches.trend.mixer.name=demean",  # another component: its params reset
            "data.universe=csi500",
            'name="renamed"',  # the spec's own name is not a component: nothing else resets
        ],
    )
    assert spec.name == "renamed"
    assert spec.train.patience == 3 and spec.train.seeds == (1, 2)
    assert spec.model.trunk[0].params["hidden"] == 32
    assert spec.model.branches["trend"].mixer.name == "demean"
    assert spec.model.branches["trend"].mixer.params == {}
    assert spec.data.universe == "csi500"


def test_extends_chain_overrides_and_child_wins(tmp_path):
    write(
        tmp_path, "mid.toml", f'extends = "{SPECS / "decompgru.toml"}"\nname = "mid"\n[train]\npatience = 4\n'
    )
    leaf = write(tmp_path, "leaf.toml", 'extends = "mid.toml"\nname = "leaf"\n[train]\nmax_epochs = 9\n')
    spec = load_spec(leaf)
    assert spec.name == "leaf" and spec.train.patience == 4 and spec.train.max_epochs == 9
    assert spec.model.branches["trend"].mixer.name == "group_demean"


BAD = [
    ("[model]\nnrom = 'layernorm'", r"bad\.toml: model: unknown key\(s\) nrom; allowed here: decomposition"),
    ("[train]\npatience = '15'", r"train\.patience: expected int, got str '15'"),
    ("[train]\npatience = 1.5", r"train\.patience: expected int, got float 1\.5"),
    ("[train]\nlr = -1.0", r"train: 'lr' must be > 0"),
    ("[model]\nnorm = 'batch'", r"model: 'norm' must be in \('layernorm', 'none'\)"),
    (
        "[model.branches.trend]\nmixer = { name = 'group_demaen' }",
        r"did you mean 'group_demean'\?.*known mixers",
    ),
    (
        "[model.branches.trend]\nmixer = { name = 'group_demean', groupz = 3 }",
        r"mixer: unknown key\(s\) groupz",
    ),
    ("[model.branches.trend]\nmixer = { name = 'group_demean', groups = 0 }", r"'groups' must be >= 1"),
    ("[model.branches.trend]\nmixer = { groups = 3, name = 7 }", r"component name must be a string"),
    ("[model.branches.momentum]\nencoder = [{ name = 'gru' }]", r"has no component 'momentum'"),
    ("[model.branches.trend]\nencoder = []", r"encoder must list at least one stage"),
    ("[train]\nloss = { name = 'mse' }", r"train\.loss: unknown loss 'mse'"),
    ("[data]\nwindow = 2", r"data: 'window' must be >= 3"),
    ("[model.head]\nname = 'linear'\nbias = 'yes'", r"model\.head\.bias: expected bool"),
]


@pytest.mark.parametrize("body,message", BAD, ids=[m for _, m in BAD])
def test_bad_specs_get_one_clear_message(tmp_path, body, message):
    path = base(tmp_path, body)
    with pytest.raises(SpecError, match=message) as info:
        load_spec(path)
    assert str(path) in str(info.value)


def test_bad_files(tmp_path):
    with pytest.raises(SpecError, match="spec file not found"):
        load_spec(tmp_path / "missing.toml")
    with pytest.raises(SpecError, match=r"syntax\.toml: not valid TOML: .*line 1"):
        load_spec(write(tmp_path, "syntax.toml", "name = = 1\n"))
    write(tmp_path, "a.toml", 'extends = "b.toml"\nname = "a"\n')
    write(tmp_path, "b.toml", 'extends = "a.toml"\nname = "b"\n')
    with pytest.raises(SpecError, match="'extends' forms a cycle"):
        load_spec(tmp_path / "a.toml")
    with pytest.raises(SpecError, match=r"model: required key is missing"):
        load_spec(write(tmp_path, "nomodel.toml", 'name = "x"\n'))


@pytest.mark.parametrize(
    "override,message",
    [
        ("train.patience", r"expected KEY\.PATH=VALUE"),
        ("model.trunk.5.hidden=3", r"model\.trunk\.5 is not an index of a list of 1"),
        ("model.norm.x=3", r"model\.norm is a value, not a table"),
        ("train.patiense=3", r"train: unknown key\(s\) patiense"),
        ("train.patience=abc", r"train\.patience: expected int, got str 'abc'"),
    ],
)
def test_bad_overrides(override, message):
    with pytest.raises(SpecError, match=message):
        load_spec(SPECS / "decompgru.toml", overrides=[override])


def test_validation_happens_before_anything_is_built(monkeypatch):
    import zoo.compose

    def boom(*a, **k):
        raise AssertionError("built a model before validating")

    monkeypatch.setattr(zoo.compose, "build_model", boom)
    with pytest.raises(SpecError):
        loads_spec(read_raw(SPECS / "decompgru.toml"), overrides=["train.patience=-1"])
