"""The feasible oracle: a Kalman filter on observed prices, exact on hand-built cases, causal, bounded."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from zoo.datasets.feasible import ensure_feasible, feasible_forward_return, feasible_rank_ic
from zoo.datasets.labels import ensure_labels
from zoo.datasets.schema import FIELDS
from zoo.datasets.synth import PHI, TREND_SD, make_market, oracle_rank_ic

from zoo.errors import DataError

K_A = sum(PHI**j for j in range(1, 11))  # 10-day forward log return per unit of drift a[t]


def _cube(close: np.ndarray, clipped: np.ndarray | None = None, strength: float = 1.0, reversal: float = 0.0):
    """A minimal synthetic-looking cube from (D, S) closes (NaN = no bar), one industry, flat size."""
    d, s = close.shape
    clipped = np.zeros((d, s), dtype=bool) if clipped is None else clipped
    bars = np.repeat(close[..., None], len(FIELDS), axis=2).astype(np.float32)
    zeros = np.zeros((d, s), dtype=bool)
    return xr.Dataset(
        {
            "bars": (("date", "symbol", "field"), bars),
            "listed": (("date", "symbol"), ~zeros),
            "suspended": (("date", "symbol"), ~np.isfinite(close)),
            "limit_up": (("date", "symbol"), clipped),
            "limit_down": (("date", "symbol"), zeros),
            "size": (("date", "symbol"), np.zeros((d, s), dtype=np.float32)),
            "industry": (("symbol",), np.zeros(s, dtype=np.int16)),
        },
        coords={
            "date": pd.bdate_range("2001-01-01", periods=d),
            "symbol": [f"S{i}" for i in range(s)],
            "field": list(FIELDS),
            "horizon": [10],
        },
        attrs={
            "synth_params": f"signal_strength={strength} trend_weight=1.0 reversal_weight={reversal} "
            f"phi={PHI} psi=0.7"
        },
    )


def _drift_prices(d: int, s: int, noise: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(D, S) closes whose day-t log return is a[t-1] + noise, a an AR(1) as in the generator."""
    rng = np.random.default_rng(seed)
    a = np.empty((d, s))
    at = rng.normal(0, TREND_SD, s)
    for t in range(d):
        at = PHI * at + rng.normal(0, TREND_SD * np.sqrt(1 - PHI**2), s)
        a[t] = at
    ret = np.vstack([np.zeros((1, s)), a[:-1] + noise * rng.standard_normal((d - 1, s))])
    return np.exp(2.5 + np.cumsum(ret, axis=0)), a


def test_noise_free_drift_is_read_exactly_from_the_last_return():
    """No noise, no transient: the day-t return is a[t-1], so E[a[t]] = PHI r[t] exactly."""
    close, _ = _drift_prices(120, 4, noise=0.0)
    close[50:53, 1] = np.nan  # a suspension
    clipped = np.zeros(close.shape, dtype=bool)
    clipped[70, 2] = True  # a limit-clipped close
    cube = _cube(close, clipped)
    f = feasible_forward_return(cube, peers=False, noise_var=0.0)[0].astype(np.float64)
    close = cube["bars"].sel(field="close").values.astype(np.float64)  # the float32 closes the filter reads
    r = np.diff(np.log(close), axis=0, prepend=np.nan)
    exact = np.isfinite(r) & np.isfinite(np.roll(close, 1, axis=0))
    exact &= ~clipped & ~np.roll(clipped, 1, axis=0)
    exact[0] = False
    assert exact.sum() > 400
    np.testing.assert_allclose(f[exact], K_A * PHI * r[exact], rtol=1e-5, atol=1e-10)
    # A clipped close is skipped: the filter only predicts (the drift decays by PHI) ...
    assert f[70, 2] == pytest.approx(PHI * f[69, 2], rel=1e-5)
    # ... and so is every day without a bar (t = 50..52), listed all the while.
    np.testing.assert_allclose(f[50:53, 1], f[49, 1] * PHI ** np.arange(1, 4), rtol=1e-5)


def test_steady_state_gain_matches_the_closed_form_riccati_solution():
    """Known noise R, no transient: the filter becomes m[t] = (1 - K) PHI m[t-1] + K r[t]."""
    noise = 0.02
    close, _ = _drift_prices(400, 6, noise=noise, seed=1)
    cube = _cube(close)
    f = feasible_forward_return(cube, peers=False, noise_var=noise**2)[0].astype(np.float64)
    close = cube["bars"].sel(field="close").values.astype(np.float64)
    m = f / (K_A * PHI)  # E[a[t-1] | returns up to t]
    q, r_var = (TREND_SD**2) * (1 - PHI**2), noise**2
    # Prior variance P solves P = PHI^2 P R / (P + R) + q, i.e. P^2 + (R(1 - PHI^2) - q) P - q R = 0.
    b = r_var * (1 - PHI**2) - q
    p_prior = (-b + np.sqrt(b * b + 4 * q * r_var)) / 2
    gain = p_prior / (p_prior + r_var)
    r = np.diff(np.log(close), axis=0)
    pred = (1 - gain) * PHI * m[299:-1] + gain * r[299:]
    np.testing.assert_allclose(m[300:], pred, rtol=1e-3, atol=1e-9)


