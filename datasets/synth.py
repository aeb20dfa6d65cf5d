"""A synthetic A-share-like market with a documented, planted predictable part of future returns.

Model (daily, log prices; every random draw comes from one ``numpy.random.Generator(seed)``):

- factor returns: market (GARCH(1,1) volatility, Student-t(4) shocks), ``n_industries`` industry
  factors, and a size factor whose daily returns are iid (so past size-factor drift is pure noise
  for prediction; it confounds raw trends but cancels within size groups);
- each stock: beta, industry, exposure ``-z(log cap)`` to the size factor, GARCH idiosyncratic
  volatility with Student-t(4) shocks;
- **trend piece** (lives in the price trend relative to size-group peers): a latent drift
  ``a[t] = phi * a[t-1] + eta`` (AR(1), ``phi = 0.98``) adds ``a[t-1]`` to the day-t log return, so
  a stock's trend net of its size-group peers reveals ``a``;
- **residual piece** (lives in short-term residual moves): a transient price deviation
  ``u[t] = psi * u[t-1] + zeta`` (``psi = 0.7``) enters log price, so a recent idiosyncratic jump
  partly reverses;
- the observed close is the latent price clipped to ±10 % (±5 % when ST) of the previous close,
  which flags limit-up / limit-down and carries the excess into later days;
- listings during the sample, delistings, suspension spells (no bar), ST spells.

The true expected forward log return from close(t+1) to close(t+1+h) given the latent state at t is
``a[t] * sum_{j=1..h} phi**j + u[t] * (psi**(h+1) - psi)`` (factors have zero mean); it is stored
as ``expected_return(horizon, date, symbol)``. No model that sees only prices up to t can know
``a`` and ``u`` exactly, so ``oracle_rank_ic`` is an upper bound on the RankIC any model reaches.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pandas as pd
import xarray as xr
from tqdm.auto import tqdm
from zoo.datasets.schema import FIELDS, SCHEMA_VERSION, cube_coords
from zoo.datasets.universes import all_universe, build_indexes, tier_sizes

from zoo.errors import DataError

DEFAULT_STOCKS = 1000
DEFAULT_START = "2014-01-01"
DEFAULT_END = "2023-12-31"
#: Bump when the generator's output for a given seed changes (the on-disk cache key uses it).
GENERATOR_VERSION = "g3"
#: Default scale of the planted pieces: the feasible oracle (what is learnable from prices, see
#: ``datasets.feasible``) scores about 0.09 10-day RankIC at 2.5, against 0.02 at 1 (docs/data.md).
DEFAULT_SIGNAL_STRENGTH = 2.5
PHI = 0.98
PSI = 0.7
#: Stationary daily std of the trend drift and innovation std of the transient at strength 1.
TREND_SD = 0.0007
TRANSIENT_SD = 0.0045


def _t4(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Student-t(4) draws scaled to unit variance (fat tails)."""
    return rng.standard_t(4, size=shape) / np.sqrt(2.0)


def expected_forward_return(a: np.ndarray, u: np.ndarray, horizon: int) -> np.ndarray:
    """The planted expected log return close(t+1) -> close(t+1+h) given drift ``a`` and transient ``u``."""
    k_a = sum(PHI**j for j in range(1, horizon + 1))
    k_u = PSI ** (horizon + 1) - PSI
    return (a * k_a + u * k_u).astype(np.float32)


@dataclass
class _Stocks:
    """Static stock characteristics and the listing, delisting and ST calendars."""

    industry: np.ndarray
    beta: np.ndarray
    idio_base: np.ndarray
    shares: np.ndarray
    price0: np.ndarray
    turnover: np.ndarray
    list_day: np.ndarray
    listed: np.ndarray
    st: np.ndarray


def _stocks(rng: np.random.Generator, s: int, n_days: int, n_industries: int, shares_of: dict) -> _Stocks:
    """Draw the stocks (in the generator's fixed order) and their (date, stock) calendars."""
    industry = rng.integers(0, n_industries, size=s).astype(np.int16)
    beta = rng.uniform(0.6, 1.4, size=s)
    idio_base = rng.uniform(0.012, 0.028, size=s)
    shares = np.exp(rng.normal(np.log(8e8), 1.0, size=s))
    price0 = np.exp(rng.normal(np.log(12.0), 0.6, size=s))
    turnover = np.exp(rng.normal(np.log(0.012), 0.4, size=s))
    list_day = np.zeros(s, dtype=np.int64)
    late = rng.random(s) < shares_of["late_listing"]
    list_day[late] = rng.integers(1, max(2, int(n_days * 0.9)), size=late.sum())
    delist_day = np.full(s, n_days, dtype=np.int64)
    gone = (rng.random(s) < shares_of["delisting"]) & (list_day + 250 < n_days - 1)
    delist_day[gone] = rng.integers(list_day[gone] + 250, n_days)
    st_start = np.where(rng.random(s) < shares_of["st"], rng.integers(0, n_days, size=s), n_days)
    st_end = st_start + rng.integers(120, 500, size=s)
    days = np.arange(n_days)
    listed = (days[:, None] >= list_day[None]) & (days[:, None] < delist_day[None])
    st = (days[:, None] >= st_start[None]) & (days[:, None] < st_end[None]) & listed
    return _Stocks(industry, beta, idio_base, shares, price0, turnover, list_day, listed, st)


