"""The trainer's view of a ``datasets`` cube: day batches as tensors, labels and the oracles."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
import xarray as xr

from zoo.errors import DataError
from zoo.train.days import Day, to_day

if TYPE_CHECKING:
    from zoo.datasets.features import FeatureDay

#: Cache at most this many bytes of day tensors per source (several splits and specs share it).
CACHE_BYTES = 2_000_000_000


class CubeSource:
    """A cube seen through one ``[data]`` spec section (implements ``zoo.train.source.DaySource``).

    Days are built with numpy on the host (``device`` CPU) or, after :meth:`on`, with torch on the
    device itself: the panel goes there once and each day's windows are gathered and normalised there.
    """

    #: Where the days' tensors are built.
    device: torch.device = torch.device("cpu")

    def __init__(self, cube: xr.Dataset, data_spec, store: str = "", cache_bytes: int = CACHE_BYTES) -> None:
        from zoo.datasets.batches import DayBatches
        from zoo.datasets.labels import ensure_labels

        #: the numpy-built source this one was derived from (itself for the host one), and its device copies.
        self._host: CubeSource = self
        self._on: dict[torch.device, CubeSource] = {}
        self.spec = data_spec
        self.cube = ensure_labels(cube, horizons=sorted({data_spec.horizon, 10, 20}))
        self.store = store or str(data_spec.store)
        self.dates = np.asarray(self.cube["date"].values).astype("datetime64[ns]")
        self.symbols = np.asarray(self.cube["symbol"].values).astype(str)
        # Labels stay raw (neutralised per the spec): the loss picks the normalisation, so one cache
        # serves both losses. Train/valid days need a label; test days score every eligible stock.
        self._labelled = DayBatches.from_spec(self.cube, data_spec, label_norm=None, require_label=True)
        self._unlabelled = DayBatches.from_spec(self.cube, data_spec, label_norm=None, require_label=False)
        self._labelled_ok = np.zeros(len(self.dates), dtype=bool)
        self._labelled_ok[self._labelled.positions] = True
        self._unlabelled_ok = np.zeros(len(self.dates), dtype=bool)
        self._unlabelled_ok[self._unlabelled.positions] = True
        self._cache: dict[tuple[bool, int], Day] = {}
        self._features: dict[int, FeatureDay] = {}
        self._budget, self._used = cache_bytes, 0
        self._fingerprint: str | None = None

    def on(self, device: torch.device | str, *, torch_build: bool | None = None) -> CubeSource:
        """This source building its days on ``device``; one per (device, builder), cached.

        ``torch_build`` None: numpy on the CPU (the reference path), torch on any other device; True
        builds with torch on the CPU too (tests compare the two). A device source shares the host's
        eligibility, labels and dates and keeps its own cache of day tensors (the same byte budget).
        """
        device = torch.device(device)
        use_torch = device.type != "cpu" if torch_build is None else bool(torch_build)
        if device.type != "cpu" and not use_torch:
            raise DataError(f"days on {device} are built there with torch; torch_build=False needs the CPU")
        host = self._host
        if not use_torch:
            return host
        hit = host._on.get(device)
        if hit is None:
            import array_api_compat.torch as xp

            hit = copy.copy(host)
            hit.device, hit._on = device, {}
            hit._labelled = host._labelled.on(xp, device)
            hit._unlabelled = host._unlabelled.on(xp, device)
            hit._cache, hit._used = {}, 0
            host._on[device] = hit
        return hit

    def fingerprint(self) -> str:
        """The cube's fingerprint (coordinates and primary arrays)."""
        if self._fingerprint is None:
            from zoo.datasets import fingerprint

            self._fingerprint = fingerprint(self.cube)
        return self._fingerprint

    def schema(self) -> dict[str, object]:
        """The cube's signature (``datasets.schema.signature``): schema, fields, universes, provenance."""
        from zoo.datasets.schema import signature

        return signature(self.cube)

    def n_eligible(self, i: int) -> int:
        """Stocks eligible at date position ``i`` (decided from data up to that date)."""
        return int(self._unlabelled.eligible[i].sum())

    def _get(self, labelled: bool, i: int) -> Day | None:
        ok = self._labelled_ok if labelled else self._unlabelled_ok
        if not ok[i]:
            return None
        key = (labelled, i)
        day = self._cache.get(key)
        if day is None:
            batches = self._labelled if labelled else self._unlabelled
            day = to_day(batches.batch_at(i))
            size = day.nbytes()
            if self._used + size <= self._budget:
                self._cache[key] = day
                self._used += size
        return day

    def day(self, i: int) -> Day | None:
        """Date ``i``'s labelled batch (training / validation), None when too few stocks qualify."""
        return self._get(True, i)

    def sampled_day(self, i: int, k: int, rng: np.random.Generator) -> Day | None:
        """Date ``i``'s labelled batch cut to ``k`` stocks drawn within its size groups; never cached."""
        if not self._labelled_ok[i]:
            return None
        return to_day(self._labelled.batch_at(i, sample=k, rng=rng))

    def test_day(self, i: int) -> Day | None:
        """Date ``i``'s batch of every eligible stock, labelled or not (out-of-sample scoring)."""
        if self._labelled_ok[i]:
            # The same stocks and windows as the labelled batch (a missing label drops no stock),
            # so the cached training/validation day is reused instead of built and held twice.
            return self._get(True, i)
        return self._get(False, i)

    def features(self, positions: Sequence[int] | np.ndarray, test: bool = False) -> list[FeatureDay | None]:
        """Classic window features (``datasets.features``) of the days at ``positions``.

        The stocks of ``day(i)`` (``test_day(i)`` when ``test``), from the same raw windows; None where
        that day has no batch. Kept in the source's cache while its byte budget lasts.
        """
        from zoo.datasets.features import feature_days

        ok = self._unlabelled_ok if test else self._labelled_ok
        todo = [int(i) for i in dict.fromkeys(int(i) for i in positions) if ok[i] and i not in self._features]
        fresh = dict(zip(todo, feature_days(self._unlabelled, todo), strict=True))
        for i, fd in fresh.items():
            size = fd.x.nbytes + (fd.y.nbytes if fd.y is not None else 0)
            if self._used + size <= self._budget:
                self._features[i] = fd
                self._used += size
        known = {**fresh, **self._features}
        return [known[int(i)] if ok[int(i)] else None for i in positions]

    def label(self, horizon: int) -> xr.DataArray:
        """Raw forward returns close(t+1) -> close(t+1+h) inside the spec's universe (NaN outside)."""
        from zoo.evaluation.cube import universe_mask
        from zoo.evaluation.ic import forward_returns

        ret = forward_returns(self.cube, horizon)
        return ret.where(universe_mask(self.cube, self.spec.universe, "training"))

    def neutralize(self, score: xr.DataArray) -> xr.DataArray:
        """``score`` (date, symbol) residualised per date on log size + industry dummies (scored stocks).

        The same regression as ``label_neutral`` (``datasets.labels.neutralize``), on the cube's size at
        each scored date (data up to that date) and each symbol's industry.
        """
        from zoo.datasets.labels import neutralize

        cube = self.cube.sel(date=score["date"].values)
        score = score.transpose("date", "symbol")
        pos = pd.Index(self.symbols).get_indexer(np.asarray(score["symbol"].values).astype(str))
        if (pos < 0).any():
            raise DataError("score has symbols the cube does not have; cannot neutralise it")
        size = np.asarray(cube["size"].transpose("date", "symbol").values)[:, pos]
        industry = np.asarray(cube["industry"].values)[pos]
        values = np.asarray(score.values, dtype=np.float32)
        out = neutralize(values, size, industry, np.isfinite(values))
        return score.copy(data=out)

    def expected_return(self, horizon: int) -> xr.DataArray | None:
        """The planted expected return of a synthetic cube (None for real data)."""
        if "expected_return" not in self.cube.data_vars:
            return None
        er = self.cube["expected_return"]
        if horizon not in [int(h) for h in er["horizon"].values]:
            return None
        return er.sel(horizon=horizon).transpose("date", "symbol")

    def feasible_return(self, horizon: int) -> xr.DataArray | None:
        """The feasible oracle of a synthetic cube: E[return | prices up to t] (None for real data)."""
        if "expected_return" not in self.cube.data_vars:
            return None
        from zoo.datasets.feasible import ensure_feasible

        self.cube = ensure_feasible(self.cube)  # computed once, lazily, for cubes made in memory
        fr = self.cube["feasible_return"]
        if horizon not in [int(h) for h in fr["horizon"].values]:
            return None
        return fr.sel(horizon=horizon).transpose("date", "symbol")


def open_source(data_spec) -> CubeSource:
    """Open the spec's cube (``embedded``, ``synth[:N]`` or a Zarr path) as a training source."""
    from zoo.datasets import open_cube

    store = str(data_spec.store)
    cube = open_cube(store)
    where = store if store in ("embedded",) or store.startswith("synth") else str(Path(store).resolve())
    if store == "embedded":
        from zoo.datasets.stores import EMBEDDED_STORE

        where = str(EMBEDDED_STORE)
    if cube.sizes.get("date", 0) == 0:
        raise DataError(f"data.store {store!r}: the cube has no dates")
    return CubeSource(cube, data_spec, store=where)
