"""``train.neutralize_scores``: test scores residualised per date on size + industry, data at t only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from zoo.specs import canonical_dict, load_spec, spec_hash
from zoo.train.data import CubeSource
from zoo.train.runner import run_spec

SPECS = Path(__file__).resolve().parents[1] / "specs"
SETS = (
    "data.window=60",
    "data.min_history=40",
    "train.test_years=[2018]",
    "train.train_years=1",
    "train.seeds=[0]",
)


@pytest.fixture(scope="module")
def market():
    from zoo.datasets.synth import make_market

    return make_market(n_stocks=40, start="2016-01-01", end="2018-12-31", seed=0, signal_strength=8.0)


def _exposed_score(market: xr.Dataset) -> xr.DataArray:
    """A score that is mostly size plus an industry effect plus noise, on every (date, symbol)."""
    size = market["size"].transpose("date", "symbol")
    ind = market["industry"].values.astype(np.float32)
    noise = np.random.default_rng(0).normal(size=size.shape).astype(np.float32)
    return (2 * size + 0.5 * ind[None, :] + 0.3 * noise).astype(np.float32).rename("score")


def test_neutralised_scores_carry_no_size_or_industry_exposure(market):
    src = CubeSource(market, load_spec(SPECS / "gru.toml").data, store="memory")
    score = _exposed_score(market).isel(date=slice(200, 260))
    out = src.neutralize(score)
    assert out.dims == ("date", "symbol") and out.dtype == np.float32
    size = market["size"].sel(date=out["date"]).transpose("date", "symbol").values
    ind = market["industry"].values
    for d in range(out.sizes["date"]):
        y, s = out.values[d], size[d]
        ok = np.isfinite(y) & np.isfinite(s)
        assert ok.sum() > 20
        assert abs(np.corrcoef(y[ok], s[ok])[0, 1]) < 1e-4  # no size bet left
        for k in np.unique(ind[ok]):
            assert abs(y[ok & (ind == k)].mean()) < 1e-4  # no industry bet left
    ok = np.isfinite(score.values[0]) & np.isfinite(size[0])
    assert abs(np.corrcoef(score.values[0][ok], size[0][ok])[0, 1]) > 0.5  # exposed to begin with


def test_neutralising_a_date_ignores_the_future(market):
    src = CubeSource(market, load_spec(SPECS / "gru.toml").data, store="memory")
    score = _exposed_score(market).isel(date=slice(200, 260))
    cut = score["date"].values[30]
    changed = market.copy(deep=True)
    later = changed["date"].values > cut
    changed["size"].values[later] = changed["size"].values[later][::-1] * 3.0  # another future size
    alt = CubeSource(changed, load_spec(SPECS / "gru.toml").data, store="memory")
    a, b = src.neutralize(score), alt.neutralize(score)
    past = score["date"].values <= cut
    np.testing.assert_array_equal(a.values[past], b.values[past])
    assert not np.array_equal(a.values[~past], b.values[~past], equal_nan=True)


def test_the_option_keeps_default_hashes_and_neutralises_a_run(market, tmp_path):
    plain = load_spec(SPECS / "ridge.toml", SETS)
    on = load_spec(SPECS / "ridge.toml", (*SETS, "train.neutralize_scores=true"))
    assert "neutralize_scores" not in canonical_dict(plain)["train"]
    assert canonical_dict(on)["train"]["neutralize_scores"] is True
    assert spec_hash(plain) != spec_hash(on)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    src = CubeSource(market, on.data, store="memory")
    raw = run_spec(plain, src, experiment="n", uri=uri).score
    neu = run_spec(on, src, experiment="n", uri=uri).score
    size = market["size"].sel(date=neu["date"]).transpose("date", "symbol").values
    corr = [
        np.corrcoef(v[ok], s[ok])[0, 1]
        for v, s in zip(neu.transpose("date", "symbol").values, size, strict=True)
        if (ok := np.isfinite(v) & np.isfinite(s)).sum() > 10
    ]
    assert len(corr) > 100 and np.max(np.abs(corr)) < 1e-4
    assert not np.allclose(raw.values, neu.values, equal_nan=True)
