"""Baseline factors (slot ``factor``): exact values on hand-built cubes, no look-ahead, the breach rule."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from zoo.evaluation.testing import tiny_cube

from zoo.cli import main
from zoo.errors import DataError, RegistryError
from zoo.interfaces import FACTOR, Factor
from zoo.registry import get_registry

NAN = np.nan
SINGLES = ("reversal_5", "reversal_20", "momentum_60", "low_vol_20", "low_turnover_20")

# Three stocks over 8 days: A trades every day, B is suspended on day 3, C has a 2:1 split flagged
# as a breach on day 4 (unadjusted prices, as in the real cubes).
CLOSE = np.array(
    [
        [10.0, 20.0, 5.0],
        [11.0, 20.0, 5.0],
        [12.0, 22.0, 6.0],
        [11.0, NAN, 6.0],
        [13.0, 24.0, 3.0],
        [14.0, 24.0, 3.3],
        [15.0, 25.0, 3.3],
        [16.0, 26.0, 3.6],
    ]
)
BREACH = np.zeros(CLOSE.shape, dtype=bool)
BREACH[4, 2] = True


def factor(name: str, cube: xr.Dataset, **params) -> np.ndarray:
    """The factor's (date, symbol) values as float64."""
    out = get_registry().build(FACTOR, name, params)(cube)
    assert out.dtype == np.float32 and out.dims == ("date", "symbol")
    assert list(out["symbol"].values) == list(cube["symbol"].values)
    return out.values.astype(np.float64)


@pytest.fixture
def cube() -> xr.Dataset:
    return tiny_cube(CLOSE, breach=BREACH)


def test_every_factor_is_a_registered_callable(cube):
    reg = get_registry()
    assert set(SINGLES) | {"rank_combo"} <= set(reg.names(FACTOR))
    for name in reg.names(FACTOR):
        comp = reg.get(FACTOR, name)
        assert comp.origin == "zoo.plugins.factors"
        assert isinstance(reg.build(FACTOR, name), Factor)


def test_reversal_values_carry_over_a_suspension_and_stop_at_a_breach(cube):
    rev = factor("reversal_5", cube, window=2)
    expected = np.full(CLOSE.shape, NAN)
    expected[2:, 0] = -np.log(CLOSE[2:, 0] / CLOSE[:-2, 0])
    # B: no value on its suspended day 3; on day 5 the change runs from day 3's carried close (22)
    expected[2, 1], expected[4, 1] = -np.log(22 / 20), -np.log(24 / 22)
    expected[5, 1], expected[6, 1], expected[7, 1] = -np.log(24 / 22), -np.log(25 / 24), -np.log(26 / 24)
    # C: days 4 and 5 span the breach of day 4 (between the closes of days 3 and 4)
    expected[2, 2], expected[3, 2] = -np.log(6 / 5), -np.log(6 / 5)
    expected[6, 2], expected[7, 2] = -np.log(3.3 / 3.0), -np.log(3.6 / 3.3)
    np.testing.assert_allclose(rev, expected, rtol=1e-6, equal_nan=True)


def test_momentum_with_skip(cube):
    mom = factor("momentum_60", cube, window=4, skip=1)
    # A on day 5: log(C_4 / C_1); C on day 7: breach on day 4 is inside days 4..6 -> NaN
    assert mom[5, 0] == pytest.approx(np.log(13 / 11), rel=1e-6)
    assert mom[7, 0] == pytest.approx(np.log(15 / 11), rel=1e-6)
    assert np.isnan(mom[7, 2]) and np.isnan(mom[3, 0])
    assert mom[7, 1] == pytest.approx(np.log(25 / 22), rel=1e-6)  # day 3 carries day 2's close


def test_low_volatility_values(cube):
    vol = factor("low_vol_20", cube, window=3, min_obs_frac=1.0)
    r_a = np.log(CLOSE[1:, 0] / CLOSE[:-1, 0])
    assert vol[3, 0] == pytest.approx(-np.std(r_a[0:3], ddof=1), rel=1e-5)
    assert vol[7, 0] == pytest.approx(-np.std(r_a[4:7], ddof=1), rel=1e-5)
    assert np.isnan(vol[2, 0])  # two returns only
    # B: days 3 (no bar) and 4 (previous bar missing) have no return, so day 6 lacks a third
    assert np.isnan(vol[6, 1])
    assert vol[7, 1] == pytest.approx(-np.std(np.log([24 / 24, 25 / 24, 26 / 25]), ddof=1), rel=1e-5)
    # C: the breach day's return is never used; the window 5..7 is clean
    assert np.isnan(vol[6, 2])
    assert vol[7, 2] == pytest.approx(-np.std(np.log([3.3 / 3.0, 1.0, 3.6 / 3.3]), ddof=1), rel=1e-5)
    # a lower min_obs_frac lets two returns do
    loose = factor("low_vol_20", cube, window=3, min_obs_frac=0.5)
    assert loose[6, 2] == pytest.approx(-np.std(np.log([3.3 / 3.0, 1.0]), ddof=1), rel=1e-5)


