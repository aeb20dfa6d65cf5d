"""Weekly quantile-group back-test of a score, the report's way (docs/evaluation.md).

Timing: the signal is the score at the close of the last trading day of each ISO week; the trade is at
the close of the next trading day (the next week's first). At the trade, stocks that are limit-up,
limit-down, suspended or without a close are excluded; the remaining universe members with a score
are ranked into G equal-count groups (1 = lowest score, G = TOP) and bought equal weight, no costs,
then held (weights drift) until the next weekly trade. The benchmark is the equal-weight portfolio of
all tradable universe members at the same trades. Daily returns use forward-filled closes (a suspended
stock earns 0) and are 0 on a ``breach`` day, where an unadjusted price jump is not a return.
Annualisation uses 252 trading days.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr
from scipy.stats import rankdata

from evaluation._cube import check_dates, close_panel, flag_panel, universe_mask
from zoo.errors import EvaluationError

TRADING_DAYS = 252
EXCLUDE_DEFAULT: tuple[str, ...] = ("limit_up", "limit_down", "suspended")


def weekly_schedule(dates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the weekly signals (last trading day of each ISO week) and of their trades (the next row)."""
    idx = pd.DatetimeIndex(dates)
    iso = idx.isocalendar()
    key = (iso["year"].to_numpy() * 100 + iso["week"].to_numpy()).astype(np.int64)
    last = np.flatnonzero(np.r_[key[1:] != key[:-1], True])
    signal = last[last + 1 < len(idx)]  # a signal needs a next trading day to trade on
    return signal, signal + 1


def log_price_index(cube: xr.Dataset) -> np.ndarray:
    """Cumulative daily log return ``(date, symbol)``: forward-filled closes, 0 over gaps and breach days."""
    close = close_panel(cube, "group back-test")
    filled = pd.DataFrame(close).ffill().to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        step = np.log(filled[1:] / filled[:-1])
    step = np.where(np.isfinite(step), step, 0.0)
    step[flag_panel(cube, "breach")[1:]] = 0.0
    out = np.zeros(close.shape)
    np.cumsum(step, axis=0, out=out[1:])
    return out


def assign_groups(score: np.ndarray, eligible: np.ndarray, n_groups: int) -> np.ndarray:
    """Equal-count groups 0..G-1 per row by average rank among eligible finite scores; -1 elsewhere."""
    s = np.where(eligible & np.isfinite(score), score, np.nan)
    ranks = rankdata(s, axis=1, nan_policy="omit") if s.size else s
    n = np.isfinite(s).sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        g = np.floor((ranks - 0.5) / n * n_groups)
    g = np.where(np.isfinite(g), np.clip(g, 0, n_groups - 1), -1)
    return g.astype(np.int16)


@dataclass
class GroupResult:
    """Outcome of one group back-test: daily returns, turnover, and the trade schedule."""

    n_groups: int
    universe: str
    #: daily returns on the held days, columns 1..G and "universe" (the equal-weight benchmark)
    returns: pd.DataFrame
    #: one-way turnover of each group at each rebalance (NaN at the first or after a gap)
    turnover: pd.DataFrame
    #: signal dates actually traded and their trade dates
    signals: pd.DatetimeIndex
    trades: pd.DatetimeIndex
    #: group (0-based, -1 = not held) of every symbol at every traded signal
    assignment: np.ndarray = field(repr=False)

    @property
    def top(self) -> int:
        """Column label of the TOP (highest-score) group."""
        return self.n_groups

    def group_annual_returns(self) -> pd.Series:
        """Annualised return of every group and of the universe benchmark."""
        return self.returns.apply(annualised_return)

    def excess(self) -> pd.Series:
        """Daily excess return of the TOP group over the universe benchmark."""
        return (self.returns[self.top] - self.returns["universe"]).rename("excess")

    def top_stats(self) -> dict[str, float]:
        """TOP group: annualised return, Sharpe, max drawdown, annualised excess return, mean turnover."""
        r = self.returns[self.top]
        ex = self.excess()
        return {
            "ann_return": annualised_return(r),
            "sharpe": sharpe(r),
            "max_drawdown": max_drawdown(r),
            "excess_ann_return": annualised_return(ex),
            "excess_sharpe": sharpe(ex),
            "excess_max_drawdown": max_drawdown(ex),
            "turnover": float(self.turnover[self.top].mean()),
            "n_days": int(r.size),
        }

    def yearly_excess(self) -> pd.DataFrame:
        """Per calendar year: TOP excess return (compounded), excess Sharpe and excess max drawdown."""
        ex = self.excess()
        years = ex.index.year
        rows = {
            int(y): {
                "excess_return": float(np.prod(1 + e.to_numpy()) - 1),
                "excess_sharpe": sharpe(e),
                "excess_max_drawdown": max_drawdown(e),
            }
            for y, e in ex.groupby(years)
        }
        return pd.DataFrame.from_dict(rows, orient="index").rename_axis("year")


