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

import copy
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from array_api_compat import array_namespace
from zoo.datasets.labels import LABEL_NORMS, ensure_labels, normalize_cross_section
from zoo.datasets.sampling import stratified_sample
from zoo.datasets.schema import FIELDS
from zoo.datasets.windows import MAD_SCALE, gather_windows, normalize_windows, size_groups

from zoo.errors import DataError

__all__ = ["MAD_SCALE", "DayBatch", "DayBatches", "eligible_dates", "normalize_windows", "trading_dates"]


@dataclass(frozen=True, slots=True)
class DayBatch:
    """One date's cross-section: ``x (N, W, F)``, ``y (N,)`` or None, and ``ctx`` arrays of length N.

    ``x``, ``y`` and ``ctx`` are numpy arrays, or arrays of the namespace and device the batches were
    moved to with :meth:`DayBatches.on`; ``date``, ``symbols``, ``index`` and ``n_labelled`` stay on
    the host.
    """

    date: pd.Timestamp
    symbols: np.ndarray
    x: Any
    y: Any | None
    ctx: dict[str, Any]
    #: positions of the N stocks on the cube's symbol axis (to scatter scores back).
    index: np.ndarray = field(repr=False)
    #: stocks with a finite label, counted on the host (so a device consumer need not synchronise).
    n_labelled: int = field(default=-1, repr=False)

    @property
    def label_mask(self) -> Any:
        """True where ``y`` is a finite label (all True when labels were required)."""
        if self.y is None:
            return np.zeros(len(self.symbols), dtype=bool)
        return array_namespace(self.y).isfinite(self.y)


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
        #: copies of this panel's arrays on devices (see ``on``).
        self._on: dict[tuple[str, int, str, str], tuple[np.ndarray, Any]] = {}

    def on(self, xp: Any, device: Any, name: str, host: np.ndarray) -> Any:
        """``host`` copied to ``device`` once per (array, device); later calls share the copy."""
        key = (name, id(host), str(device), xp.__name__)
        hit = self._on.get(key)
        if hit is None or hit[0] is not host:  # the strong ref to ``host`` keeps its id unique
            hit = self._on[key] = (host, xp.asarray(host, device=device))
        return hit[1]

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


def _check_options(
    cube: xr.Dataset, universe: str, fields: Sequence[str], label_norm: str | None
) -> list[str]:
    """The cube's field names; a DataError naming a label norm, universe or field the cube cannot give."""
    if label_norm is not None and label_norm not in LABEL_NORMS:
        raise DataError(f"label_norm {label_norm!r} is unknown; choose one of {LABEL_NORMS} or None")
    if universe not in [str(u) for u in cube["universe"].values]:
        raise DataError(f"universe {universe!r} not in the cube (has {list(cube['universe'].values)})")
    cube_fields = [str(f) for f in cube["field"].values]
    unknown = [f for f in fields if f not in cube_fields]
    if unknown:
        raise DataError(f"data.fields {unknown} not in the cube's fields {cube_fields}")
    return cube_fields


def _day_labels(cube: xr.Dataset, horizon: int, neutralize: bool) -> np.ndarray | None:
    """The (date, symbol) label of ``horizon`` (neutralised or raw), or None when the cube has none."""
    if "label_raw" in cube.data_vars and horizon in set(int(h) for h in cube["horizon"].values):
        name = "label_neutral" if neutralize else "label_raw"
        return np.asarray(cube[name].sel(horizon=horizon).values, dtype=np.float32)
    return None


def _eligibility(
    cube: xr.Dataset, universe: str, size: np.ndarray, history: np.ndarray, need: int
) -> np.ndarray:
    """Stocks eligible at t, from data up to t only (module docstring)."""
    close = np.asarray(cube["bars"].values[..., 3])
    return (
        np.asarray(cube["in_universe"].sel(universe=universe).values)
        & np.asarray(cube["listed"].values)
        & ~np.asarray(cube["suspended"].values)
        & np.isfinite(close)
        & np.isfinite(size)
        & (history >= need)
    )


def select_positions(all_dates: pd.DatetimeIndex, dates: slice | Sequence | tuple | None) -> np.ndarray:
    """Date positions for a (start, end) pair, slice, list of dates, or None (all)."""
    d = all_dates
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


