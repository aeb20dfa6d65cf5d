"""Universes and stand-in indexes: monthly size-ranked tiers (CSI 300/500/1000 stand-ins), cap weights."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from zoo.datasets.calc import one_day_simple_returns
from zoo.datasets.panel import ffill
from zoo.datasets.schema import INDEXES

#: Real index sizes; synthetic markets scale them to their stock count (see ``tier_sizes``).
REAL_TIERS: tuple[int, int, int] = (300, 500, 1000)
#: A stock suspended longer than this many trading days in a row leaves the "all" universe.
LONG_SUSPENSION_DAYS = 20
#: Rows-ago stand-in for "never traded" in :func:`days_since_trade`.
NEVER = 10**6


def tier_sizes(n_stocks: int, reference_market: int = 5000) -> tuple[int, int, int]:
    """CSI 300/500/1000 tier sizes scaled from a ``reference_market``-stock market to ``n_stocks``."""
    if n_stocks >= reference_market:
        return REAL_TIERS
    return tuple(max(1, round(k * n_stocks / reference_market)) for k in REAL_TIERS)  # type: ignore[return-value]


def days_since_trade(traded: np.ndarray, before: np.ndarray | None = None) -> np.ndarray:
    """(D, S) trading days since the stock last traded (0 on a trading day; large before any trade).

    ``before`` (S,) is the value on the row before the first one (a derivation window's carry).
    """
    d = traded.shape[0]
    start = (
        np.full(traded.shape[1], -NEVER, dtype=np.int64) if before is None else -1 - before.astype(np.int64)
    )
    idx = np.where(traded, np.arange(d)[:, None], -NEVER)
    last = np.maximum.accumulate(np.vstack([start[None], idx]), axis=0)[1:]
    return (np.arange(d)[:, None] - last).astype(np.int64)


def all_universe(listed: np.ndarray, suspended: np.ndarray, before: np.ndarray | None = None) -> np.ndarray:
    """ "all" = listed and not in a suspension longer than ``LONG_SUSPENSION_DAYS`` (causal).

    ``before``: :func:`days_since_trade` on the row before the first one (None: nothing before).
    """
    return listed & (days_since_trade(listed & ~suspended, before) <= LONG_SUSPENSION_DAYS)


def month_starts(dates: pd.DatetimeIndex) -> np.ndarray:
    """Positions of the first trading day of each month."""
    per = dates.to_period("M")
    first = np.ones(len(dates), dtype=bool)
    first[1:] = per[1:] != per[:-1]
    return np.flatnonzero(first)


def build_indexes(
    dates: pd.DatetimeIndex,
    size: np.ndarray,
    cap: np.ndarray,
    eligible: np.ndarray,
    tiers: tuple[int, int, int],
    members_alive: np.ndarray,
    cap_before: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Monthly-rebuilt disjoint size tiers and their daily cap weights.

    On each month's first trading day the stocks ``eligible`` on the previous trading day are ranked
    by the previous day's ``size`` (so nothing at or after the rebuild day is used); the top
    ``tiers[0]`` form the CSI 300 stand-in, the next ``tiers[1]`` the CSI 500 one, the next
    ``tiers[2]`` the CSI 1000 one (disjoint, like the real indexes). Members stay for the month
    while ``members_alive``; weights are each member's ``cap`` (carried over suspensions) over the
    tier's total, so they drift with prices between rebuilds as real cap weights do.
    ``cap_before`` (S,) is the last finite cap before the first row (a derivation window's carry).
    Returns ``member (3, D, S) bool`` and ``weight (3, D, S) float32``.
    """
    d, s = size.shape
    member = np.zeros((len(tiers), d, s), dtype=bool)
    starts = month_starts(dates)
    bounds = np.cumsum((0,) + tuple(tiers))
    for k, t0 in enumerate(starts):
        if t0 == 0:
            continue  # the first month has no previous day to rank on
        t1 = starts[k + 1] if k + 1 < len(starts) else d
        prev = t0 - 1
        ok = eligible[prev] & np.isfinite(size[prev])
        cand = np.flatnonzero(ok)
        order = cand[np.argsort(-size[prev, cand], kind="stable")]
        for i in range(len(tiers)):
            member[i, t0:t1, order[bounds[i] : bounds[i + 1]]] = True
    member &= members_alive[None]
    return member, member_weights(member, cap, cap_before)


def member_weights(member: np.ndarray, cap: np.ndarray, cap_before: np.ndarray | None = None) -> np.ndarray:
    """Cap weights of ``member`` ((..., D, S) bool) per date: ``cap`` carried over suspensions / the total."""
    capf = ffill(cap, cap_before).astype(np.float64)
    capf = np.where(np.isfinite(capf) & (capf > 0), capf, 0.0)
    raw = np.where(member, capf if member.ndim == 2 else capf[None], 0.0)
    tot = raw.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tot > 0, raw / tot, 0.0).astype(np.float32)


def tracking_table(cube: xr.Dataset) -> list[dict]:
    """How each stand-in's daily return (yesterday's weights × today's returns) tracks ``index_close``."""
    close = np.asarray(cube["bars"].sel(field="close").values, dtype=np.float64)
    r = np.nan_to_num(one_day_simple_returns(close, np.asarray(cube["breach"].values)), nan=0.0)
    w = np.asarray(cube["index_weight"].values, dtype=np.float64)
    out = []
    for i, name in enumerate(map(str, cube["index"].values)):
        level = np.asarray(cube["index_close"].sel(index=name).values, dtype=np.float64)
        ri = np.full(len(level), np.nan)
        ri[1:] = level[1:] / level[:-1] - 1.0
        rs = np.full(len(level), np.nan)
        rs[1:] = (w[i, :-1] * r[1:]).sum(axis=1)
        live = np.zeros(len(level), dtype=bool)
        live[1:] = w[i, :-1].sum(axis=1) > 0.5
        ok = live & np.isfinite(ri) & np.isfinite(rs)
        if ok.sum() < 3:
            out.append(dict(index=name, corr=np.nan, te_annual=np.nan, beta=np.nan, members=0.0, days=0))
            continue
        a, b = rs[ok], ri[ok]
        cov = np.cov(a, b)
        out.append(
            dict(
                index=name,
                corr=float(np.corrcoef(a, b)[0, 1]),
                te_annual=float(np.std(a - b) * np.sqrt(252)),
                beta=float(cov[0, 1] / cov[1, 1]),
                members=float((w[i] > 0).sum(axis=1)[ok].mean()),
                days=int(ok.sum()),
            )
        )
    return out


__all__ = [
    "INDEXES",
    "REAL_TIERS",
    "all_universe",
    "build_indexes",
    "member_weights",
    "days_since_trade",
    "month_starts",
    "tier_sizes",
    "tracking_table",
]
