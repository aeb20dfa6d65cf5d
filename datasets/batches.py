"""Day batches: every eligible stock of one date, its normalised 150-day window, label and context.

Window normalisation (each step a ``DataSpec`` option; defaults in brackets):

1. the window is days t-W+1 .. t of the stock (missing bars are NaN); bars before the latest
   ``breach`` inside the window are set to NaN, since unadjusted prices across it are not comparable;
2. ``price_norm`` ["last_close"]: open/high/low/close/vwap divided by the stock's close at t;
3. ``volume_norm`` ["window_mean"]: volume divided by its mean over the window's valid bars;
4. ``clip_mad`` [5]: per (step, field), values beyond median ± clip_mad × 1.4826 × MAD across the
   day's stocks are clipped (0 = off);
5. ``zscore`` [True]: per (step, field), z-score across the day's stocks (a constant column -> 0);
6. NaN -> ``fill_value`` [0].

Eligible at t: in the universe at t, listed, not suspended at t, a close at t, a finite size at t, at
least min(``min_history`` [120], window) valid bars in the window after the latest breach. A missing
label (it lies after t) never removes a stock: its ``y`` is NaN; ``require_label`` only makes a day
need enough labelled stocks. Every statistic uses data up to t only; the label is the only thing
after t.
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from datasets.labels import LABEL_NORMS, ensure_labels, normalize_cross_section
from datasets.schema import FIELDS, PRICE_FIELDS
from zoo.errors import DataError
from zoo.specs.data import DataSpec

MAD_SCALE = 1.4826  # MAD -> std for a normal distribution


@dataclass(frozen=True, slots=True)
class DayBatch:
    """One date's cross-section: ``x (N, W, F)``, ``y (N,)`` or None, and ``ctx`` arrays of length N."""

    date: pd.Timestamp
    symbols: np.ndarray
    x: np.ndarray
    y: np.ndarray | None
    ctx: dict[str, np.ndarray]
    #: positions of the N stocks on the cube's symbol axis (to scatter scores back).
    index: np.ndarray = field(repr=False)

    @property
    def label_mask(self) -> np.ndarray:
        """True where ``y`` is a finite label (all True when labels were required)."""
        if self.y is None:
            return np.zeros(len(self.symbols), dtype=bool)
        return np.isfinite(self.y)


class _Panel:
    """The cube's bars as one (S, W-1+D, F) float32 array padded at the front, plus causal helpers."""

    def __init__(self, cube: xr.Dataset, window: int):
        bars = np.asarray(cube["bars"].values, dtype=np.float32)  # (D, S, F)
        d, s, f = bars.shape
        self.pad = window - 1
        self.values = np.full((s, self.pad + d, f), np.nan, dtype=np.float32)
        self.values[:, self.pad :, :] = bars.transpose(1, 0, 2)
        breach = np.asarray(cube["breach"].values)
        idx = np.where(breach, np.arange(d)[:, None], -1)
        #: (D, S) position of the latest breach at or before t (-1 if none): bars before it are stale.
        self.last_breach = np.maximum.accumulate(idx, axis=0).astype(np.int64)
        valid = np.isfinite(bars[..., 3])
        #: cumulative count of valid bars, (D+1, S), for O(1) history counts.
        self.cum_valid = np.concatenate([np.zeros((1, s), np.int64), np.cumsum(valid, axis=0)])

    def history(self, window: int) -> np.ndarray:
        """(D, S) valid bars in days max(t-W+1, latest breach) .. t."""
        d = self.cum_valid.shape[0] - 1
        t = np.arange(d)[:, None]
        lo = np.maximum(t - window + 1, np.maximum(self.last_breach, 0))
        lo = np.maximum(lo, 0)
        return self.cum_valid[t + 1, np.arange(self.cum_valid.shape[1])[None]] - np.take_along_axis(
            self.cum_valid, lo, axis=0
        )