def annualised_return(r: pd.Series) -> float:
    """Compounded return scaled to 252 trading days: prod(1 + r) ** (252 / n) - 1."""
    x = np.asarray(r, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return float("nan")
    return float(np.prod(1 + x) ** (TRADING_DAYS / x.size) - 1)


def sharpe(r: pd.Series) -> float:
    """Annualised Sharpe ratio of daily returns (no risk-free rate): mean / std * sqrt(252)."""
    x = np.asarray(r, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size < 2 or not x.std(ddof=1) > 0:
        return float("nan")
    return float(x.mean() / x.std(ddof=1) * np.sqrt(TRADING_DAYS))


def max_drawdown(r: pd.Series) -> float:
    """Largest fall of the compounded NAV (starting at 1) from its running peak, as a negative number."""
    x = np.asarray(r, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return float("nan")
    nav = np.concatenate([[1.0], np.cumprod(1 + x)])
    return float(np.min(nav / np.maximum.accumulate(nav) - 1))


def nav(r: pd.Series) -> pd.Series:
    """Compounded NAV of a daily return series."""
    return (1 + r.fillna(0.0)).cumprod()


def group_backtest(
    score: xr.DataArray,
    cube: xr.Dataset,
    n_groups: int,
    universe: str = "all",
    exclude: tuple[str, ...] = EXCLUDE_DEFAULT,
) -> GroupResult:
    """Weekly quantile-group back-test of a ``(date, symbol)`` score in ``universe`` (module docstring)."""
    if n_groups < 2:
        raise EvaluationError(f"a group test needs at least 2 groups, got {n_groups}")
    dates = check_dates(cube, "group back-test")
    if set(score.dims) != {"date", "symbol"}:
        raise EvaluationError(f"the score must have dims (date, symbol), got {score.dims}")
    sc = score.reindex(date=cube["date"].values, symbol=cube["symbol"].values)
    sc = sc.transpose("date", "symbol").values.astype(np.float64)
    if not np.isfinite(sc).any():
        raise EvaluationError("the score has no finite value on the cube's dates and symbols")
    unknown = [f for f in exclude if f not in cube.variables]
    if unknown:
        raise EvaluationError(f"group test exclusion flag(s) {unknown} are not variables of the cube")
    member = universe_mask(cube, universe, "group back-test")
    close = close_panel(cube, "group back-test")
    blocked = ~np.isfinite(close)
    for flag in exclude:
        blocked |= flag_panel(cube, flag)

    signal, trade = weekly_schedule(dates)
    eligible_bench = member[signal] & ~blocked[trade]
    eligible = eligible_bench & np.isfinite(sc[signal])
    keep = eligible.sum(axis=1) > 0  # only weeks where the model scored a tradable stock
    signal, trade, eligible, eligible_bench = signal[keep], trade[keep], eligible[keep], eligible_bench[keep]
    if signal.size == 0:
        raise EvaluationError(f"no weekly rebalance has a scored, tradable stock in universe {universe!r}")
    groups = assign_groups(sc[signal], eligible, n_groups)
    # the benchmark is one more "group" holding every tradable member
    labels = np.concatenate([groups, np.where(eligible_bench, n_groups, -1).astype(np.int16)], axis=1)

    # each trade's holding ends at the next weekly trade (the last one at the cube's end)
    all_signal, all_trade = weekly_schedule(dates)
    nxt = np.searchsorted(all_trade, trade, side="right")
    end = np.where(nxt < all_trade.size, all_trade[np.minimum(nxt, all_trade.size - 1)], len(dates) - 1)
    period = np.full(len(dates), -1, dtype=np.int64)
    for k in range(signal.size):  # a loop over weeks (hundreds), each a slice assignment
        period[trade[k] + 1 : end[k] + 1] = k
    rows = np.flatnonzero(period >= 0)

    lp = log_price_index(cube)
    lp2 = np.concatenate([lp, lp], axis=1)
    k_of = period[rows]
    n_cols = n_groups + 1
    counts = np.stack([np.bincount(lab[lab >= 0], minlength=n_cols) for lab in labels])
    prev = np.ones((rows.size, n_cols))
    # value of each group on each held day relative to its trade-day close, by one scatter-add
    lab = labels[k_of]
    rel = np.exp(lp2[rows] - lp2[trade[k_of]])
    held = lab >= 0
    flat = (np.arange(rows.size)[:, None] * n_cols + lab)[held]
    sums = np.bincount(flat, weights=rel[held], minlength=rows.size * n_cols).reshape(rows.size, n_cols)
    with np.errstate(invalid="ignore", divide="ignore"):
        value = sums / counts[k_of]
    same = np.r_[False, (k_of[1:] == k_of[:-1]) & (rows[1:] == rows[:-1] + 1)]
    prev[same] = value[np.flatnonzero(same) - 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        daily = value / prev - 1
    columns = list(range(1, n_groups + 1)) + ["universe"]
    returns = pd.DataFrame(daily, index=pd.DatetimeIndex(dates[rows], name="date"), columns=columns)

    turnover = _turnover(groups, lp, trade, end, n_groups)
    return GroupResult(
        n_groups=n_groups,
        universe=universe,
        returns=returns,
        turnover=pd.DataFrame(
            turnover, index=pd.DatetimeIndex(dates[trade], name="trade_date"), columns=columns[:-1]
        ),
        signals=pd.DatetimeIndex(dates[signal]),
        trades=pd.DatetimeIndex(dates[trade]),
        assignment=groups,
    )


def _turnover(
    groups: np.ndarray, lp: np.ndarray, trade: np.ndarray, end: np.ndarray, n_groups: int
) -> np.ndarray:
    """One-way turnover per (rebalance, group): half the sum of |new weight - drifted old weight|."""
    k = groups.shape[0]
    out = np.full((k, n_groups), np.nan)
    if k < 2:
        return out
    # drift of each stock over the previous holding period, valid only when it ended at this trade
    growth = np.exp(lp[trade[1:]] - lp[trade[:-1]])
    contiguous = end[:-1] == trade[1:]
    for g in range(n_groups):  # G <= a few dozen, each step vectorised over weeks and stocks
        old = np.where(groups[:-1] == g, growth, 0.0)
        old_sum = old.sum(axis=1, keepdims=True)
        new = (groups[1:] == g).astype(np.float64)
        new_sum = new.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            tv = 0.5 * np.abs(new / new_sum - old / old_sum).sum(axis=1)
        tv[~contiguous | (old_sum[:, 0] == 0) | (new_sum[:, 0] == 0)] = np.nan
        out[1:, g] = tv
    return out
