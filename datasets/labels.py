"""Labels: forward returns close(t+1) -> close(t+1+h), neutralised per date on size + industry.

Conventions:
- ``label_raw[h, t]`` = close[t+1+h] / close[t+1] - 1; NaN when any bar in t+1 .. t+1+h is missing
  (suspension, not yet listed, past the data's end) or a ``breach`` (broken price series) falls in
  t+2 .. t+1+h.
- ``label_neutral[h, t]`` = the residual of a per-date least-squares regression of ``label_raw`` on
  log size and industry dummies (with intercept), fitted over the stocks in the ``all`` universe,
  not suspended at t, with finite label and size. Solved exactly and vectorised by
  Frisch-Waugh-Lovell: demean label and size within (date, industry), then regress on the demeaned
  size per date.
- Per-date normalisation for losses: ``rank`` (ranks scaled to [-0.5, 0.5], ties averaged) or
  ``zscore`` (mean 0, std 1).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import xarray as xr
from zoo.datasets.calc import forward_simple_returns
from zoo.datasets.schema import fingerprint

from zoo.errors import DataError

LABEL_NORMS = ("rank", "zscore")
LABEL_INPUTS = ("bars", "size", "industry", "breach", "in_universe", "suspended")


def neutralize(y: np.ndarray, size: np.ndarray, industry: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(D, S) residual of ``y`` on [1, size, industry dummies] per date, over ``valid`` stocks."""
    d, s = y.shape
    ok = valid & np.isfinite(y) & np.isfinite(size)
    ind = np.asarray(industry, dtype=np.int64)
    k = int(ind.max()) + 1 if ind.size else 1
    key = (np.arange(d)[:, None] * k + ind[None, :])[ok]
    y64, s64 = y.astype(np.float64), size.astype(np.float64)
    cnt = np.bincount(key, minlength=d * k)
    with np.errstate(invalid="ignore", divide="ignore"):
        my = np.bincount(key, weights=y64[ok], minlength=d * k) / cnt
        ms = np.bincount(key, weights=s64[ok], minlength=d * k) / cnt
    yd = y64[ok] - my[key]
    sd = s64[ok] - ms[key]
    day = np.broadcast_to(np.arange(d)[:, None], (d, s))[ok]
    sxy = np.bincount(day, weights=yd * sd, minlength=d)
    sxx = np.bincount(day, weights=sd * sd, minlength=d)
    beta = np.divide(sxy, sxx, out=np.zeros(d), where=sxx > 1e-12)
    out = np.full((d, s), np.nan, dtype=np.float32)
    out[ok] = (yd - beta[day] * sd).astype(np.float32)
    return out


def normalize_cross_section(y: np.ndarray, method: str | None) -> np.ndarray:
    """Normalise along the last axis (stocks), ignoring NaN: "rank" -> [-0.5, 0.5], "zscore", or None."""
    if method is None:
        return y.astype(np.float32, copy=True)
    y2 = np.atleast_2d(y).astype(np.float64)
    if method == "rank":
        r = pd.DataFrame(y2).rank(axis=1, method="average").to_numpy(dtype=np.float64, copy=True)
        n = np.isfinite(y2).sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(n > 1, (r - 1) / (n - 1) - 0.5, 0.0)
        out[~np.isfinite(y2)] = np.nan
    elif method == "zscore":
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mu = np.nanmean(y2, axis=1, keepdims=True)
            sd = np.nanstd(y2, axis=1, keepdims=True)
            out = np.where(sd > 1e-12, (y2 - mu) / sd, 0.0)
        out[~np.isfinite(y2)] = np.nan
    else:
        raise DataError(f"label normalisation {method!r} is unknown; choose one of {LABEL_NORMS} or None")
    return out.reshape(y.shape).astype(np.float32)


