"""Classic trained baselines: window features, the estimator slot, specs, and LightGBM / ridge runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from zoo.datasets.batches import DayBatches
from zoo.datasets.features import FEATURES, feature_day, feature_days, normalize_features, window_features

from zoo.errors import DataError, SpecError
from zoo.specs import canonical_dict, canonical_toml, load_spec, spec_hash
from zoo.train.data import CubeSource
from zoo.train.runner import run_spec

torch.set_num_threads(1)
SPECS = Path(__file__).resolve().parents[1] / "specs"
FIELDS = ("open", "high", "low", "close", "vwap", "volume")
COL = {name: i for i, name in enumerate(FEATURES)}


# --------------------------------------------------------------------------- features


def _window(close: np.ndarray, volume: np.ndarray, spread: float = 0.02) -> np.ndarray:
    """Raw windows (N, W, 6) around the given closes: high/low +-spread, vwap 1% above close."""
    x = np.empty((*close.shape, 6), np.float64)
    x[..., 0] = close
    x[..., 1] = close * (1 + spread)
    x[..., 2] = close * (1 - spread)
    x[..., 3] = close
    x[..., 4] = close * 1.01
    x[..., 5] = volume
    return x.astype(np.float32)


def test_window_features_exact_values_on_hand_built_windows():
    w = 150
    t = np.arange(w)
    close = np.stack([10 * np.exp(0.01 * t), 20 * np.exp(-0.002 * t)])  # constant daily log returns
    volume = np.stack([np.full(w, 100.0), np.where(t >= w - 5, 300.0, 100.0)])
    f = window_features(_window(close, volume), FIELDS)
    assert f.shape == (2, len(FEATURES)) and f.dtype == np.float32
    c = close.astype(np.float32).astype(np.float64)  # the window is float32
    for k in (1, 5, 10, 20, 60, 120):
        np.testing.assert_allclose(f[:, COL[f"ret_{k}"]], np.log(c[:, -1] / c[:, -1 - k]), rtol=1e-5)
    np.testing.assert_allclose(f[0, COL["ret_20"]], 0.2, rtol=1e-4)
    np.testing.assert_allclose(f[:, COL["ma_gap_5"]], c[:, -1] / c[:, -5:].mean(axis=1) - 1, rtol=1e-4)
    np.testing.assert_allclose(f[:, COL["vol_20"]], 0.0, atol=1e-5)  # constant returns: no volatility
    np.testing.assert_allclose(f[:, COL["max_ret_20"]], [0.01, -0.002], rtol=1e-3)
    # stock 1 traded 3x its usual volume over the last 5 days: window mean = (145 * 100 + 5 * 300) / 150
    base = (145 * 100 + 5 * 300) / 150
    np.testing.assert_allclose(f[1, COL["volume_5"]], np.log(300 / base), rtol=1e-5)
    np.testing.assert_allclose(f[1, COL["volume_20"]], np.log((15 * 100 + 5 * 300) / 20 / base), rtol=1e-5)
    np.testing.assert_allclose(f[0, COL["volume_5"]], 0.0, atol=1e-6)
    amount = (c[0, -20:] * 100).mean()
    np.testing.assert_allclose(f[0, COL["amount_20"]], np.log(amount), rtol=1e-6)
    np.testing.assert_allclose(f[:, COL["range_5"]], 0.04, rtol=1e-4)  # (h - l) / c = 2 * spread
    # stock 0 rises all window (its high is today's), stock 1 falls (its low is today's)
    np.testing.assert_allclose(f[0, COL["to_high"]], 1 / 1.02 - 1, rtol=1e-4)
    np.testing.assert_allclose(f[1, COL["to_low"]], 1 / 0.98 - 1, rtol=1e-4)
    np.testing.assert_allclose(f[1, COL["to_high"]], c[1, -1] / (c[1, 0] * 1.02) - 1, rtol=1e-4)
    np.testing.assert_allclose(f[:, COL["vwap_gap"]], 0.01, rtol=1e-3)
    assert np.isnan(f[0, COL["corr_cv_20"]])  # constant volume: no correlation defined
    np.testing.assert_allclose(
        f[1, COL["corr_cv_20"]], np.corrcoef(c[1, -20:], np.log1p(volume[1, -20:]))[0, 1]
    )


def test_missing_bars_make_features_nan_not_wrong():
    w = 150
    close = np.full((1, w), 10.0)
    close[0, -21] = np.nan  # the close 20 days back is missing
    close[0, :50] = np.nan  # and the first 50 days (a breach cut, say)
    f = window_features(_window(close, np.full((1, w), 5.0)), FIELDS)
    assert np.isnan(f[0, COL["ret_20"]]) and np.isnan(f[0, COL["ret_120"]])
    assert f[0, COL["ret_60"]] == 0 and f[0, COL["ma_gap_60"]] == 0  # one gap in 60 days is fine
    short = window_features(_window(np.full((1, 30), 10.0), np.full((1, 30), 5.0)), FIELDS)
    assert np.isnan(short[0, COL["ret_60"]]) and np.isnan(short[0, COL["vol_60"]])  # longer than the window
    with pytest.raises(DataError, match=r"classic features need the fields .*lacks \['volume'\]"):
        window_features(np.ones((2, 30, 5), np.float32), FIELDS[:5])


def test_normalize_features_ranks_each_day_on_its_own():
    f = np.array([[3.0, 1.0], [1.0, np.nan], [2.0, 5.0], [10.0, 0.0], [20.0, 0.0]], np.float32)
    day = np.array([0, 0, 0, 1, 1])
    out = normalize_features(f, day)
    np.testing.assert_array_equal(out[:3, 0], [0.5, -0.5, 0.0])
    np.testing.assert_array_equal(out[:3, 1], [-0.5, 0.0, 0.5])  # NaN -> 0, the middle rank
    np.testing.assert_array_equal(out[3:, 0], [-0.5, 0.5])  # day 1 is ranked without day 0's values
    np.testing.assert_array_equal(out[3:, 1], [0.0, 0.0])  # ties share the mean rank
    np.testing.assert_array_equal(normalize_features(f[:3]), out[:3])


@pytest.fixture(scope="module")
def market():
    from zoo.datasets.synth import make_market

    # a strong planted trend, so a model that learns anything shows it in a short test year
    return make_market(
        n_stocks=40, start="2016-01-01", end="2018-12-31", seed=0, signal_strength=8.0, reversal_weight=0.0
    )


def test_features_use_no_future_data(market, monkeypatch):
    cut = np.datetime64("2018-03-01")
    dates = market["date"].values
    future = dates >= cut
    rng = np.random.default_rng(3)
    bars = market["bars"].values.copy()
    bars[future] *= rng.uniform(0.5, 1.5, size=bars[future].shape).astype(np.float32)
    breach = market["breach"].values.copy()
    breach[future] |= rng.random(breach[future].shape) < 0.05
    changed = market.assign(
        bars=(market["bars"].dims, bars, market["bars"].attrs),
        breach=(market["breach"].dims, breach, market["breach"].attrs),
    )
    kw = dict(window=60, min_history=40, label_norm=None, require_label=False)
    a, b = DayBatches(market, **kw), DayBatches(changed, **kw)
    past = a.positions[dates[a.positions] < cut]
    assert len(past) > 300
    monkeypatch.setattr("zoo.datasets.features.BLOCK_ROWS", 500)  # several blocks: block edges change nothing
    fa, fb = feature_days(a, past), feature_days(b, past)
    for x, y in zip(fa, fb, strict=True):
        np.testing.assert_array_equal(x.symbols, y.symbols)
        np.testing.assert_array_equal(x.x, y.x)
    later = [int(p) for p in a.positions[dates[a.positions] >= cut]][:5]
    assert not all(
        np.array_equal(x.x, y.x) for x, y in zip(feature_days(a, later), feature_days(b, later), strict=True)
    )
    one = feature_day(a, int(past[-1]))
    np.testing.assert_array_equal(one.x, fa[-1].x)  # one day alone equals the same day in a block


def test_features_cover_exactly_the_models_days_and_stocks(market):
    spec = load_spec(SPECS / "lightgbm.toml", ("data.window=60", "data.min_history=40"))
    src = CubeSource(market, spec.data, store="memory")
    positions = np.arange(0, len(src.dates), 7)
    for test in (False, True):
        fetch = src.test_day if test else src.day
        for i, fd in zip(positions, src.features(positions, test=test), strict=True):
            day = fetch(int(i))
            assert (fd is None) == (day is None)
            if day is not None:
                np.testing.assert_array_equal(fd.symbols, day.symbols)
                assert fd.x.shape == (day.n, len(FEATURES)) and fd.x.dtype == np.float32
                assert np.isfinite(fd.x).all()


# --------------------------------------------------------------------------- specs


def test_network_specs_keep_their_canonical_model_table():
    # Pinned: adding model.estimator must not touch a network spec's canonical form or hash.
    spec = load_spec(SPECS / "gru.toml")
    assert canonical_dict(spec)["model"] == {
        "decomposition": {"name": "identity"},
        "branches": {
            "raw": {
                "encoder": [{"name": "patch_conv", "width": 64, "kernel": 3, "stride": 3}],
                "mixer": {"name": "identity"},
                "enabled": True,
            }
        },
        "norm": "layernorm",
        "trunk": [{"name": "gru", "hidden": 64, "layers": 1}],
        "head": {"name": "linear", "bias": True},
    }
    for path in sorted(SPECS.rglob("*.toml")):
        if "studies" in path.parts or path.stem in ("lightgbm", "ridge"):
            continue
        assert "estimator" not in canonical_toml(load_spec(path)), path


def test_estimator_specs_are_canonical_and_validated(tmp_path):
    spec = load_spec(SPECS / "lightgbm.toml")
    model = canonical_dict(spec)["model"]
    assert list(model) == ["estimator"]  # no unused network defaults in the form or the hash
    assert model["estimator"]["name"] == "lightgbm" and model["estimator"]["early_stopping_rounds"] == 50
    again = tmp_path / "canon.toml"
    again.write_text(canonical_toml(spec))
    assert load_spec(again) == spec and spec_hash(load_spec(again)) == spec_hash(spec)
    ridge = load_spec(SPECS / "lightgbm.toml", ["model.estimator.name=ridge"])
    assert ridge.model.estimator.params == {"alpha": 1.0, "fit_intercept": True}  # params reset
    assert spec_hash(ridge) != spec_hash(spec)


@pytest.mark.parametrize(
    "override,message",
    [
        (
            "model.estimator.name=lightgmb",
            r"lightgbm\.toml: model\.estimator: unknown estimator 'lightgmb'; did you mean 'lightgbm'\? "
            r"known estimators: lightgbm, ridge$",
        ),
        ("model.estimator.num_leavs=3", r"model\.estimator: unknown key\(s\) num_leavs"),
        ("model.estimator.learning_rate=-1.0", r"'learning_rate' must be > 0"),
        ('model.decomposition={name="identity"}', r"model\.estimator replaces the network"),
    ],
)
def test_bad_estimator_specs_get_one_line(override, message):
    with pytest.raises(SpecError, match=message) as info:
        load_spec(SPECS / "lightgbm.toml", [override])
    assert "\n" not in str(info.value)


def test_a_model_needs_a_network_or_an_estimator(tmp_path):
    path = tmp_path / "empty.toml"
    path.write_text('name = "x"\n[model]\nnorm = "layernorm"\n')
    with pytest.raises(SpecError, match=r"empty\.toml: model: model needs a network .* or an estimator"):
        load_spec(path)


def test_cli_names_a_wrong_estimator_in_one_line(capsys):
    from zoo.cli import main

    code = main(["train", str(SPECS / "lightgbm.toml"), "--set", "model.estimator.name=ridg"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "did you mean 'ridge'?" in err
    assert main(["show", str(SPECS / "ridge.toml")]) == 0
    out = capsys.readouterr().out
    assert "StandardScaler" in out and "Ridge(" in out and f"features ({len(FEATURES)})" in out
    assert main(["list", "estimator"]) == 0
    out = capsys.readouterr().out
    assert "lightgbm" in out and "early_stopping_rounds: int = 50" in out and "ridge" in out


# --------------------------------------------------------------------------- training


SETS = (
    "data.window=60",
    "data.min_history=40",
    "train.test_years=[2018]",
    "train.train_years=1",
    "train.seeds=[0, 1]",
    "train.valid_stride=2",
)


@pytest.fixture(scope="module", params=["lightgbm", "ridge"])
def trained(request, market, tmp_path_factory):
    name = request.param
    tmp = tmp_path_factory.mktemp(name)
    extra = ("model.estimator.n_estimators=150",) if name == "lightgbm" else ()
    spec = load_spec(SPECS / f"{name}.toml", (*SETS, *extra))
    src = CubeSource(market, spec.data, store="memory")
    uri = f"sqlite:///{tmp}/mlflow.db"
    return name, spec, src, uri, run_spec(spec, src, experiment="classic", uri=uri)


def test_estimators_train_and_predict_through_the_runner(trained, market):
    from zoo.datasets.synth import oracle_rank_ic

    name, spec, src, uri, res = trained
    assert (res.trained, res.reused) == (2, 0)
    assert set(res.score["date"].dt.year.values.tolist()) == {2018}
    oracle = oracle_rank_ic(market, 10, dates=slice("2018-01-01", "2018-12-31"))
    # the features see the planted trend: well above nothing, below the oracle
    assert 0.15 < res.metrics["rank_ic_10d"] < oracle, (res.metrics, oracle)
    # every scored stock is one the deep models' day batch holds that day
    for i in np.flatnonzero(np.isin(src.dates, res.score["date"].values))[::25]:
        scored = res.score.sel(date=src.dates[i]).dropna("symbol")["symbol"].values
        np.testing.assert_array_equal(np.sort(scored), np.sort(src.test_day(int(i)).symbols))


def test_runs_log_the_model_metrics_and_resume(trained, tmp_path):
    from zoo.tracking import runs as tracking
    from zoo.train import estimator_io
    from zoo.train.classic import ESTIMATOR_FILE, FEATURES_FILE

    name, spec, src, uri, res = trained
    c = tracking.client(uri)
    children = sorted(
        tracking.child_runs(c, res.experiment_id, res.parent_run_id), key=lambda r: r.info.run_name
    )
    assert [r.info.run_name for r in children] == [f"{name}-2018-s0", f"{name}-2018-s1"]
    run = children[0]
    assert run.data.metrics["test_rank_ic"] > 0.1 and run.data.metrics["best_valid_rank_ic"] > 0.1
    history = c.get_metric_history(run.info.run_id, "valid_rank_ic")
    if name == "lightgbm":  # one validation RankIC per boosting round; the best round kept
        assert len(history) == run.data.metrics["epochs_run"] > run.data.metrics["best_epoch"] >= 1
        best = max(m.value for m in history)
        assert run.data.metrics["best_valid_rank_ic"] == pytest.approx(best, abs=1e-6)
    else:
        assert history == [] and run.data.metrics["best_epoch"] == 0
    folder = Path(c.download_artifacts(run.info.run_id, "weights", str(tmp_path)))
    assert json.loads((folder / FEATURES_FILE).read_text()) == list(FEATURES)
    assert sorted(p.name for p in folder.iterdir()) == [ESTIMATOR_FILE, FEATURES_FILE]  # no pickle
    model = estimator_io.from_json((folder / ESTIMATOR_FILE).read_text())  # data, read back, predicts again
    scores = tracking.download_scores(c, run.info.run_id, "predictions/scores.zarr")
    i = int(np.flatnonzero(src.dates == scores["date"].values[10])[0])
    (day,) = src.features([i], test=True)
    logged = scores.isel(date=10).sel(symbol=day.symbols).values
    np.testing.assert_array_equal(np.asarray(model.predict(day.x), np.float32), logged)
    parent = c.get_run(res.parent_run_id)
    spec_text = (Path(c.download_artifacts(res.parent_run_id, "spec.toml", str(tmp_path)))).read_text()
    assert "[model.estimator]" in spec_text and parent.data.tags["zoo.spec_hash"] == spec_hash(spec)
    assert parent.data.params["model.estimator.name"] == name
    assert parent.data.metrics["0_RankIC_10d"] == pytest.approx(res.metrics["rank_ic_10d"])
    again = run_spec(spec, src, experiment="classic", uri=uri)
    assert (again.trained, again.reused) == (0, 2) and again.parent_run_id == res.parent_run_id
    np.testing.assert_array_equal(again.score.values, res.score.values)


def test_seeds_reach_the_estimator_and_fits_repeat(trained):
    from zoo.registry import get_registry
    from zoo.train.classic import fit_split
    from zoo.train.splits import rolling_splits

    name, spec, src, _, _ = trained
    split = rolling_splits(src.dates, [2018], 1, 1, spec.data.horizon + 1)[0]
    reg = get_registry()
    runs = [fit_split(spec, src, split, seed, reg) for seed in (0, 0, 1)]
    (r0, p0, _), (r0b, p0b, _), (_, p1, _) = runs
    a, b, other = (np.concatenate([s for _, _, s in p]) for p in (p0, p0b, p1))
    np.testing.assert_array_equal(a, b)  # same seed, same data: the same model
    assert r0.history == r0b.history
    if name == "lightgbm":
        assert not np.array_equal(a, other)  # bagging and column sampling follow the seed
    else:
        np.testing.assert_array_equal(a, other)  # a closed-form fit has nothing random


def test_an_estimator_needs_a_cube_source():
    from test_train_tracking import ToySource

    from zoo.errors import TrainingError
    from zoo.registry import get_registry
    from zoo.train.classic import fit_split
    from zoo.train.splits import rolling_splits

    spec = load_spec(SPECS / "ridge.toml", ("data.window=15", "data.horizon=2"))
    src = ToySource()
    split = rolling_splits(src.dates, [2021], 1, 1, 3)[0]
    with pytest.raises(TrainingError, match="gives no window features; an estimator spec needs a cube"):
        fit_split(spec, src, split, 0, get_registry())


def test_the_stored_document_scores_exactly_as_the_fitted_model(trained):
    """``estimator.json`` read back gives the in-memory model's scores bit for bit (no pickle needed)."""
    from zoo.registry import get_registry
    from zoo.train import estimator_io
    from zoo.train.classic import fit_estimator
    from zoo.train.splits import rolling_splits

    name, spec, src, _, _ = trained
    split = rolling_splits(src.dates, [2018], 1, 1, spec.data.horizon + 1)[0]
    ref = spec.model.estimator
    setup = get_registry().build("estimator", ref.name, ref.params, len(FEATURES))
    days = src.features(split.train[::3])
    fit_estimator(setup, days, src.features(split.valid[::2]), "rank", 0)
    x = np.concatenate([d.x for d in src.features(split.test, test=True) if d is not None])
    stored = estimator_io.from_json(estimator_io.to_json(setup.estimator))
    np.testing.assert_array_equal(stored.predict(x), setup.estimator.predict(x))
    assert type(stored).__module__ == "zoo.train.estimator_io"


def test_an_unreadable_or_unknown_estimator_is_one_line():
    from zoo.errors import TrainingError
    from zoo.train import estimator_io

    with pytest.raises(TrainingError, match=r"^w\.json: not a readable estimator document"):
        estimator_io.from_json('{"format": 1, "kind": "linear", "coef": {"dtype": "<f4"', "w.json")
    with pytest.raises(TrainingError, match=r"unknown estimator kind 'pickle'"):
        estimator_io.from_json('{"format": 1, "kind": "pickle"}')
    with pytest.raises(TrainingError, match=r"a fitted object has no data format .* zoo stores no pickles"):
        estimator_io.to_json(object())
