"""Excess-return statistics of an enhanced portfolio, laid out like the report's Fig. 26.

Definitions (``e_t = (1 + r_port,t) / (1 + r_bench,t) - 1`` the daily excess return, ``E`` its NAV):

* ``excess_return``: whole period annualised, ``E_end ** (days_per_year / n_days) - 1``; a year's
  column is that year's compounded excess, not annualised (the report's 2025-02-28 column is so);
* ``tracking_error``: ``std(e) * sqrt(days_per_year)`` (sample std, ddof = 1);
* ``excess_sharpe``: ``mean(e) * days_per_year / tracking_error`` (an information ratio);
* ``excess_max_drawdown``: the largest fall of ``E`` from its running peak (negative; a year's
  column starts its peak at the previous year's last value);
* ``calmar``: annualised excess return / ``|excess_max_drawdown|``, as the report computes it: a year's
  column annualises that year's excess over its own ``n`` days (``growth ** (days_per_year / n) - 1``;
  the report's CSI 300 2020: 6.44 % over 243 days -> 6.69 %, / 5.31 % = 1.26), except a partial last
  year (the back-test stops before that year's last trading day, the report's 2025-02-28 column),
  whose Calmar is its plain excess over the drawdown (3.69 / 1.1 = 3.35 in the report);
* ``turnover``: mean two-sided turnover ``sum|w_new - w_drifted|`` per weekly rebalance, the
  initial build from cash excluded.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Row order of the statistics table.
STAT_ROWS = ("excess_return", "tracking_error", "excess_sharpe", "excess_max_drawdown", "calmar", "turnover")
#: Rows shown in percent in the report's tables.
PERCENT_ROWS = ("excess_return", "tracking_error", "excess_max_drawdown")


def max_drawdown(nav: np.ndarray, start: float = 1.0) -> float:
    """Largest relative fall of ``nav`` from its running peak (<= 0), the peak starting at ``start``."""
    if nav.size == 0:
        return float("nan")
    peak = np.maximum.accumulate(np.concatenate([[start], nav]))[1:]
    return float(np.min(nav / peak - 1.0).clip(max=0.0))


def calmar_ratio(growth: float, mdd: float, n_days: int, days_per_year: int, annualise: bool = True) -> float:
    """Excess ``growth - 1`` over ``n_days`` (annualised unless told not) / ``|mdd|``; NaN if mdd >= 0."""
    if not mdd < 0 or n_days < 1:
        return float("nan")
    ret = growth ** (days_per_year / n_days) - 1.0 if annualise else growth - 1.0
    return ret / abs(mdd)


def year_complete(last: pd.Timestamp, calendar: pd.DatetimeIndex | None = None) -> bool:
    """Whether ``last`` is the last trading day of its year.

    With the cube's ``calendar``: its next trading day falls in a later year. When the calendar ends
    at ``last`` (or is not given), ``last`` must lie in the year's last week (on or after 24
    December): exchanges that close the year do so in its last days (China: 27-31 December).
    """
    if calendar is not None:
        later = calendar[calendar > last]
        if later.size:
            return bool(later[0].year > last.year)
    return (last.month, last.day) >= (12, 24)


def _block(
    excess: np.ndarray,
    turnover: np.ndarray,
    start_nav: float,
    dpy: int,
    annualise: bool,
    annualise_calmar: bool = True,
) -> dict:
    """The statistics of one block of daily excess returns."""
    n = excess.size
    nav = start_nav * np.cumprod(1.0 + excess)
    growth = float(nav[-1] / start_nav) if n else float("nan")
    ret = growth ** (dpy / n) - 1.0 if annualise and n else growth - 1.0
    te = float(np.std(excess, ddof=1) * np.sqrt(dpy)) if n > 1 else float("nan")
    sharpe = float(np.mean(excess) * dpy / te) if n > 1 and te > 0 else float("nan")
    mdd = max_drawdown(nav, start_nav)
    calmar = calmar_ratio(growth, mdd, n, dpy, annualise=annualise_calmar)
    return {
        "excess_return": ret,
        "tracking_error": te,
        "excess_sharpe": sharpe,
        "excess_max_drawdown": mdd,
        "calmar": calmar,
        "turnover": float(np.mean(turnover)) if turnover.size else float("nan"),
    }


def enhance_stats(
    daily: pd.DataFrame,
    rebalances: pd.DataFrame,
    days_per_year: int = 252,
    calendar: pd.DatetimeIndex | None = None,
) -> pd.DataFrame:
    """Fig. 26 table: rows = STAT_ROWS, columns = "all" then each calendar year.

    ``calendar`` (the cube's trading days) tells whether the last year is complete (``year_complete``).
    """
    excess = daily["excess_ret"].to_numpy(dtype=np.float64)
    years = daily.index.year.to_numpy()
    regular = rebalances.loc[~rebalances["initial"].to_numpy(bool)] if len(rebalances) else rebalances
    reb_years = pd.DatetimeIndex(regular.index).year.to_numpy()
    reb_turn = regular["turnover"].to_numpy(dtype=np.float64) if len(regular) else np.zeros(0)
    cols = {"all": _block(excess, reb_turn, 1.0, days_per_year, annualise=True)}
    nav = np.cumprod(1.0 + excess)
    partial_last = excess.size > 0 and not year_complete(daily.index[-1], calendar)
    for year in np.unique(years):
        sel = years == year
        first = int(np.flatnonzero(sel)[0])
        start_nav = float(nav[first - 1]) if first > 0 else 1.0
        # the report annualises every year's Calmar but the partial last one (its 2025-02-28 column)
        full = not (partial_last and year == years[-1])
        cols[str(year)] = _block(
            excess[sel], reb_turn[reb_years == year], start_nav, days_per_year, False, annualise_calmar=full
        )
    return pd.DataFrame(cols).loc[list(STAT_ROWS)]


def format_table(stats: pd.DataFrame, index: str | None = None) -> str:
    """A Markdown table of one index's statistics, percent rows in %, like the report's Fig. 26."""
    head = "| " + (index or "") + " | " + " | ".join(str(c) for c in stats.columns) + " |"
    lines = [head, "|" + "---|" * (len(stats.columns) + 1)]
    for row in stats.index:
        scale, unit = (100.0, " (%)") if row in PERCENT_ROWS else (1.0, "")
        vals = " | ".join(
            "" if not np.isfinite(v) else f"{v * scale:.2f}" for v in stats.loc[row].to_numpy(float)
        )
        lines.append(f"| {row}{unit} | {vals} |")
    return "\n".join(lines)
