"""Classic per-stock features of a day's raw 150-day windows, for trained baselines (LightGBM, ridge).

The windows are the deep models' own, before normalisation: ``DayBatches.raw_windows`` (days
t-W+1 .. t, bars before the latest breach set to NaN) of exactly the stocks ``DayBatches`` deems
eligible at t. So every feature uses data up to t only, and a classic model sees the same days and
stocks as the neural ones.

Features (c = close, h/l = high/low, v = volume, r = daily log return of c; ``k`` days back from t):

- ``ret_k`` (k = 1, 5, 10, 20, 60, 120): log(c_t / c_{t-k});
- ``ma_gap_k`` (5, 20, 60): c_t / mean(c over the last k days) - 1;
- ``vol_k`` (20, 60): std of r over the last k days; ``max_ret_20``: the largest r of 20 days;
- ``volume_k`` (5, 20): log(mean v of the last k days / mean v of the window);
- ``amount_20``: log mean(c * v) over 20 days (traded value: liquidity, a size proxy);
- ``range_k`` (5, 20): mean (h - l) / c over the last k days;
- ``to_high``, ``to_low``: c_t / max(h) - 1 and c_t / min(l) - 1 over the window;
- ``corr_cv_20``: correlation of c and log(1 + v) over 20 days (qlib Alpha158's CORR);
- ``vwap_gap``: vwap_t / c_t - 1 (NaN when ``data.fields`` leaves out vwap).

A statistic over k days needs at least half of them valid, else it is NaN (``ret_k`` needs both
closes). Per day, every feature is then rank-normalised across the day's stocks with the labels'
own rule (``normalize_cross_section(..., "rank")``: ranks scaled to [-0.5, 0.5], ties averaged),
which makes features comparable across days and immune to outliers; a missing value becomes 0, the
middle rank.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from zoo.datasets.labels import normalize_cross_section

from zoo.errors import DataError

RETURN_DAYS = (1, 5, 10, 20, 60, 120)
MA_DAYS = (5, 20, 60)
VOL_DAYS = (20, 60)
VOLUME_DAYS = (5, 20)
RANGE_DAYS = (5, 20)

#: Feature names, in column order.
FEATURES: tuple[str, ...] = (
    *(f"ret_{k}" for k in RETURN_DAYS),
    *(f"ma_gap_{k}" for k in MA_DAYS),
    *(f"vol_{k}" for k in VOL_DAYS),
    "max_ret_20",
    *(f"volume_{k}" for k in VOLUME_DAYS),
    "amount_20",
    *(f"range_{k}" for k in RANGE_DAYS),
    "to_high",
    "to_low",
    "corr_cv_20",
    "vwap_gap",
)
#: Fields the features need (``vwap`` is used when present).
NEEDED_FIELDS: tuple[str, ...] = ("high", "low", "close", "volume")


def _tail(a: np.ndarray, k: int) -> np.ndarray:
    return a[:, -k:] if k <= a.shape[1] else np.full((a.shape[0], k), np.nan, a.dtype)


def _mean(a: np.ndarray, k: int) -> np.ndarray:
    """Mean of the last k columns, NaN when fewer than half of them are valid."""
    t = _tail(a, k)
    ok = np.isfinite(t).sum(axis=1)
    return np.where(ok * 2 >= k, np.nanmean(t, axis=1), np.nan)


def _std(a: np.ndarray, k: int) -> np.ndarray:
    t = _tail(a, k)
    ok = np.isfinite(t).sum(axis=1)
    return np.where((ok * 2 >= k) & (ok >= 2), np.nanstd(t, axis=1, ddof=1), np.nan)


def _corr(a: np.ndarray, b: np.ndarray, k: int) -> np.ndarray:
    """Row-wise Pearson correlation of the last k columns over the pairs where both are valid."""
    ta, tb = _tail(a, k), _tail(b, k)
    ok = np.isfinite(ta) & np.isfinite(tb)
    n = ok.sum(axis=1)
    ta, tb = np.where(ok, ta, np.nan), np.where(ok, tb, np.nan)
    da = ta - np.nanmean(ta, axis=1, keepdims=True)
    db = tb - np.nanmean(tb, axis=1, keepdims=True)
    den = np.sqrt(np.nansum(da * da, axis=1) * np.nansum(db * db, axis=1))
    out = np.nansum(da * db, axis=1) / den
    return np.where((n * 2 >= k) & (n >= 3) & (den > 0), out, np.nan)


def window_features(raw: np.ndarray, fields: Sequence[str]) -> np.ndarray:
    """``(N, K)`` float32 features (columns: :data:`FEATURES`) of raw windows ``(N, W, F)``; NaN: unknown."""
    fields = list(fields)
    missing = [f for f in NEEDED_FIELDS if f not in fields]
    if missing:
        raise DataError(
            f"classic features need the fields {list(NEEDED_FIELDS)}; data.fields lacks {missing}"
        )
    x = np.asarray(raw, dtype=np.float64)  # float64: sums over 150 days of prices and volumes
    n, w = x.shape[:2]
    # Only the last `tail` days enter the k-day statistics; the whole window only the extremes and
    # the volume base. Slicing first keeps the elementwise work to what is used.
    tail = min(w, max(*MA_DAYS, *VOL_DAYS, *VOLUME_DAYS, *RANGE_DAYS, 20) + 1)
    c_all = x[:, :, fields.index("close")]
    c_all = np.where(c_all > 0, c_all, np.nan)
    c, h, lo, v = (x[:, -tail:, fields.index(f)] for f in ("close", "high", "low", "volume"))
    c = c_all[:, -tail:]
    vwap = x[:, -1, fields.index("vwap")] if "vwap" in fields else np.full(n, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        # all-NaN slices (new listings, breaches, short windows) are expected; they end as NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        last = c_all[:, -1]
        logc = np.log(c)
        r = np.diff(logc, axis=1)
        cols: list[np.ndarray] = []
        for k in RETURN_DAYS:
            cols.append(np.log(last / c_all[:, -1 - k]) if k < w else np.full(n, np.nan))
        cols += [last / _mean(c, k) - 1 for k in MA_DAYS]
        cols += [_std(r, k) for k in VOL_DAYS]
        t20 = _tail(r, 20)
        cols.append(np.where(np.isfinite(t20).sum(axis=1) >= 10, np.nanmax(t20, axis=1), np.nan))
        v_all = x[:, :, fields.index("volume")]
        vbase = np.nanmean(np.where(v_all >= 0, v_all, np.nan), axis=1)
        vbase = np.where(vbase > 0, vbase, np.nan)
        v = np.where(v >= 0, v, np.nan)
        cols += [np.log(_mean(v, k) / vbase) for k in VOLUME_DAYS]
        amount = _mean(_tail(c, 20) * _tail(v, 20), 20)
        cols.append(np.log(np.where(amount > 0, amount, np.nan)))
        rng = (_tail(h, max(RANGE_DAYS)) - _tail(lo, max(RANGE_DAYS))) / _tail(c, max(RANGE_DAYS))
        cols += [_mean(rng, k) for k in RANGE_DAYS]
        cols.append(last / np.nanmax(x[:, :, fields.index("high")], axis=1) - 1)
        cols.append(last / np.nanmin(x[:, :, fields.index("low")], axis=1) - 1)
        cols.append(_corr(_tail(c, 20), np.log1p(_tail(v, 20)), 20))
        cols.append(vwap / last - 1)
    out = np.stack(cols, axis=1) if n else np.zeros((0, len(FEATURES)))
    out[~np.isfinite(out)] = np.nan
    return out.astype(np.float32)


def normalize_features(features: np.ndarray, day: np.ndarray | None = None) -> np.ndarray:
    """Rank-normalise each column across each day's stocks to [-0.5, 0.5] (the labels' rule); NaN -> 0.

    ``day`` (rows,) ascending day numbers when the rows hold several days; None: all one day.
    """
    rows, k = features.shape
    day = np.zeros(rows, np.int64) if day is None else np.asarray(day, np.int64)
    starts = np.flatnonzero(np.r_[True, day[1:] != day[:-1]]) if rows else np.zeros(0, np.int64)
    counts = np.diff(np.r_[starts, rows])
    d = np.repeat(np.arange(len(starts)), counts)
    col = np.arange(rows) - np.repeat(starts, counts)
    # one (days * features, stocks) panel, NaN-padded, ranked in a single call
    panel = np.full((len(starts), k, int(counts.max(initial=0))), np.nan, np.float32)
    panel[d, :, col] = features
    ranked = normalize_cross_section(panel.reshape(-1, panel.shape[-1]), "rank").reshape(panel.shape)
    return np.nan_to_num(ranked[d, :, col], nan=0.0)


@dataclass(frozen=True, slots=True)
class FeatureDay:
    """One date's eligible stocks: normalised features ``x (N, K)`` and raw labels ``y (N,)`` or None."""

    date: pd.Timestamp
    symbols: np.ndarray
    #: positions of the N stocks on the cube's symbol axis.
    index: np.ndarray
    x: np.ndarray
    y: np.ndarray | None


