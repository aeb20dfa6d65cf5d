"""What the trainer needs from the data: dates, symbols, day batches and labels for evaluation."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import torch
import xarray as xr

from zoo.errors import TrainingError
from zoo.train.days import Day


@runtime_checkable
class DaySource(Protocol):
    """A cube seen through a data spec: trading days, symbols and one tensor batch per day."""

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

    def expected_return(self, horizon: int) -> xr.DataArray | None:
        """The planted expected return (synthetic data only), for an oracle RankIC; else None."""
        ...

    def feasible_return(self, horizon: int) -> xr.DataArray | None:
        """The best prediction from observed prices (synthetic data only), a feasible oracle; else None."""
        ...


def on_device(source: DaySource, device: torch.device) -> DaySource:
    """``source`` building its days on ``device``: its ``on(device)`` when it has one.

    A source without ``on`` builds on the CPU; asking it for another device is a TrainingError
    rather than a silent copy of every day's windows per step.
    """
    if hasattr(source, "on"):
        return source.on(device)
    if torch.device(device).type == "cpu":
        return source
    raise TrainingError(
        f"{type(source).__name__} builds its days on the CPU only (it has no on(device)); "
        f"train.device={str(device)!r} needs a source that builds them there"
    )
