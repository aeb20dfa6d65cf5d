"""Weekly quantile-group back-test of a score, the report's way (docs/evaluation.md).

Timing: the signal is the score at the close of the last trading day of each ISO week; the trade is at
the close of the next trading day (the next week's first). At the trade, stocks that are limit-up,
limit-down, suspended or without a close are excluded; the remaining universe members with a score
are ranked into G equal-count groups (1 = lowest score, G = TOP; tied scores are split by a fixed
pseudo-random key per (date, symbol), ``tie_keys``) and bought equal weight, no costs,
then held (weights drift) until the next weekly trade. The benchmark is the equal-weight portfolio of
all tradable universe members at the same trades. Daily returns use forward-filled closes (a suspended
stock earns 0) and are 0 on a ``breach`` day, where an unadjusted price jump is not a return.
Annualisation uses 252 trading days. The TOP group's annualised excess is the report's (Fig. 13): its
annualised return minus the benchmark's; the compounded daily difference is ``excess_nav_ann_return``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr
from zoo.evaluation.cube import check_dates, close_panel, flag_panel, universe_mask
from zoo.evaluation.ic import rank_rows

from zoo.errors import EvaluationError

TRADING_DAYS = 252
#: A calendar year with fewer TOP-return days than this (a quarter) gets no annualised number in the
#: per-year table: a Sharpe from a handful of days (the held week after a test year's end) is noise.
MIN_YEAR_DAYS = 63
EXCLUDE_DEFAULT: tuple[str, ...] = ("limit_up", "limit_down", "suspended")


def weekly_schedule(dates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the weekly signals (last trading day of each ISO week) and of their trades (the next row)."""
    idx = pd.DatetimeIndex(dates)
    iso = idx.isocalendar()
    key = (iso["year"].to_numpy() * 100 + iso["week"].to_numpy()).astype(np.int64)
    last = np.flatnonzero(np.r_[key[1:] != key[:-1], True])
    signal = last[last + 1 < len(idx)]  # a signal needs a next trading day to trade on
    return signal, signal + 1