#: Stock-days per vectorised block (bounds the float64 windows held at once to ~100 MB).
BLOCK_ROWS = 12_000


def feature_days(batches, positions: Sequence[int] | np.ndarray) -> list[FeatureDay]:
    """Features of the stocks ``batches`` (a ``DayBatches``) deems eligible at each date position.

    Computed in blocks of many days at once. The label is the batches' own label array (neutralised
    or raw per the data spec), not normalised: NaN where missing, None when the batches have none.
    """
    positions = [int(t) for t in positions]
    idxs = [np.flatnonzero(batches.eligible[t]) for t in positions]  # the stocks batch_at(t) holds
    out: list[FeatureDay] = []
    i = 0
    while i < len(positions):
        j, rows = i, 0
        while j < len(positions) and (j == i or rows + len(idxs[j]) <= BLOCK_ROWS):
            rows += len(idxs[j])
            j += 1
        raw = np.concatenate([batches.raw_windows(positions[m], idxs[m]) for m in range(i, j)])
        day = np.repeat(np.arange(j - i), [len(idxs[m]) for m in range(i, j)])
        x = normalize_features(window_features(raw, batches.fields), day)
        bounds = np.cumsum([0] + [len(idxs[m]) for m in range(i, j)])
        for m in range(i, j):
            t, idx = positions[m], idxs[m]
            y = None if batches.labels is None else batches.labels[t, idx].astype(np.float32)
            xs = np.ascontiguousarray(x[bounds[m - i] : bounds[m - i + 1]])
            out.append(FeatureDay(batches.all_dates[t], batches.symbols_all[idx], idx, xs, y))
        i = j
    return out


def feature_day(batches, t: int) -> FeatureDay:
    """Features of the stocks eligible at date position ``t`` (one day of :func:`feature_days`)."""
    return feature_days(batches, [t])[0]