def test_estimated_noise_variance_tracks_the_known_one():
    """With iid Gaussian noise the estimated variance gives nearly the known-variance filter."""
    close, a = _drift_prices(1500, 60, noise=0.02, seed=2)
    known = feasible_forward_return(_cube(close), peers=False, noise_var=0.02**2)[0]
    est = feasible_forward_return(_cube(close), peers=False, variance="constant")[0]
    late = slice(500, None)
    assert np.corrcoef(known[late].ravel(), est[late].ravel())[0, 1] > 0.97
    # both track the latent drift, the filter with the estimated variance nearly as well
    c_known = np.corrcoef(known[late].ravel(), a[late].ravel())[0, 1]
    c_est = np.corrcoef(est[late].ravel(), a[late].ravel())[0, 1]
    assert c_known > 0.1 and 0.97 * c_known < c_est <= c_known + 0.005


@pytest.fixture(scope="module")
def market():
    cube = make_market(n_stocks=120, start="2017-01-01", end="2019-12-31", seed=4, signal_strength=4.0)
    return ensure_feasible(ensure_labels(cube))  # the filter runs once here; the tests below reuse it


def test_no_look_ahead(market):
    """Perturbing prices, limit flags and size after t changes no feasible prediction at <= t."""
    cut = 400
    rng = np.random.default_rng(0)
    bars = market["bars"].values.copy()
    bars[cut + 1 :] *= rng.uniform(0.8, 1.25, size=bars[cut + 1 :].shape[:2])[..., None].astype(np.float32)
    flags = market["limit_up"].values.copy()
    flags[cut + 1 :] = rng.random(flags[cut + 1 :].shape) < 0.05
    size = market["size"].values.copy()
    size[cut + 1 :] += 1.0
    dims = market["size"].dims
    changed = market.assign(bars=(market["bars"].dims, bars), limit_up=(dims, flags), size=(dims, size))
    a = market["feasible_return"].values
    b = feasible_forward_return(changed)
    np.testing.assert_array_equal(a[:, : cut + 1], b[:, : cut + 1])
    assert not np.allclose(a[:, cut + 1 :], b[:, cut + 1 :], equal_nan=True)


def test_feasible_oracle_is_below_the_planted_oracle_and_learns(market):
    oracle = oracle_rank_ic(market, 10, dates=slice("2018-01-01", None))
    feasible = feasible_rank_ic(market, 10, dates=slice("2018-01-01", None))
    assert 0.05 < feasible < oracle
    assert feasible_rank_ic(market, 20, dates=slice("2018-01-01", None)) > 0.05


def test_ensure_feasible_is_lazy_and_refreshes_when_prices_change(market):
    cube = market
    fr = cube["feasible_return"]
    assert fr.dims == ("horizon", "date", "symbol") and fr.dtype == np.float32
    assert list(fr["horizon"].values) == [10, 20]
    assert ensure_feasible(cube) is cube  # fresh: nothing recomputed
    listed = cube["listed"].values
    assert np.isfinite(fr.values[:, listed]).all() and np.isnan(fr.values[:, ~listed]).all()
    bars = cube["bars"].values.copy()
    bars[-5:] *= 1.1
    again = ensure_feasible(cube.assign(bars=(cube["bars"].dims, bars)))
    assert again is not cube
    assert not np.array_equal(again["feasible_return"].values, fr.values, equal_nan=True)


def test_cached_synth_store_without_it_gets_it(tmp_path, monkeypatch):
    """A synth store cached before the feasible oracle existed gets the variable written into it."""
    from zoo.datasets import open_cube, synth
    from zoo.datasets.schema import SCHEMA_VERSION, read_store, write_cube

    monkeypatch.setenv("DECOMPZOO_CACHE", str(tmp_path))
    path = tmp_path / f"synth-v{SCHEMA_VERSION}-{synth.GENERATOR_VERSION}-n12-seed0.zarr"
    write_cube(ensure_labels(make_market(n_stocks=12, start="2020-01-01", end="2020-12-31")), path)
    assert "feasible_return" not in read_store(path).data_vars
    cube = open_cube("synth:12")
    assert "feasible_return" in cube.data_vars
    stored = read_store(path)
    xr.testing.assert_equal(stored["feasible_return"], cube["feasible_return"])
    fp = cube["feasible_return"].attrs["inputs_fingerprint"]
    assert stored["feasible_return"].attrs["inputs_fingerprint"] == fp


def test_real_cube_has_no_feasible_oracle():
    close, _ = _drift_prices(40, 3, noise=0.01)
    cube = _cube(close)
    del cube.attrs["synth_params"]
    with pytest.raises(DataError, match="synth_params"):
        feasible_forward_return(cube)
    with pytest.raises(DataError, match="variance"):
        feasible_forward_return(_cube(close), variance="ewma")