def log_price_index(cube: xr.Dataset, close: np.ndarray | None = None) -> np.ndarray:
    """Cumulative daily log return ``(date, symbol)``: forward-filled closes, 0 over gaps and breach days."""
    close = close_panel(cube, "group back-test") if close is None else close
    breach = flag_panel(cube, "breach")
    out = np.empty(close.shape)
    step = max(1, (1 << 18) // max(close.shape[0], 1))
    # blocks of stocks: each column is computed alone, and a block's temporaries stay in cache
    for j in range(0, close.shape[1], step):
        out[:, j : j + step] = _log_index(close[:, j : j + step], breach[:, j : j + step])
    return out


def _log_index(close: np.ndarray, breach: np.ndarray) -> np.ndarray:
    """``log_price_index`` of a block of stocks."""
    with np.errstate(invalid="ignore", divide="ignore"):
        logc = np.log(close)
    finite = np.isfinite(logc)
    # forward fill by carrying the row index of the last finite close down each column
    last = np.where(finite, np.arange(close.shape[0])[:, None], 0)
    np.maximum.accumulate(last, axis=0, out=last)
    filled = np.take_along_axis(logc, last, axis=0)
    step = np.zeros(close.shape)
    step[1:] = filled[1:] - filled[:-1]
    step[~np.isfinite(step)] = 0.0  # before a stock's first bar
    step[breach] = 0.0
    step[0] = 0.0
    return np.cumsum(step, axis=0, out=step)


def tie_keys(dates: np.ndarray, symbols: np.ndarray) -> np.ndarray:
    """A fixed pseudo-random uint64 per (date, symbol) that orders tied scores.

    It depends on the date and the symbol's name only (not on the cube's layout or other stocks), so
    a stock's place among its ties is reproducible everywhere; it is random with respect to the symbol
    code, which, unlike symbol order, carries the exchange and board (000/300/600/688...).
    """
    sym = pd.util.hash_array(np.asarray(symbols).astype(str).astype(object))
    day = pd.util.hash_array(np.asarray(dates).astype("datetime64[ns]").astype(np.int64))
    z = day[:, None] ^ sym[None, :]
    # splitmix64's finaliser: every bit of the key depends on every bit of both hashes
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def assign_groups(
    score: np.ndarray, eligible: np.ndarray, n_groups: int, tiebreak: np.ndarray | None = None
) -> np.ndarray:
    """Equal-count groups 0..G-1 per row by rank among eligible finite scores; -1 elsewhere.

    Tied scores take consecutive ranks in the order of ``tiebreak`` (same shape; default: column
    order), so a factor with many ties (a 0/1 signal) still fills every group equally.
    """
    s = np.where(eligible & np.isfinite(score), score, np.nan)
    ranks = rank_rows(s)
    finite = np.isfinite(ranks)
    n = finite.sum(axis=1, keepdims=True)
    # Average ranks of tied values have a smaller sum of squares than 1..n (exact in float64: they
    # are multiples of 1/2), so this finds the rows with ties without sorting again.
    full = (n[:, 0] * (n[:, 0] + 1.0) * (2.0 * n[:, 0] + 1.0)) / 6.0
    tied = np.flatnonzero(np.where(finite, ranks * ranks, 0.0).sum(axis=1) < full)
    if tied.size:
        sub = s[tied]
        key = np.arange(s.shape[1]) if tiebreak is None else np.asarray(tiebreak)[tied]
        order = np.lexsort((np.broadcast_to(key, sub.shape), sub), axis=1)  # NaN last
        ordinal = np.empty(sub.shape)
        np.put_along_axis(ordinal, order, np.arange(1.0, s.shape[1] + 1.0)[None, :], axis=1)
        ranks[tied] = np.where(finite[tied], ordinal, np.nan)
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
        """TOP group: annualised return, Sharpe, max drawdown, annualised excess return, mean turnover.

        ``excess_ann_return`` is the report's (Fig. 13): the TOP group's annualised return minus the
        universe's, both over the days with a TOP return; ``excess_nav_ann_return`` annualises the
        compounded daily difference TOP - universe instead (the excess NAV that Sharpe and drawdown
        use). ``n_days`` counts the days with a TOP return.
        """
        r = self.returns[self.top]
        held = r.notna()
        ex = self.excess()
        ann, bench = annualised_return(r), annualised_return(self.returns["universe"][held])
        return {
            "ann_return": ann,
            "sharpe": sharpe(r),
            "max_drawdown": max_drawdown(r),
            "bench_ann_return": bench,
            "excess_ann_return": ann - bench,
            "excess_nav_ann_return": annualised_return(ex),
            "excess_sharpe": sharpe(ex),
            "excess_max_drawdown": max_drawdown(ex),
            "turnover": float(self.turnover[self.top].mean()),
            "n_days": int(held.sum()),
        }

    def yearly_excess(self, min_days: int = MIN_YEAR_DAYS) -> pd.DataFrame:
        """Per calendar year: TOP excess return (compounded), excess Sharpe, excess max drawdown, days.

        The return is the year's own (not annualised). A year with fewer than ``min_days`` days with
        a TOP return (a partial year) has no Sharpe: annualising a few days' mean and spread means nothing.
        """
        ex = self.excess().dropna()
        rows = {
            int(y): {
                "excess_return": float(np.prod(1 + e.to_numpy()) - 1),
                "excess_sharpe": sharpe(e) if e.size >= min_days else float("nan"),
                "excess_max_drawdown": max_drawdown(e),
                "n_days": int(e.size),
            }
            for y, e in ex.groupby(ex.index.year)
        }
        cols = ["excess_return", "excess_sharpe", "excess_max_drawdown", "n_days"]
        return pd.DataFrame.from_dict(rows, orient="index", columns=cols).rename_axis("year")

    def group_navs(self) -> pd.DataFrame:
        """Compounded NAV (start 1) of every group and the universe benchmark over the held days."""
        return (1 + self.returns.fillna(0.0)).cumprod()

    def spread(self) -> pd.Series:
        """Daily return of the TOP group minus the bottom group (1): alphalens' top-minus-bottom spread."""
        return (self.returns[self.top] - self.returns[1]).rename("spread")

    def spread_stats(self) -> dict[str, float]:
        """The spread's mean daily return (and x 252), its t-statistic, and its compounded return."""
        x = self.spread().dropna().to_numpy(dtype=np.float64)
        n = x.size
        mean = float(x.mean()) if n else float("nan")
        std = float(x.std(ddof=1)) if n > 1 else float("nan")
        return {
            "mean_daily": mean,
            "mean_annual": mean * TRADING_DAYS,
            "t_stat": mean / (std / np.sqrt(n)) if std > 0 else float("nan"),
            "cumulative": float(np.prod(1 + x) - 1) if n else float("nan"),
            "n_days": float(n),
        }

    def turnover_by_group(self) -> pd.Series:
        """Mean one-way turnover of every group over its rebalances (first build and gaps left out)."""
        return self.turnover.mean().rename_axis("group").rename("turnover")


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


def _week_turnover(grown: np.ndarray, new_w: np.ndarray, before: np.ndarray, now: np.ndarray, n_groups: int):
    """One-way turnover per group: half the sum of |new weight - last week's weight drifted to the trade|."""
    n_cols = n_groups + 1
    # bincount adds in stock order, as the dense column sums did: the same sums to the last bit
    total = np.bincount(before, grown, minlength=n_cols + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        grown /= total[before]
    same = now == before
    # |new - drifted| per stock and group: one term for a stock that stays, two for one that moves
    cols = np.stack([now, before], axis=1).ravel()
    terms = np.stack([np.where(same, np.abs(new_w - grown), new_w), np.where(same, 0.0, grown)], axis=1)
    return 0.5 * np.bincount(cols, terms.ravel(), minlength=n_cols + 1)[:n_groups]


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
    symbols = np.asarray(cube["symbol"].values)
    groups = assign_groups(sc[signal], eligible, n_groups, tie_keys(dates[signal], symbols))

    # each trade's holding ends at the next weekly trade (the last one at the cube's end)
    _, all_trade = weekly_schedule(dates)
    nxt = np.searchsorted(all_trade, trade, side="right")
    end = np.where(nxt < all_trade.size, all_trade[np.minimum(nxt, all_trade.size - 1)], len(dates) - 1)
    lp = log_price_index(cube, close)
    n_cols = n_groups + 1
    n_sym = groups.shape[1]
    # per week, the column of each stock (G + 1 = not held) and the counts of every group and the benchmark
    gcol = np.where(groups >= 0, groups, n_cols).astype(np.intp)
    offset = (np.arange(signal.size) * (n_cols + 1))[:, None]
    count = np.bincount((gcol + offset).ravel(), minlength=signal.size * (n_cols + 1))
    count = count.reshape(signal.size, n_cols + 1)[:, :n_cols].astype(np.float64)
    count[:, n_groups] = eligible_bench.sum(axis=1)
    empty_top = np.flatnonzero(count[:, n_groups - 1] == 0)
    if empty_top.size:
        first = empty_top[0]
        warnings.warn(
            f"group test in universe {universe!r} with {n_groups} groups: the TOP group is empty on "
            f"{empty_top.size} of {signal.size} rebalances (first at the trade of "
            f"{pd.Timestamp(dates[trade[first]]).date()}, {int(eligible[first].sum())} scored tradable "
            "stocks); those weeks have no TOP return and count in no TOP statistic",
            stacklevel=2,
        )
    with np.errstate(divide="ignore"):
        inv = 1.0 / count  # the equal weight of a member of each group
    value_rows, values, turnover = [], [], np.full((signal.size, n_groups), np.nan)
    prev_w = np.zeros(n_sym)
    # one step per week (hundreds): a matrix product over all stocks for the values; the turnover
    # from per-stock vectors, as each stock is in one group at most
    for k in range(signal.size):
        held = np.flatnonzero(gcol[k] < n_cols)
        new_w = np.zeros(n_sym)
        new_w[held] = inv[k, gcol[k, held]]
        if k > 0 and end[k - 1] == trade[k]:
            ratio = np.exp(lp[trade[k]] - lp[trade[k - 1]])  # drift of last week's weights to this trade
            turnover[k] = _week_turnover(prev_w * ratio, new_w, gcol[k - 1], gcol[k], n_groups)
            turnover[k][(count[k, :n_groups] == 0) | (count[k - 1, :n_groups] == 0)] = np.nan
        prev_w = new_w
        days = np.arange(trade[k] + 1, end[k] + 1)
        if days.size:
            weight = np.zeros((n_sym, n_cols))  # equal weights at the trade, one column per group
            weight[held, gcol[k, held]] = new_w[held]
            weight[:, n_groups] = eligible_bench[k] * inv[k, n_groups] if count[k, n_groups] else 0.0
            rel = np.exp(lp[days] - lp[trade[k]])  # each stock's value relative to the trade close
            value = np.nan_to_num(rel) @ weight
            value[:, count[k] == 0] = np.nan
            values.append(value / np.vstack([np.ones((1, n_cols)), value[:-1]]) - 1)
            value_rows.append(days)
    rows = np.concatenate(value_rows) if value_rows else np.zeros(0, dtype=np.int64)
    daily = np.vstack(values) if values else np.zeros((0, n_cols))
    columns = list(range(1, n_groups + 1)) + ["universe"]
    returns = pd.DataFrame(daily, index=pd.DatetimeIndex(dates[rows], name="date"), columns=columns)

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