def _factor_returns(rng: np.random.Generator, n_days: int, n_industries: int) -> tuple[np.ndarray, ...]:
    """Industry returns, size-factor returns and the GARCH(1,1) market return, each per day."""
    ind_ret = 0.006 * _t4(rng, (n_days, n_industries))
    size_ret = 0.005 * rng.standard_normal(n_days)
    mkt_shock = _t4(rng, (n_days,))
    mkt = np.empty(n_days)
    h = 0.012**2
    for t in range(n_days):
        mkt[t] = np.sqrt(h) * mkt_shock[t]
        h = 0.012**2 * 0.05 + 0.10 * mkt[t] ** 2 + 0.85 * h
    return ind_ret, size_ret, mkt


def _daily_draws(rng: np.random.Generator, shape: tuple[int, int], scale: dict[str, float], susp: float):
    """Every per-(day, stock) random draw, in bulk, so the day loop does arithmetic only."""
    e_shock = _t4(rng, shape)
    strength, trend_w, reversal_w = scale["strength"], scale["trend"], scale["reversal"]
    eta = rng.standard_normal(shape) * TREND_SD * np.sqrt(1 - PHI**2) * strength * trend_w
    zeta = rng.standard_normal(shape) * TRANSIENT_SD * strength * reversal_w
    gap_noise = rng.standard_normal(shape)
    hl_noise = np.abs(rng.standard_normal(shape + (2,)))
    vol_noise = rng.standard_normal(shape)
    susp_start = rng.random(shape) < susp
    susp_len = rng.geometric(1 / 6, size=shape)
    long_susp = rng.random(shape) < 0.05
    susp_len = np.where(long_susp, susp_len * 8, susp_len)
    return SimpleNamespace(
        e_shock=e_shock,
        eta=eta,
        zeta=zeta,
        gap_noise=gap_noise,
        hl_noise=hl_noise,
        vol_noise=vol_noise,
        susp_start=susp_start,
        susp_len=susp_len,
    )


def _day_bars(target, last_close, lim, hid, trade, first, draws, t: int, st: _Stocks) -> tuple:
    """One day's limit-clipped close, the limit flags and the (S, 6) bar of every stock."""
    up, dn = last_close * (1 + lim), last_close * (1 - lim)
    close = np.clip(target, dn, up)
    hit_up = trade & ~first & (target >= up)
    hit_dn = trade & ~first & (target <= dn)
    ret = np.log(close / last_close)
    opn = np.clip(last_close * np.exp(0.3 * ret + 0.3 * np.sqrt(hid) * draws.gap_noise[t]), dn, up)
    hi = np.minimum(np.maximum(opn, close) * np.exp(0.5 * np.sqrt(hid) * draws.hl_noise[t, :, 0]), up)
    lo = np.maximum(np.minimum(opn, close) * np.exp(-0.5 * np.sqrt(hid) * draws.hl_noise[t, :, 1]), dn)
    vwap = (opn + hi + lo + 2 * close) / 5
    vol = st.shares * st.turnover * np.exp(0.3 * draws.vol_noise[t]) * (1 + 20 * np.abs(ret))
    vol = np.where(hit_up | hit_dn, vol * 0.4, vol)  # locked limits trade thinly
    day = np.stack([opn, hi, lo, close, vwap, vol], axis=1).astype(np.float32)
    return close, hit_up, hit_dn, day


