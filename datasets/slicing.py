"""Cut a small, size-balanced slice of a full cube (how the embedded real slice is made)."""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr
from zoo.datasets.labels import label_fingerprint

from zoo.errors import DataError

#: The groups a slice samples evenly from: each stock's most frequent stand-in tier, or "other".
GROUPS = ("csi300", "csi500", "csi1000", "other")


class SliceWarning(UserWarning):
    """A slice could not take ``per_group`` stocks from every group and filled from the others."""


def size_groups_of(cube: xr.Dataset) -> np.ndarray:
    """(S,) group index per stock: its most frequent index tier over the sample, or 3 ("other")."""
    uni = np.asarray(cube["in_universe"].values)  # (4, D, S); 0 = all
    days = uni[1:].sum(axis=1)  # (3, S)
    group = np.argmax(days, axis=0)
    return np.where(days.max(axis=0) > 0, group, len(GROUPS) - 1)


def group_quotas(available: np.ndarray, per_group: int) -> np.ndarray:
    """Stocks to take from each group: ``per_group``, a short group's all, its shortfall spread evenly.

    The shortfall goes to the groups with stocks to spare, in equal shares (the first groups take
    the remainder), until it is placed; the total is ``per_group * len(available)``.
    """
    available = np.asarray(available, dtype=np.int64)
    want = per_group * available.size
    if available.sum() < want:
        raise DataError(
            f"make_slice: the market has {int(available.sum())} stocks, fewer than {available.size} "
            f"groups x --per-group {per_group} = {want}"
        )
    quota = np.minimum(available, per_group)
    # a handful of groups, so a loop over groups (never over stocks) places the rest
    while (left := want - int(quota.sum())) > 0:
        spare = np.flatnonzero(quota < available)
        share = np.full(spare.size, left // spare.size)
        share[: left % spare.size] += 1
        quota[spare] = np.minimum(quota[spare] + share, available[spare])
    return quota


def make_slice(cube: xr.Dataset, per_group: int = 75, seed: int = 0) -> xr.Dataset:
    """``per_group`` random stocks from each of ``GROUPS``, all dates, universes from the full cube.

    A group with fewer stocks than ``per_group`` (the "other" tier of a market of about 2,500
    stocks, whose three index tiers hold nearly all of it) gives all it has, and the others fill
    the slice up to ``4 * per_group`` (``group_quotas``); a SliceWarning and ``attrs["slice"]`` say so.
    Universe membership is copied from the full market; index weights are renormalised so the
    slice's members of each index sum to 1 per date (their relative cap weights are kept);
    labels computed on the full cube (neutralised over the full market) are kept and re-stamped
    with the slice's fingerprint so they are not recomputed on the slice.
    """
    if per_group < 1:
        raise DataError(f"make_slice: --per-group must be at least 1, got {per_group}")
    groups = size_groups_of(cube)
    members = [np.flatnonzero(groups == g) for g in range(len(GROUPS))]
    quota = group_quotas(np.array([m.size for m in members]), per_group)
    rng = np.random.default_rng(seed)
    pick = [rng.choice(m, size=int(q), replace=False) for m, q in zip(members, quota, strict=True)]
    idx = np.sort(np.concatenate(pick))
    note = ""
    short = [g for g in range(len(GROUPS)) if members[g].size < per_group]
    if short:
        note = (
            "; ".join(f"group {GROUPS[g]} has only {members[g].size} stocks, all taken" for g in short)
            + "; the others fill the slice, taken per group: "
            + ", ".join(f"{GROUPS[g]} {int(quota[g])}" for g in range(len(GROUPS)))
        )
        warnings.warn(f"make_slice: {note}", SliceWarning, stacklevel=2)
    sub = cube.isel(symbol=idx).copy(deep=True)
    # a slice is not appendable (its universes come from the full market): drop the ingest inputs
    sub = sub.drop_vars([v for v in sub.data_vars if str(v).startswith("input_")])
    for key in [k for k in sub.attrs if k.startswith(("ingest_", "input_"))]:
        del sub.attrs[key]
    w = sub["index_weight"].values.astype(np.float64)
    tot = w.sum(axis=2, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        sub["index_weight"].values[:] = np.where(tot > 0, w / tot, 0.0).astype(np.float32)
    sub.attrs["slice"] = (
        f"{per_group} stocks from each of {list(GROUPS)} (most frequent stand-in tier on the full market), "
        f"seed {seed}, of {cube.sizes['symbol']} stocks; universes from the full market; index weights "
        "renormalised within the slice; labels neutralised over the full market"
    ) + (f" ({note})" if note else "")
    sub.attrs["slice_group"] = [GROUPS[g] for g in groups[idx]]
    if "label_raw" in sub.data_vars:
        fp = label_fingerprint(sub)
        for v in ("label_raw", "label_neutral"):
            sub[v].attrs["inputs_fingerprint"] = fp
            sub[v].attrs["neutralised_over"] = "full market"
    sub.encoding.pop("zoo_store", None)
    return sub