def test_low_turnover_values_use_traded_days_only():
    volume = np.array([[100.0, 50.0], [200.0, 60.0], [300.0, NAN], [400.0, 80.0]])
    close = np.array([[10.0, 4.0], [10.0, 4.0], [10.0, NAN], [10.0, 5.0]])
    mcap = np.array([[1e4, 400.0], [1e4, 400.0], [1e4, 400.0], [2e4, 500.0]])
    cube = tiny_cube(close, volume=volume, mcap=mcap)
    vwap = np.array([[9.0, 4.0], [11.0, 4.0], [10.0, NAN], [10.0, NAN]])  # B's last vwap missing
    cube["bars"].loc[{"field": "vwap"}] = vwap.astype(np.float32)
    turn = factor("low_turnover_20", cube, window=3, min_obs_frac=0.5)
    # A, day 2: mean of 9*100/1e4, 11*200/1e4, 10*300/1e4
    assert turn[2, 0] == pytest.approx(-(0.09 + 0.22 + 0.30) / 3, rel=1e-6)
    assert turn[3, 0] == pytest.approx(-(0.22 + 0.30 + 0.20) / 3, rel=1e-6)
    # B: suspended on day 2 (no value there, and no zero-turnover day in its mean); close when no vwap
    assert np.isnan(turn[2, 1])
    assert turn[3, 1] == pytest.approx(-(4 * 60 / 400 + 5 * 80 / 500) / 2, rel=1e-6)
    assert np.isnan(turn[0, 0]) and turn[1, 0] == pytest.approx(-(0.09 + 0.22) / 2, rel=1e-6)  # 2 of 3 days
    assert np.isnan(factor("low_turnover_20", cube)).all()  # 20-day window, min. 10 days: none has them


def test_missing_inputs_are_one_clear_error(cube):
    with pytest.raises(DataError, match="factor 'low_turnover_20' needs the cube variable 'mcap'"):
        factor("low_turnover_20", cube.drop_vars("mcap"))
    with pytest.raises(DataError, match="needs the bar field 'close'"):
        factor("reversal_5", cube.sel(field=["open", "high"]))
    with pytest.raises(RegistryError, match="skip=5 must be below window=5"):
        get_registry().build(FACTOR, "momentum_60", {"window": 5, "skip": 5})
    with pytest.raises(RegistryError, match="unknown factor 'low_vol'; did you mean"):
        get_registry().build(FACTOR, "rank_combo", {"factors": ["low_vol", "reversal_5"]})
    with pytest.raises(RegistryError, match="cannot combine itself"):
        get_registry().build(FACTOR, "rank_combo", {"factors": ["rank_combo"]})


def test_rank_combination_hand_values():
    from zoo.plugins.factors import PriceChange, RankCombination

    close = np.array([[10.0, 10.0, 10.0, 10.0], [11.0, 9.0, 10.5, NAN], [12.0, 9.0, 10.0, 10.0]])
    cube = tiny_cube(close)
    # day 2, 2-day changes: A log 1.2, B log 0.9, C 0, D 0 -> pct ranks 1, .25, .625, .625
    # 1-day changes: A +, B 0, C -, D 0 (day 1 carries day 0's 10) -> pct ranks 1, .625, .25, .625
    two_one = RankCombination("c", (PriceChange("a", 2), PriceChange("b", 1)))(cube).values
    np.testing.assert_allclose(two_one[2], [1.0, 0.4375, 0.4375, 0.625], rtol=1e-6)
    assert np.isnan(two_one[:2]).all()  # the 2-day change needs day 2: every part is required
    mirror = RankCombination("c", (PriceChange("a", 2), PriceChange("b", 2, sign=-1.0)))(cube).values
    np.testing.assert_allclose(mirror[2], [0.625] * 4, rtol=1e-6)  # r and (n + 1) / n - r average out
    # reversal_5's window is longer than the data: a combination holding it has no value
    assert np.isnan(factor("rank_combo", cube, factors=["reversal_5", "momentum_60"])).all()


def test_rank_combo_of_named_factors_is_the_mean_of_their_ranks():
    from scipy.stats import rankdata

    rng = np.random.default_rng(5)
    close = 10 * np.exp(np.cumsum(rng.normal(0, 0.02, (70, 9)), axis=0))
    close[rng.random(close.shape) < 0.05] = NAN
    cube = tiny_cube(close, volume=rng.uniform(1e5, 1e6, close.shape))
    names = ["reversal_5", "low_vol_20", "low_turnover_20"]
    combo = factor("rank_combo", cube, factors=names)
    parts = np.stack([factor(n, cube) for n in names])
    for t in (30, 69):
        ok = np.isfinite(parts[:, t]).all(axis=0)
        pct = [
            np.where(np.isfinite(p[t]), rankdata(np.where(np.isfinite(p[t]), p[t], np.inf)), NAN)
            / np.isfinite(p[t]).sum()
            for p in parts
        ]
        expected = np.where(ok, np.mean(pct, axis=0), NAN)
        np.testing.assert_allclose(combo[t], expected, rtol=1e-6, equal_nan=True)
        assert ok.sum() >= 5