# One panel per (bars array, window): train/valid/test DayBatches over one cube share it.
_PANELS: dict[tuple[int, int, int], tuple[weakref.ref, weakref.ref, _Panel]] = {}


def _panel(cube: xr.Dataset, window: int) -> _Panel:
    """The cached panel of ``cube``'s bars and breaches (rebuilt when either array changed)."""
    bars, breach = cube["bars"].values, cube["breach"].values
    key = (id(bars), id(breach), window)
    hit = _PANELS.get(key)
    if hit is not None and hit[0]() is bars and hit[1]() is breach:
        return hit[2]
    for k in [k for k, (rb, rr, _) in _PANELS.items() if rb() is None or rr() is None]:
        del _PANELS[k]
    panel = _Panel(cube, window)
    _PANELS[key] = (weakref.ref(bars), weakref.ref(breach), panel)
    return panel


def _nan_median_cols(a: np.ndarray) -> np.ndarray:
    """Median over axis 0 ignoring NaN, for an (N, K) array, by one sort (np.nanmedian loops per column)."""
    srt = np.sort(a, axis=0)  # NaN sort last
    n = np.isfinite(a).sum(axis=0)
    lo = np.clip((n - 1) // 2, 0, None)
    hi = np.clip(n // 2, 0, None)
    cols = np.arange(a.shape[1])
    med = 0.5 * (srt[lo, cols] + srt[hi, cols])
    return np.where(n > 0, med, np.nan)


def normalize_windows(
    x: np.ndarray,
    fields: Sequence[str],
    price_norm: str = "last_close",
    volume_norm: str = "window_mean",
    clip_mad: float = 5.0,
    zscore: bool = True,
    fill_value: float = 0.0,
) -> np.ndarray:
    """Normalise a day's raw windows ``x (N, W, F)`` as the module docstring says (in place if contiguous)."""
    x = np.ascontiguousarray(x, dtype=np.float32)  # the in-place steps below work on a reshaped view
    n, w, f = x.shape
    fields = list(fields)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns are expected; they end as fill
        if price_norm == "last_close":
            if "close" not in fields:
                raise DataError("price_norm='last_close' needs the 'close' field in data.fields")
            last = x[:, -1, fields.index("close")]
            pcols = [i for i, name in enumerate(fields) if name in PRICE_FIELDS]
            x[:, :, pcols] /= last[:, None, None]
        elif price_norm != "none":
            raise DataError(f"price_norm {price_norm!r} is unknown; choose 'last_close' or 'none'")
        if "volume" in fields:
            v = fields.index("volume")
            if volume_norm == "window_mean":
                mean = np.nanmean(x[:, :, v], axis=1) if n else np.zeros(0, np.float32)
                x[:, :, v] /= np.where(mean > 0, mean, np.nan)[:, None]
            elif volume_norm != "none":
                raise DataError(f"volume_norm {volume_norm!r} is unknown; choose 'window_mean' or 'none'")
        flat = x.reshape(n, w * f)
        if n and clip_mad > 0:
            med = _nan_median_cols(flat)
            mad = _nan_median_cols(np.abs(flat - med))
            band = clip_mad * MAD_SCALE * mad
            np.clip(flat, med - band, med + band, out=flat)
        if n and zscore:
            mu = np.nanmean(flat, axis=0)
            sd = np.nanstd(flat, axis=0)
            flat -= mu
            flat *= np.where(sd > 1e-8, 1.0 / sd, 0.0)
    np.nan_to_num(x, copy=False, nan=fill_value, posinf=fill_value, neginf=fill_value)
    return x


class DayBatches(Sequence):
    """Indexable, iterable day batches of one cube over a date range and universe."""

    def __init__(
        self,
        cube: xr.Dataset,
        dates: slice | Sequence | tuple | None = None,
        universe: str = "all",
        window: int = 150,
        horizon: int = 10,
        label_norm: str | None = "rank",
        require_label: bool = True,
        fields: Sequence[str] = FIELDS,
        price_norm: str = "last_close",
        volume_norm: str = "window_mean",
        clip_mad: float = 5.0,
        zscore: bool = True,
        fill_value: float = 0.0,
        min_history: int = 120,
        neutralize: bool = True,
        n_size_groups: int = 5,
        min_stocks: int | None = None,
    ):
        """Prepare batches; ``dates`` is a (start, end) pair, a slice, a list of dates, or None (all)."""
        if label_norm is not None and label_norm not in LABEL_NORMS:
            raise DataError(f"label_norm {label_norm!r} is unknown; choose one of {LABEL_NORMS} or None")
        if universe not in [str(u) for u in cube["universe"].values]:
            raise DataError(f"universe {universe!r} not in the cube (has {list(cube['universe'].values)})")
        cube_fields = [str(f) for f in cube["field"].values]
        unknown = [f for f in fields if f not in cube_fields]
        if unknown:
            raise DataError(f"data.fields {unknown} not in the cube's fields {cube_fields}")
        min_history = min(int(min_history), int(window))  # a short window asks for all its bars
        self.window, self.horizon, self.universe = int(window), int(horizon), universe
        self.fields = tuple(fields)
        self.field_idx = np.array([cube_fields.index(f) for f in fields])
        self._all_fields = list(self.field_idx) == list(range(len(cube_fields)))
        self.label_norm, self.require_label = label_norm, require_label
        self.norm = dict(
            price_norm=price_norm,
            volume_norm=volume_norm,
            clip_mad=clip_mad,
            zscore=zscore,
            fill_value=fill_value,
        )
        self.n_size_groups = int(n_size_groups)
        self.all_dates = pd.DatetimeIndex(cube["date"].values)
        self.symbols_all = np.asarray(cube["symbol"].values).astype(str)
        if label_norm is not None or require_label:
            cube = ensure_labels(cube, horizons=(horizon,))
        self._panel = _panel(cube, self.window)
        self.size = np.asarray(cube["size"].values, dtype=np.float32)
        self.industry = np.asarray(cube["industry"].values).astype(np.int64)
        self.labels: np.ndarray | None = None
        if "label_raw" in cube.data_vars and horizon in set(int(h) for h in cube["horizon"].values):
            name = "label_neutral" if neutralize else "label_raw"
            self.labels = np.asarray(cube[name].sel(horizon=horizon).values, dtype=np.float32)
        close = np.asarray(cube["bars"].values[..., 3])
        elig = (
            np.asarray(cube["in_universe"].sel(universe=universe).values)
            & np.asarray(cube["listed"].values)
            & ~np.asarray(cube["suspended"].values)
            & np.isfinite(close)
            & np.isfinite(self.size)
            & (self._panel.history(self.window) >= min_history)
        )
        #: stocks eligible at t, decided from data up to t only. A missing label never removes a stock
        #: from the day: its label lies in the future, and dropping it would change every other stock's
        #: cross-sectional normalisation, size group and mixer means (look-ahead). Its y is NaN instead.
        self.eligible = elig
        self.labelled = elig & np.isfinite(self.labels) if self.labels is not None else None
        positions = self._select(dates)
        need = max(min_stocks if min_stocks is not None else 2 * self.n_size_groups, 2)
        counts = (self.labelled if require_label else elig)[positions].sum(axis=1)
        #: positions (on the cube's date axis) of the dates that have enough eligible stocks.
        self.positions = positions[counts >= need]

    @classmethod
    def from_spec(
        cls,
        cube: xr.Dataset,
        spec: DataSpec,
        dates: slice | Sequence | tuple | None = None,
        label_norm: str | None = "rank",
        require_label: bool = True,
        **overrides,
    ) -> DayBatches:
        """Day batches configured by a ``zoo.specs.data.DataSpec`` (keyword ``overrides`` win)."""
        kw = dict(
            universe=spec.universe,
            window=spec.window,
            horizon=spec.horizon,
            fields=spec.fields,
            price_norm=spec.price_norm,
            volume_norm=spec.volume_norm,
            clip_mad=spec.clip_mad,
            zscore=spec.zscore,
            fill_value=spec.fill_value,
            min_history=spec.min_history,
            neutralize=spec.neutralize,
        )
        if hasattr(spec, "n_size_groups"):
            kw["n_size_groups"] = spec.n_size_groups
        kw.update(overrides)
        return cls(cube, dates, label_norm=label_norm, require_label=require_label, **kw)

    def _select(self, dates: slice | Sequence | tuple | None) -> np.ndarray:
        """Date positions for a (start, end) pair, slice, list of dates, or None."""
        d = self.all_dates
        if dates is None:
            return np.arange(len(d))
        if isinstance(dates, tuple) and len(dates) == 2:
            dates = slice(*dates)
        if isinstance(dates, slice):
            lo = 0 if dates.start is None else d.searchsorted(pd.Timestamp(dates.start), side="left")
            hi = len(d) if dates.stop is None else d.searchsorted(pd.Timestamp(dates.stop), side="right")
            return np.arange(lo, hi)
        want = pd.DatetimeIndex(dates)
        pos = d.get_indexer(want)
        if (pos < 0).any():
            raise DataError(f"dates not in the cube: {list(want[pos < 0][:5].date)}")
        return np.sort(pos)

    @property
    def dates(self) -> pd.DatetimeIndex:
        """The batch dates (eligible days in the requested range)."""
        return self.all_dates[self.positions]

    def __len__(self) -> int:
        """Number of days."""
        return len(self.positions)

    def __iter__(self) -> Iterator[DayBatch]:
        """Batches in date order."""
        for i in range(len(self)):
            yield self[i]

    def __getitem__(self, i: int) -> DayBatch:  # type: ignore[override]
        """The batch of the i-th day."""
        if not -len(self) <= i < len(self):
            raise IndexError(f"day {i} out of range (0..{len(self) - 1})")
        return self.batch_at(int(self.positions[i]))

    def raw_windows(self, t: int, idx: np.ndarray) -> np.ndarray:
        """Un-normalised windows (N, W, F) of stocks ``idx`` at date position ``t``, breach-truncated."""
        w = self.window
        x = self._panel.values[idx, t : t + w, :]  # one gather of N contiguous blocks; padded start
        if not self._all_fields:
            x = np.ascontiguousarray(x[:, :, self.field_idx])
        lb = self._panel.last_breach[t, idx]
        stale = (t - w + 1 + np.arange(w))[None, :] < lb[:, None]
        x[stale] = np.nan
        return x

    def batch_at(self, t: int) -> DayBatch:
        """The batch at date position ``t`` on the cube's date axis."""
        idx = np.flatnonzero(self.eligible[t])
        x = normalize_windows(self.raw_windows(t, idx), self.fields, **self.norm)
        y = None
        if self.labels is not None and (self.require_label or self.label_norm is not None):
            y = normalize_cross_section(self.labels[t, idx], self.label_norm)
        size = self.size[t, idx]
        n = len(idx)
        rank = np.argsort(np.argsort(size, kind="stable"), kind="stable")
        groups = (rank * self.n_size_groups // max(n, 1)).astype(np.int64)
        ctx = {
            "size": size,
            "size_group": groups,
            "industry": self.industry[idx],
            "mask": np.ones(n, dtype=bool),
        }
        return DayBatch(self.all_dates[t], self.symbols_all[idx], x, y, ctx, idx)


def trading_dates(cube: xr.Dataset) -> pd.DatetimeIndex:
    """The cube's trading days."""
    return pd.DatetimeIndex(cube["date"].values)


def eligible_dates(
    cube: xr.Dataset, start: str | pd.Timestamp | None = None, end: str | pd.Timestamp | None = None, **kwargs
) -> pd.DatetimeIndex:
    """Dates in [start, end] that have a usable batch under ``kwargs`` (DayBatches options)."""
    return DayBatches(cube, (start, end), **kwargs).dates
