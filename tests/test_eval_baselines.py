"""Baselines beside the models: masked to the models' cells, validated in specs, outside the spec hash."""

from __future__ import annotations

import tomllib

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from zoo.evaluation.baselines import baseline_label, baseline_scores, model_mask
from zoo.evaluation.ic import forward_returns, rank_ic
from zoo.evaluation.report import evaluate
from zoo.evaluation.testing import tiny_cube

from zoo.errors import EvaluationError, SpecError
from zoo.registry import get_registry
from zoo.specs import canonical_toml, flatten, load_spec, loads_spec, read_raw, spec_hash
from zoo.specs.evaluate import DEFAULT_BASELINES, EvalSpec


def _market(seed: int = 0, n_dates: int = 80, n_sym: int = 40):
    rng = np.random.default_rng(seed)
    close = 10 * np.exp(np.cumsum(rng.normal(0, 0.02, (n_dates, n_sym)), axis=0))
    close[rng.random(close.shape) < 0.03] = np.nan
    cube = tiny_cube(close, volume=rng.uniform(1e5, 1e6, close.shape))
    fwd = forward_returns(cube, 5)
    noise = xr.DataArray(rng.normal(size=close.shape), coords=fwd.coords, dims=fwd.dims)
    a = (fwd + 0.02 * noise).where(np.arange(n_dates)[:, None] >= 30)
    b = noise.where(np.arange(n_dates)[:, None] >= 30)
    a = a.where(rng.random(close.shape) > 0.1)  # each model misses its own cells
    b = b.where(rng.random(close.shape) > 0.1)
    scores = xr.concat([a, b], dim=pd.Index(["A", "B"], name="model")).rename("score")
    return cube, scores


def test_baseline_is_nan_exactly_where_a_model_is():
    cube, scores = _market()
    factor = get_registry().build("factor", "reversal_5")(cube)
    assert np.isfinite(factor.values[30:]).mean() > 0.9
    base = baseline_scores(cube, ["reversal_5"], model_mask(scores.sel(model="A")))
    assert list(base["model"].values) == ["reversal_5 (baseline)"] and base.dtype == np.float32
    one = base.sel(model="reversal_5 (baseline)").values
    model_nan = np.isnan(scores.sel(model="A").values)
    usable = ~model_nan & np.isfinite(factor.values)
    np.testing.assert_array_equal(np.isnan(one), ~usable)
    np.testing.assert_array_equal(one[usable], factor.values[usable])
    # with several models: the cells where every model has a score
    both = baseline_scores(cube, ["reversal_5"], model_mask(scores)).values[0]
    np.testing.assert_array_equal(
        np.isnan(both), np.isnan(scores.values).any(axis=0) | ~np.isfinite(factor.values)
    )


def test_evaluate_scores_baselines_on_the_models_cells_only():
    cube, scores = _market()
    spec = EvalSpec(
        horizons=(5,), universes=("all",), groups={"all": 4}, styles=(), baselines=("low_vol_20",)
    )
    res = evaluate(scores, cube, spec)
    label = baseline_label("low_vol_20")
    assert res.models == ["A", "B"] and res.baselines == [label]
    factor = get_registry().build("factor", "low_vol_20")(cube)
    both = np.isfinite(scores.values).all(axis=0)
    fwd = forward_returns(cube, 5)
    masked = rank_ic(factor.where(both), fwd, None, spec.min_stocks)
    unmasked = rank_ic(factor, fwd, None, spec.min_stocks)
    got = res.ic_series[(label, 5, "all")]
    pd.testing.assert_series_equal(got.dropna(), masked.dropna(), check_names=False, check_freq=False)
    assert not np.allclose(masked.dropna().to_numpy(), unmasked.reindex(masked.dropna().index).to_numpy())
    assert got.index[got.notna()][0] >= cube["date"].values[30]  # no day the models did not score
    assert res.ic_tables[5].columns.tolist() == ["A", "B", label]
    assert label in res.top_tables["all"].columns and label in res.factor_corr.index
    assert res.metrics[label]["ic5.all.rank_ic"] == pytest.approx(float(masked.dropna().mean()))


def test_bad_baselines_are_one_clear_error():
    cube, scores = _market()
    with pytest.raises(EvaluationError, match=r"evaluate.baselines\[0\] \('low_vol'\): unknown factor"):
        evaluate(scores, cube, EvalSpec(horizons=(5,), universes=("all",), styles=(), baselines=("low_vol",)))
    with pytest.raises(EvaluationError, match="needs the cube variable 'mcap'"):
        baseline_scores(cube.drop_vars("mcap"), ["low_turnover_20"], model_mask(scores))


def test_spec_baselines_validated_against_the_registry(specs_dir):
    spec = load_spec(specs_dir / "decompgru.toml")
    assert spec.evaluate.baselines == DEFAULT_BASELINES
    with pytest.raises(SpecError) as err:
        load_spec(specs_dir / "decompgru.toml", overrides=['evaluate.baselines=["reversal_5", "low_vol_2"]'])
    msg = str(err.value)
    assert (
        "decompgru.toml: evaluate.baselines[1]: unknown factor 'low_vol_2'; did you mean 'low_vol_20'?" in msg
    )
    assert "known factors: low_turnover_20, low_vol_20, momentum_60, rank_combo" in msg
    with pytest.raises(SpecError, match="listed more than once"):
        load_spec(specs_dir / "decompgru.toml", overrides=['evaluate.baselines=["reversal_5", "reversal_5"]'])
    none = load_spec(specs_dir / "decompgru.toml", overrides=["evaluate.baselines=[]"])
    assert none.evaluate.baselines == ()


def test_baselines_round_trip_but_stay_out_of_the_hash(specs_dir):
    spec = load_spec(specs_dir / "gru.toml")
    other = load_spec(specs_dir / "gru.toml", overrides=['evaluate.baselines=["rank_combo"]'])
    again = loads_spec(tomllib.loads(canonical_toml(other)), "canonical")
    assert again == other and again.evaluate.baselines == ("rank_combo",)
    assert flatten(other)["evaluate.baselines"] == '["rank_combo"]'
    # evaluation-only: the hash (which decides what is already trained) ignores it ...
    assert spec_hash(other) == spec_hash(spec)
    # ... and is gru.toml's hash without the key (re-taken after the enhance.cost_rate default changed)
    assert spec_hash(spec) == "3c32c189d77b"
    # any other [evaluate] key still changes it, as before
    assert spec_hash(load_spec(specs_dir / "gru.toml", overrides=["evaluate.min_stocks=11"])) != spec_hash(
        spec
    )
    assert "baselines" not in read_raw(specs_dir / "gru.toml").get("evaluate", {})