def _simulate(rng: np.random.Generator, st: _Stocks, factors: tuple, draws, scale: dict[str, float]) -> dict:
    """Run the days: latent prices, the planted drift and transient, suspensions, limits and bars."""
    ind_ret, size_ret, mkt = factors
    n_days, s = st.listed.shape
    shape = (n_days, s)
    out = {
        "bars": np.full(shape + (len(FIELDS),), np.nan, dtype=np.float32),
        "mcap": np.full(shape, np.nan, dtype=np.float32),
        "suspended": np.zeros(shape, dtype=bool),
        "limit_up": np.zeros(shape, dtype=bool),
        "limit_down": np.zeros(shape, dtype=bool),
        "a": np.zeros(shape),
        "u": np.zeros(shape),
    }
    x = np.log(st.price0)  # latent log price without the transient
    a = rng.standard_normal(s) * TREND_SD * scale["strength"] * scale["trend"]
    u = np.zeros(s)
    hid = st.idio_base**2
    e_prev = np.zeros(s)
    last_close = st.price0.copy()
    susp_left = np.zeros(s, dtype=np.int64)
    cols = np.arange(s)
    for t in tqdm(range(n_days), desc="synth market", disable=None, leave=False):
        live = st.listed[t]
        log_cap = np.log(last_close * st.shares)
        lc_live = log_cap[live]
        size_z = np.zeros(s)
        if lc_live.size > 1:
            size_z[live] = (lc_live - lc_live.mean()) / (lc_live.std() + 1e-12)
        hid = st.idio_base**2 * 0.05 + 0.10 * e_prev**2 + 0.85 * hid
        e = np.sqrt(hid) * draws.e_shock[t]
        e_prev = e
        x = x + a + st.beta * mkt[t] + ind_ret[t, st.industry] - 0.5 * size_z * size_ret[t] + e
        a = PHI * a + draws.eta[t]
        u = PSI * u + draws.zeta[t]
        out["a"][t], out["u"][t] = a, u
        target = np.exp(x + u)

        new_susp = live & (susp_left == 0) & draws.susp_start[t] & (t > st.list_day + 5)
        susp_left = np.where(new_susp, draws.susp_len[t], susp_left)
        is_susp = live & (susp_left > 0)
        susp_left = np.maximum(susp_left - 1, 0)
        trade = live & ~is_susp
        first = t == st.list_day
        # a newly listed stock's first close is its latent price (no limit on IPO day, as in A-shares)
        last_close = np.where(first, target, last_close)
        lim = np.where(st.st[t], 0.05, 0.10)
        close, hit_up, hit_dn, day = _day_bars(target, last_close, lim, hid, trade, first, draws, t, st)
        out["bars"][t, cols[trade]] = day[trade]
        last_close = np.where(trade, close, last_close)
        out["mcap"][t, live] = (last_close * st.shares)[live]
        out["suspended"][t] = is_susp
        out["limit_up"][t], out["limit_down"][t] = hit_up, hit_dn
    return out


def _universes(dates: pd.DatetimeIndex, st: _Stocks, sim: dict, size: np.ndarray) -> tuple:
    """The ``all`` universe, the stand-in index members and weights, and the index tiers."""
    n_days, s = st.listed.shape
    uni_all = all_universe(st.listed, sim["suspended"])
    tiers = tier_sizes(s)
    # stocks present on the first day were listed before the sample: count them as seasoned
    age = np.arange(n_days)[:, None] - np.where(st.list_day == 0, -(10**6), st.list_day)[None]
    eligible = uni_all & ~st.st & (age >= 60)
    member, weight = build_indexes(dates, size, sim["mcap"], eligible, tiers, members_alive=st.listed)
    return np.concatenate([uni_all[None], member], axis=0), weight, tiers


def make_market(
    n_stocks: int = DEFAULT_STOCKS,
    start: str = DEFAULT_START,
    end: str = DEFAULT_END,
    seed: int = 0,
    n_industries: int = 20,
    signal_strength: float = DEFAULT_SIGNAL_STRENGTH,
    trend_weight: float = 1.0,
    reversal_weight: float = 1.0,
    horizons: tuple[int, ...] = (10, 20),
    late_listing_share: float = 0.3,
    delisting_share: float = 0.1,
    suspension_rate: float = 0.002,
    st_share: float = 0.05,
) -> xr.Dataset:
    """Generate a synthetic market cube (deterministic by ``seed``); see the module docstring.

    ``signal_strength`` scales both planted pieces (the default 2.5 gives an oracle 10-day RankIC near
    0.28 and a feasible oracle, from observed prices, near 0.09; 1 gives 0.13 and 0.02; 5-10 makes a
    signal a small GRU learns in seconds); ``trend_weight`` and ``reversal_weight`` scale each piece
    alone (0 removes it).
    """
    dates = _check_market(n_stocks, n_industries, start, end)
    n_days, s = len(dates), n_stocks
    rng = np.random.default_rng(seed)
    shares_of = {"late_listing": late_listing_share, "delisting": delisting_share, "st": st_share}
    st = _stocks(rng, s, n_days, n_industries, shares_of)
    factors = _factor_returns(rng, n_days, n_industries)
    scale = {"strength": signal_strength, "trend": trend_weight, "reversal": reversal_weight}
    draws = _daily_draws(rng, (n_days, s), scale, suspension_rate)
    sim = _simulate(rng, st, factors, draws, scale)
    size = np.where(st.listed, np.log(sim["mcap"].astype(np.float64)), np.nan).astype(np.float32)
    universe, weight, tiers = _universes(dates, st, sim, size)
    exp_ret = np.stack(
        [np.where(st.listed, expected_forward_return(sim["a"], sim["u"], h), np.nan) for h in horizons]
    )
    params = (
        f"n_stocks={s} start={start} end={end} seed={seed} n_industries={n_industries} "
        f"signal_strength={signal_strength} trend_weight={trend_weight} "
        f"reversal_weight={reversal_weight} phi={PHI} psi={PSI}"
    )
    return _market_cube(
        dates, st, sim, size, universe, weight, exp_ret, horizons, n_industries, params, tiers
    )


