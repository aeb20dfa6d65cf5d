"""Day batches as torch tensors, built lazily from a day source and cached for later epochs."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import attrs
import numpy as np
import torch


@attrs.define
class Day:
    """One trading day's cross-section as tensors on the run's device (``date``, ``symbols`` on the host)."""

    date: np.datetime64
    symbols: np.ndarray
    x: torch.Tensor
    y: torch.Tensor | None
    ctx: dict[str, torch.Tensor]
    #: Stocks valid per ``ctx["mask"]`` with a finite label, counted on the host when the source knows
    #: it (None: the trainer counts on the device, which waits for it).
    n_labelled: int | None = None

    @property
    def n(self) -> int:
        """Number of stocks in the day's batch."""
        return int(self.x.shape[0])

    def nbytes(self) -> int:
        """Approximate memory held by the day's tensors."""
        total = self.x.numel() * self.x.element_size()
        if self.y is not None:
            total += self.y.numel() * self.y.element_size()
        return total + sum(t.numel() * t.element_size() for t in self.ctx.values())


def _tensor(a: Any, dtype: np.dtype | None = None) -> torch.Tensor:
    """A torch tensor of ``a``: itself when it is one already (built on the device), else a numpy view."""
    if isinstance(a, torch.Tensor):
        return a
    return torch.from_numpy(np.ascontiguousarray(a, dtype=dtype))


def to_day(batch: Any) -> Day:
    """Wrap a ``datasets`` DayBatch (numpy, or torch tensors built on a device) as a :class:`Day`, no copy."""
    n_labelled = getattr(batch, "n_labelled", -1)
    return Day(
        date=np.datetime64(batch.date, "ns"),
        symbols=np.asarray(batch.symbols),
        x=_tensor(batch.x, np.float32),
        y=None if batch.y is None else _tensor(batch.y, np.float32),
        ctx={k: _tensor(v) for k, v in batch.ctx.items()},
        n_labelled=None if n_labelled < 0 else int(n_labelled),
    )


class DaySet(Sequence[Day]):
    """The days of one split, fetched on first use and kept while under a memory budget."""

    def __init__(
        self,
        dates: Sequence[np.datetime64] | np.ndarray,
        fetch: Callable[[int], Day | None],
        cache_bytes: int = 1_500_000_000,
    ) -> None:
        self.dates = np.asarray(dates)
        self._fetch = fetch
        self._cache: dict[int, Day | None] = {}
        self._budget = cache_bytes
        self._used = 0

    def __len__(self) -> int:
        return len(self.dates)

    def __getitem__(self, i):  # type: ignore[override]
        """Day ``i`` (None when the source has no eligible stock that day)."""
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i in self._cache:
            return self._cache[i]
        day = self._fetch(i)
        size = day.nbytes() if day is not None else 0
        if self._used + size <= self._budget:
            self._cache[i] = day
            self._used += size
        return day

    def __iter__(self) -> Iterator[Day]:
        for i in range(len(self)):
            yield self[i]

    def subset(self, positions: Sequence[int] | np.ndarray) -> DaySet:
        """A view on some of the days that shares this set's cache."""
        positions = np.asarray(positions, dtype=int)
        parent = self

        sub = DaySet(self.dates[positions], lambda j: parent[int(positions[j])], cache_bytes=0)
        return sub


def list_dayset(days: Sequence[Day]) -> DaySet:
    """A DaySet over days already in memory (tests, stand-in sources)."""
    days = list(days)
    return DaySet(np.array([d.date for d in days]), lambda i: days[i], cache_bytes=0)


def source_dayset(source: Any, positions: np.ndarray, fetch: Callable[[int], Day]) -> DaySet:
    """The days at ``positions`` of a source's date axis, each ``fetch(position)`` (the source caches)."""
    return DaySet(source.dates[positions], lambda j: fetch(int(positions[j])), cache_bytes=0)
