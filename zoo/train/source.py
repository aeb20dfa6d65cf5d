"""What the trainer needs from the data: dates, symbols, day batches and labels for evaluation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
import xarray as xr

from zoo.errors import TrainingError
from zoo.train.days import Day


@runtime_checkable
class DaySource(Protocol):
    """The required core of a data source: trading days, symbols, one tensor batch per day, labels.

    Anything more a caller may use is an optional capability (:class:`SourceCapabilities`), reached
    only through :func:`capability`, the one place that probes a source for it.
    """

    #: Every trading date of the cube, ascending (datetime64[ns]).
    dates: np.ndarray
    #: Every symbol of the cube (the score arrays' symbol axis).
    symbols: np.ndarray
    #: Absolute path (or name) of the store, logged as ``zoo.data_store``.
    store: str

    def fingerprint(self) -> str:
        """A short hash that changes when the data the models see changes."""
        ...

    def day(self, i: int) -> Day | None:
        """The batch of date index ``i`` (None when no stock is eligible that day)."""
        ...

    def label(self, horizon: int) -> xr.DataArray:
        """Forward returns of ``horizon`` days (date, symbol) used to evaluate scores."""
        ...


class SourceCapabilities(Protocol):
    """Optional members of a :class:`DaySource` (``zoo.train.data.CubeSource`` has them all).

    Without one, a caller falls back (``test_day`` -> ``day``, ``on`` -> CPU only, no oracle, no schema
    check) or refuses with one line naming the spec key that needs it.
    """

    #: The cube the source reads (prediction tables add its universe membership).
    cube: xr.Dataset

    def test_day(self, i: int) -> Day | None:
        """The batch of date ``i`` for scoring: every eligible stock, labelled or not."""
        ...

    def sampled_day(self, i: int, k: int, rng: np.random.Generator) -> Day | None:
        """A stratified sample of ``k`` of the day's stocks (``train.stocks_per_day``)."""
        ...

    def on(self, device: torch.device) -> DaySource:
        """The same source building its days on ``device`` (``train.device``)."""
        ...

    def features(self, positions: Sequence[int] | np.ndarray, test: bool = False) -> list[Any]:
        """Window features of the days at ``positions`` (estimator specs)."""
        ...

    def neutralize(self, score: xr.DataArray) -> xr.DataArray:
        """``score`` without its size and industry exposures (``train.neutralize_scores``)."""
        ...

    def schema(self) -> dict[str, object]:
        """The cube's schema signature (tagged on runs; checked by ``zoo predict``)."""
        ...

    def n_eligible(self, i: int) -> int:
        """How many stocks are eligible on date ``i`` (counted without building the day)."""
        ...

    def expected_return(self, horizon: int) -> xr.DataArray | None:
        """The planted expected return (synthetic data only), for an oracle RankIC; else None."""
        ...

    def feasible_return(self, horizon: int) -> xr.DataArray | None:
        """The best prediction from observed prices (synthetic data only), a feasible oracle; else None."""
        ...


#: The optional members a source may have (the names :class:`SourceCapabilities` declares).
CAPABILITIES: frozenset[str] = frozenset(
    n for n in (*vars(SourceCapabilities), *SourceCapabilities.__annotations__) if not n.startswith("_")
)


def capability(source: Any, name: str) -> Any | None:
    """The source's optional member ``name`` (one of :data:`CAPABILITIES`), or None when it lacks it."""
    if name not in CAPABILITIES:
        declared = ", ".join(sorted(CAPABILITIES))
        raise TrainingError(f"{name!r} is not a declared DaySource capability; declared: {declared}")
    return getattr(source, name, None)


def on_device(source: DaySource, device: torch.device) -> DaySource:
    """``source`` building its days on ``device``: its ``on(device)`` when it has one.

    A source without ``on`` builds on the CPU; asking it for another device is a TrainingError
    rather than a silent copy of every day's windows per step.
    """
    on = capability(source, "on")
    if on is not None:
        return on(device)
    if torch.device(device).type == "cpu":
        return source
    raise TrainingError(
        f"{type(source).__name__} builds its days on the CPU only (it has no on(device)); "
        f"train.device={str(device)!r} needs a source that builds them there"
    )