def _check_market(n_stocks: int, n_industries: int, start: str, end: str) -> pd.DatetimeIndex:
    """The market's business days; a DataError for too few stocks, days or an industry count out of range."""
    if n_stocks < 10:
        raise DataError(f"make_market: n_stocks={n_stocks}, need at least 10")
    if not 1 <= n_industries <= 255:
        raise DataError(f"make_market: n_industries={n_industries}, need 1..255")
    dates = pd.bdate_range(start, end)
    if len(dates) < 30:
        raise DataError(f"make_market: {start}..{end} has {len(dates)} business days, need at least 30")
    return dates


def _market_cube(
    dates, st: _Stocks, sim: dict, size, universe, weight, exp_ret, horizons, n_ind, params, tiers
):
    """The cube (schema in docs/ARCHITECTURE.md) from the simulated arrays."""
    shape = st.listed.shape
    symbols = np.array([f"SYN{i:05d}" for i in range(shape[1])])
    ds = ("date", "symbol")
    return xr.Dataset(
        {
            "bars": (("date", "symbol", "field"), sim["bars"]),
            "mcap": (ds, sim["mcap"]),
            "size": (ds, size),
            "industry": (("symbol",), st.industry),
            "listed": (ds, st.listed),
            "suspended": (ds, sim["suspended"]),
            "limit_up": (ds, sim["limit_up"]),
            "limit_down": (ds, sim["limit_down"]),
            "st": (ds, st.st),
            "breach": (ds, np.zeros(shape, dtype=bool)),
            "in_universe": (("universe", "date", "symbol"), universe),
            "index_weight": (("index", "date", "symbol"), weight),
            "expected_return": (("horizon", "date", "symbol"), exp_ret.astype(np.float32)),
        },
        coords=cube_coords(dates, symbols, horizon=np.array(horizons, dtype=np.int64)),
        attrs={
            "source": f"synthetic (datasets.synth.make_market, generator {GENERATOR_VERSION})",
            "adjustment": "none needed (synthetic prices have no corporate actions)",
            "size_proxy": "log market cap = log(close x shares), shares constant per stock",
            "schema_version": SCHEMA_VERSION,
            "industry_names": [f"IND{k:02d}" for k in range(n_ind)],
            "synth_params": params,
            "index_tiers": list(tiers),
        },
    )


def oracle_rank_ic(
    cube: xr.Dataset,
    horizon: int = 10,
    dates: slice | None = None,
    universe: str = "all",
    label: str = "label_raw",
    variable: str = "expected_return",
) -> float:
    """Mean daily RankIC of the planted ``expected_return`` (or ``variable``) against the realised label."""
    from zoo.datasets.labels import ensure_labels, rank_ic_series

    if variable not in cube.data_vars:
        raise DataError(f"oracle_rank_ic: this cube has no {variable!r} (only synthetic cubes do)")
    if horizon not in set(int(h) for h in cube["horizon"].values):
        raise DataError(
            f"oracle_rank_ic: horizon {horizon} not in cube horizons {list(cube['horizon'].values)}"
        )
    cube = ensure_labels(cube, horizons=(horizon,))
    sub = cube.sel(horizon=horizon)
    if dates is not None:
        sub = sub.sel(date=dates)
    members = sub["in_universe"].sel(universe=universe).values & ~sub["suspended"].values
    ic = rank_ic_series(sub[variable].values, sub[label].values, members)
    if not np.isfinite(ic).any():
        return float("nan")
    return float(np.nanmean(ic))