def rank_ic_series(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """(D,) Spearman correlation per date of ``a`` and ``b`` (D, S) over finite pairs within ``mask``."""
    ok = np.isfinite(a) & np.isfinite(b)
    if mask is not None:
        ok &= mask
    ra = pd.DataFrame(np.where(ok, a, np.nan)).rank(axis=1).to_numpy(dtype=np.float64, copy=True)
    rb = pd.DataFrame(np.where(ok, b, np.nan)).rank(axis=1).to_numpy(dtype=np.float64, copy=True)
    n = ok.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ra -= np.nanmean(ra, axis=1, keepdims=True)
        rb -= np.nanmean(rb, axis=1, keepdims=True)
        num = np.nansum(ra * rb, axis=1)
        den = np.sqrt(np.nansum(ra * ra, axis=1) * np.nansum(rb * rb, axis=1))
        ic = num / den
    ic[(n < 3) | ~(den > 0)] = np.nan
    return ic


def label_fingerprint(cube: xr.Dataset) -> str:
    """Digest of what the labels are computed from; labels carrying another one are stale."""
    return fingerprint(cube, variables=LABEL_INPUTS)


def label_arrays(cube: xr.Dataset, horizons: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """``(label_raw, label_neutral)`` as (H, D, S) float32 arrays of ``cube``'s dates (no attrs, no checks).

    A label at t reads rows t .. t+1+h only, so a run over the last rows of a cube gives those rows'
    labels exactly as a run over all of it (``datasets.append``).
    """
    close = np.asarray(cube["bars"].sel(field="close").values)
    breach = np.asarray(cube["breach"].values)
    size = np.asarray(cube["size"].values)
    industry = np.asarray(cube["industry"].values)
    valid = np.asarray(cube["in_universe"].sel(universe="all").values) & ~np.asarray(cube["suspended"].values)
    raw = np.stack([forward_simple_returns(close, breach, h) for h in horizons])
    neu = np.stack([neutralize(r, size, industry, valid) for r in raw])
    return raw, neu


def label_attrs(name: str, fp: str) -> dict[str, str]:
    """The attrs of label variable ``name`` computed from inputs with fingerprint ``fp``."""
    attrs = {"inputs_fingerprint": fp, "definition": "close(t+1) -> close(t+1+h) simple return"}
    if name == "label_neutral":
        attrs["neutralised_on"] = "log size + industry dummies, per date, universe all"
    return attrs


def ensure_labels(cube: xr.Dataset, horizons: Iterable[int] = (10, 20), persist: bool = False) -> xr.Dataset:
    """``cube`` with ``label_raw`` and ``label_neutral`` for ``horizons``, computed only if missing/stale.

    With ``persist`` the labels are also written into the cube's Zarr store when it is writable.
    """
    want = sorted({int(h) for h in horizons})
    if not want:
        raise DataError("ensure_labels: no horizons given")
    fp = label_fingerprint(cube)
    have = [int(h) for h in cube["horizon"].values] if "horizon" in cube.coords else []
    if (
        "label_raw" in cube.data_vars
        and "label_neutral" in cube.data_vars
        and set(want) <= set(have)
        and cube["label_raw"].attrs.get("inputs_fingerprint") == fp
    ):
        return cube
    all_h = sorted(set(have) | set(want))
    if have and all_h != have:
        cube = cube.reindex(horizon=all_h)
    elif not have:
        cube = cube.assign_coords(horizon=np.array(all_h, dtype=np.int64))
    raw, neu = label_arrays(cube, all_h)
    cube = cube.assign(
        label_raw=(("horizon", "date", "symbol"), raw, label_attrs("label_raw", fp)),
        label_neutral=(("horizon", "date", "symbol"), neu, label_attrs("label_neutral", fp)),
    )
    if persist:
        from zoo.datasets.schema import append_variables

        names = ["label_raw", "label_neutral"]
        if "expected_return" in cube.data_vars and have and all_h != have:
            names.append("expected_return")
        if not (have and all_h != have):
            append_variables(cube, names)
    return cube