@pytest.mark.parametrize("name", [*SINGLES, "rank_combo"])
def test_no_look_ahead(name):
    """Perturb every input after t: the factor at <= t is unchanged."""
    rng = np.random.default_rng(7)
    n_dates, n_sym = 95, 12
    close = 10 * np.exp(np.cumsum(rng.normal(0, 0.02, (n_dates, n_sym)), axis=0))
    close[rng.random(close.shape) < 0.05] = NAN
    breach = rng.random(close.shape) < 0.01
    volume = rng.uniform(1e5, 1e6, close.shape)
    base = tiny_cube(close, volume=volume, breach=breach)
    for t in (25, 64, 80):
        moved = base.copy(deep=True)
        future = slice(t + 1, None)
        shape = moved["bars"][future].shape
        moved["bars"][future] = (moved["bars"][future] * rng.uniform(0.5, 2.0, shape)).astype(np.float32)
        moved["mcap"][future] = moved["mcap"][future] * 3
        moved["breach"][future] = ~moved["breach"][future]
        a, b = factor(name, base), factor(name, moved)
        np.testing.assert_array_equal(a[: t + 1], b[: t + 1])
        assert np.isfinite(a[t]).any() or t < 60  # momentum_60 needs 60 days of history
        assert not np.array_equal(a[t + 1 :], b[t + 1 :], equal_nan=True)  # the perturbation bites


@pytest.mark.parametrize("name", ["reversal_20", "momentum_60", "low_vol_20"])
def test_breach_rule_matches_the_adjusted_series(name):
    """A flagged 2:1 split never enters a value: windows across it are NaN (price changes) or skip it."""
    rng = np.random.default_rng(3)
    n_dates, k = 120, 70
    adjusted = 10 * np.exp(np.cumsum(rng.normal(0, 0.02, (n_dates, 4)), axis=0))
    raw = adjusted.copy()
    raw[k:, 1] /= 2  # unadjusted: the price halves at the split
    breach = np.zeros(raw.shape, dtype=bool)
    breach[k, 1] = True
    flagged = factor(name, tiny_cube(raw, breach=breach))
    reference = factor(name, tiny_cube(adjusted, breach=breach))
    np.testing.assert_allclose(flagged, reference, rtol=1e-5, equal_nan=True)
    unflagged = factor(name, tiny_cube(raw))
    assert not np.allclose(unflagged[k:, 1], reference[k:, 1], equal_nan=True)  # the flag matters
    if name != "low_vol_20":  # a price change over a window holding the breach is not computed at all
        window = 20 if name == "reversal_20" else 60
        assert np.isnan(flagged[k : k + window, 1]).all() and np.isfinite(flagged[k + window :, 1]).all()


def test_zoo_list_factor(capsys):
    assert main(["list", "factor"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("[factor]")
    for name in (*SINGLES, "rank_combo"):
        assert f"  {name} " in out
    assert (
        "min_obs_frac: float = 0.5" in out and "skip: int = 0" in out and "(from zoo.plugins.factors)" in out
    )
    assert "[mixer]" not in out


def test_the_docs_factor_plugin_example_works(tmp_path, monkeypatch, capsys):
    import re
    import sys
    from pathlib import Path

    from zoo.registry import clear_registry_cache

    text = (Path(__file__).resolve().parents[1] / "docs" / "evaluation.md").read_text()
    section = text.split("A factor plugin is a module", 1)[1]
    (tmp_path / "gap_factor.py").write_text(re.search(r"```python\n(.*?)```", section, re.S).group(1))
    monkeypatch.syspath_prepend(str(tmp_path))
    clear_registry_cache()
    try:
        assert main(["--plugin", "gap_factor", "list", "factor"]) == 0
        assert "(from gap_factor)" in capsys.readouterr().out
        cube = tiny_cube(CLOSE, breach=BREACH)
        cube["bars"].loc[{"field": "open"}] = (CLOSE * 1.01).astype(np.float32)
        gap = get_registry(["gap_factor"]).build(FACTOR, "gap")(cube)
        assert gap.dims == ("date", "symbol") and gap.dtype == np.float32
        assert float(gap[1, 0]) == pytest.approx(11 * 1.01 / 10 - 1, rel=1e-5) and np.isnan(gap[4, 2])
    finally:
        clear_registry_cache()
        sys.modules.pop("gap_factor", None)
