"""Cut a small, size-balanced slice of a full cube (how the embedded real slice is made)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from datasets.labels import label_fingerprint
from zoo.errors import DataError

#: The groups a slice samples evenly from: each stock's most frequent stand-in tier, or "other".
GROUPS = ("csi300", "csi500", "csi1000", "other")


def size_groups_of(cube: xr.Dataset) -> np.ndarray:
    """(S,) group index per stock: its most frequent index tier over the sample, or 3 ("other")."""
    uni = np.asarray(cube["in_universe"].values)  # (4, D, S); 0 = all
    days = uni[1:].sum(axis=1)  # (3, S)
    group = np.argmax(days, axis=0)
    return np.where(days.max(axis=0) > 0, group, len(GROUPS) - 1)


def make_slice(cube: xr.Dataset, per_group: int = 75, seed: int = 0) -> xr.Dataset:
    """``per_group`` random stocks from each of ``GROUPS``, all dates, universes from the full cube.

    Universe membership is copied from the full market; index weights are renormalised so the
    slice's members of each index sum to 1 per date (their relative cap weights are kept);
    labels computed on the full cube (neutralised over the full market) are kept and re-stamped
    with the slice's fingerprint so they are not recomputed on the slice.
    """
    groups = size_groups_of(cube)
    rng = np.random.default_rng(seed)
    pick = []
    for g in range(len(GROUPS)):
        members = np.flatnonzero(groups == g)
        if len(members) < per_group:
            raise DataError(
                f"make_slice: group {GROUPS[g]} has {len(members)} stocks, fewer than {per_group}"
            )
        pick.append(rng.choice(members, size=per_group, replace=False))
    idx = np.sort(np.concatenate(pick))
    sub = cube.isel(symbol=idx).copy(deep=True)
    w = sub["index_weight"].values.astype(np.float64)
    tot = w.sum(axis=2, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        sub["index_weight"].values[:] = np.where(tot > 0, w / tot, 0.0).astype(np.float32)
    sub.attrs["slice"] = (
        f"{per_group} stocks from each of {list(GROUPS)} (most frequent stand-in tier on the full market), "
        f"seed {seed}, of {cube.sizes['symbol']} stocks; universes from the full market; index weights "
        "renormalised within the slice; labels neutralised over the full market"
    )
    sub.attrs["slice_group"] = [GROUPS[g] for g in groups[idx]]
    if "label_raw" in sub.data_vars:
        fp = label_fingerprint(sub)
        for v in ("label_raw", "label_neutral"):
            sub[v].attrs["inputs_fingerprint"] = fp
            sub[v].attrs["neutralised_over"] = "full market"
    sub.encoding.pop("zoo_store", None)
    return sub