#: The ``[data]`` spec keys that configure day batches (``DayBatches.from_spec``).
SPEC_KEYS: tuple[str, ...] = (
    "universe",
    "window",
    "horizon",
    "fields",
    "price_norm",
    "volume_norm",
    "clip_mad",
    "zscore",
    "fill_value",
    "min_history",
    "neutralize",
)


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
        cube_fields = _check_options(cube, universe, fields, label_norm)
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
        #: array namespace and device of the built days (None: numpy on the host), see :meth:`on`.
        self._xp: Any = None
        self._device: Any = None
        self._dev: dict[str, Any] | None = None
        self.size = np.asarray(cube["size"].values, dtype=np.float32)
        self.industry = np.asarray(cube["industry"].values).astype(np.int64)
        self.labels = _day_labels(cube, self.horizon, neutralize)
        #: stocks eligible at t, decided from data up to t only. A missing label never removes a stock
        #: from the day: its label lies in the future, and dropping it would change every other stock's
        #: cross-sectional normalisation, size group and mixer means (look-ahead). Its y is NaN instead.
        self.eligible = _eligibility(cube, universe, self.size, self._panel.history(self.window), min_history)
        self.labelled = self.eligible & np.isfinite(self.labels) if self.labels is not None else None
        #: positions (on the cube's date axis) of the dates that have enough eligible stocks.
        self.positions = self._enough_stocks(select_positions(self.all_dates, dates), min_stocks)

    def _enough_stocks(self, positions: np.ndarray, min_stocks: int | None) -> np.ndarray:
        """The positions whose day has enough eligible (labelled, if required) stocks."""
        need = max(min_stocks if min_stocks is not None else 2 * self.n_size_groups, 2)
        counts = (self.labelled if self.require_label else self.eligible)[positions].sum(axis=1)
        return positions[counts >= need]

    @classmethod
    def from_spec(
        cls,
        cube: xr.Dataset,
        spec: Any,
        dates: slice | Sequence | tuple | None = None,
        label_norm: str | None = "rank",
        require_label: bool = True,
        **overrides,
    ) -> DayBatches:
        """Day batches configured by a ``[data]`` spec (``zoo.specs.data.DataSpec``); ``overrides`` win."""
        kw = {key: getattr(spec, key) for key in SPEC_KEYS}
        if hasattr(spec, "n_size_groups"):
            kw["n_size_groups"] = spec.n_size_groups
        kw.update(overrides)
        return cls(cube, dates, label_norm=label_norm, require_label=require_label, **kw)

    def _select(self, dates: slice | Sequence | tuple | None) -> np.ndarray:
        """Date positions for a (start, end) pair, slice, list of dates, or None."""
        return select_positions(self.all_dates, dates)

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

    def on(self, xp: Any, device: Any = None) -> DayBatches:
        """These batches built with array namespace ``xp`` on ``device`` (e.g. torch on a GPU).

        The padded bar panel, breaches, sizes, industries and labels are copied there once (shared by
        every DayBatches over the same cube and device); each day's windows are then gathered and
        normalised there by the same rules (``datasets.windows``) as on the host. Eligibility and the
        stock list stay host-side numpy (decided once at setup).
        """
        out = copy.copy(self)
        out._xp, out._device = xp, device
        host = self._host_arrays()
        out._dev = {
            k: self._panel.on(xp, device, _SHARED_AS.get(k, k), v)
            for k, v in host.items()
            if k != "field_idx"
        }
        if "field_idx" in host:
            out._dev["field_idx"] = xp.asarray(self.field_idx, device=device)
        return out

    @property
    def _wants_labels(self) -> bool:
        """Whether a batch carries ``y`` (labels exist, and are required or normalised)."""
        return self.labels is not None and (self.require_label or self.label_norm is not None)

    def _host_arrays(self) -> dict[str, Any]:
        """The host arrays a day is built from (labels only when a batch carries them)."""
        host = {
            "panel": self._panel.values,
            "last_breach": self._panel.last_breach,
            "size": self.size,
            "industry": self.industry,
        }
        if self._wants_labels:
            host["labels"] = self.labels
        if not self._all_fields:
            host["field_idx"] = self.field_idx
        return host

    def _arrays(self) -> dict[str, Any]:
        """The arrays a day is built from: the host ones, or their copies on the device."""
        return self._dev if self._dev is not None else self._host_arrays()

    def _index(self, idx: np.ndarray) -> Any:
        """Stock positions as an index array of the batches' namespace and device."""
        return idx if self._xp is None else self._xp.asarray(idx, device=self._device)

    def raw_windows(self, t: int, idx: np.ndarray) -> Any:
        """Un-normalised windows (N, W, F) of stocks ``idx`` at date position ``t``, breach-truncated."""
        a = self._arrays()
        di = self._index(idx)
        return gather_windows(a["panel"], a["last_breach"], t, di, self.window, a.get("field_idx"))

    def _stocks_at(self, t: int, sample: int, rng: np.random.Generator | None) -> tuple[np.ndarray, Any]:
        """The day's eligible stocks, or a size-stratified sample of ``sample`` of them with their groups."""
        idx = np.flatnonzero(self.eligible[t])
        if not 0 < sample < len(idx):
            return idx, None
        if rng is None:
            raise DataError("a stock sample needs a random generator (rng)")
        groups = size_groups(self.size[t, idx], self.n_size_groups)
        keep = stratified_sample(groups, sample, rng)
        return idx[keep], groups[keep]

    def _labels_at(self, t: int, idx: np.ndarray, di: Any) -> tuple[Any, int]:
        """The day's ``y`` (raw, or normalised across the stocks) and its labelled count (-1: no labels)."""
        if not self._wants_labels:
            return None, -1
        if self.label_norm is None:
            y = self._arrays()["labels"][t, di]
        else:  # pandas ranks on the host; a label vector is N floats, not a window
            y = normalize_cross_section(self.labels[t, idx], self.label_norm)
            y = y if self._xp is None else self._xp.asarray(y, device=self._device)
        return y, int(np.isfinite(self.labels[t, idx]).sum())

    def batch_at(self, t: int, sample: int = 0, rng: np.random.Generator | None = None) -> DayBatch:
        """The batch at date position ``t`` on the cube's date axis.

        ``sample`` > 0 (with ``rng``) keeps that many of the eligible stocks, drawn within the day's size
        groups so each group keeps its share (``datasets.sampling``); the windows are normalised across
        the sample and ``ctx["size_group"]`` keeps each stock's group in the whole day.
        """
        idx, groups = self._stocks_at(t, sample, rng)
        a = self._arrays()
        di = self._index(idx)
        x = normalize_windows(self.raw_windows(t, idx), self.fields, **self.norm)
        y, n_labelled = self._labels_at(t, idx, di)
        size = a["size"][t, di]
        xp = array_namespace(size)
        ctx = {  # keep CTX_KEYS in step: specs are checked against it before anything runs
            "size": size,
            "size_group": size_groups(size, self.n_size_groups) if groups is None else self._index(groups),
            "industry": a["industry"][di],
            "mask": xp.ones(len(idx), dtype=xp.bool, device=self._device),
        }
        return DayBatch(self.all_dates[t], self.symbols_all[idx], x, y, ctx, idx, n_labelled)


#: The name each host array is shared under in a panel's device copies (``_Panel.on``).
_SHARED_AS: dict[str, str] = {"panel": "values"}


#: The keys of every day's ``ctx`` (what a mixer may ask for); the spec loader checks against these.
CTX_KEYS: tuple[str, ...] = ("industry", "mask", "size", "size_group")


def trading_dates(cube: xr.Dataset) -> pd.DatetimeIndex:
    """The cube's trading days."""
    return pd.DatetimeIndex(cube["date"].values)


def eligible_dates(
    cube: xr.Dataset, start: str | pd.Timestamp | None = None, end: str | pd.Timestamp | None = None, **kwargs
) -> pd.DatetimeIndex:
    """Dates in [start, end] that have a usable batch under ``kwargs`` (DayBatches options)."""
    return DayBatches(cube, (start, end), **kwargs).dates
