"""Rolling yearly splits with purge gaps: train years, then a validation year, then the test year."""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import numpy as np

from zoo.errors import TrainingError


@attrs.frozen
class Split:
    """Index arrays into the cube's trading-day axis for one test year."""

    test_year: int
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    purge: int
    #: A final fit's split (:func:`final_split`): ``test`` holds the days after the training labels,
    #: scored but not an evaluation (validation labels reach into them).
    final: bool = False

    def describe(self, dates: np.ndarray) -> str:
        """One line with the date range of each part."""

        def rng(ix: np.ndarray) -> str:
            d = np.asarray(dates)[ix].astype("datetime64[D]")
            return f"{d[0]}..{d[-1]} ({len(ix)}d)"

        kind = "final" if self.final else str(self.test_year)
        return f"{kind}: train {rng(self.train)} | valid {rng(self.valid)} | test {rng(self.test)}"


def resolve_purge(purge_days: int | None, horizon: int) -> int:
    """The purge gap in trading days: ``horizon + 1`` by default, never less."""
    need = horizon + 1
    if purge_days is None or purge_days == 0:
        return need
    if purge_days < need:
        raise TrainingError(
            f"train.purge_days={purge_days} is shorter than the label horizon + 1 = {need}: labels of "
            f"one split would overlap the next; set it to at least {need} (or leave it unset)"
        )
    return int(purge_days)


def rolling_splits(
    dates: Sequence | np.ndarray,
    test_years: Sequence[int],
    train_years: int,
    valid_years: int,
    purge: int,
) -> list[Split]:
    """One split per test year: ``train_years`` years, a gap, ``valid_years`` years, a gap, the test year.

    Gaps are counted in trading days of ``dates`` and taken from the end of the earlier part, so the
    last label of a part (which needs ``horizon + 1`` more days) ends before the next part begins.
    """
    d = np.asarray(dates).astype("datetime64[D]")
    if d.ndim != 1 or len(d) == 0:
        raise TrainingError("the cube has no trading dates to split")
    if np.any(d[1:] <= d[:-1]):
        raise TrainingError("the cube's dates are not strictly ascending; cannot build rolling splits")
    years = d.astype("datetime64[Y]").astype(int) + 1970
    idx = np.arange(len(d))
    out = []
    for year in test_years:
        test = idx[years == year]
        if len(test) == 0:
            raise TrainingError(
                f"train.test_years names {year}, but the data has no trading day in it "
                f"(data covers {d[0]}..{d[-1]})"
            )
        valid_all = idx[(years >= year - valid_years) & (years < year)]
        valid = valid_all[valid_all < test[0] - purge]
        train_all = idx[(years >= year - valid_years - train_years) & (years < year - valid_years)]
        train = train_all[train_all < valid[0] - purge] if len(valid) else train_all[:0]
        if len(valid) == 0 or len(train) == 0:
            raise TrainingError(
                f"test year {year}: no room for {train_years} training + {valid_years} validation "
                f"year(s) before it with a {purge}-day purge (data starts {d[0]}); choose a later test "
                f"year or fewer train_years"
            )
        out.append(Split(int(year), train, valid, test, purge))
    return out


def default_test_years(
    dates: Sequence | np.ndarray, train_years: int, valid_years: int, count: int = 3, min_days: int = 200
) -> tuple[int, ...]:
    """The last ``count`` calendar years with ``min_days`` trading days and room for train + valid before."""
    d = np.asarray(dates).astype("datetime64[D]")
    years, counts = np.unique(d.astype("datetime64[Y]").astype(int) + 1970, return_counts=True)
    first = int(years[0]) + (1 if counts[0] < min_days else 0)
    full = [
        int(y)
        for y, n in zip(years, counts, strict=True)
        if n >= min_days and y >= first + train_years + valid_years
    ]
    if not full:
        raise TrainingError(
            f"train.test_years is empty and the data ({d[0]}..{d[-1]}) has no full year after "
            f"{train_years} training + {valid_years} validation years; set train.test_years"
        )
    return tuple(full[-count:])


def last_labelled(dates: Sequence | np.ndarray, horizon: int) -> int:
    """Position of the last date whose ``horizon``-day label is known: ``len(dates) - horizon - 2``.

    A label at t is the return close(t+1) -> close(t+1+h), so it needs ``h + 1`` later trading days.
    """
    d = np.asarray(dates).astype("datetime64[D]")
    pos = len(d) - 1 - (horizon + 1)
    if pos < 0:
        raise TrainingError(f"the cube has {len(d)} dates: none has a known {horizon}-day label")
    return pos


def final_split(
    dates: Sequence | np.ndarray,
    until: str | np.datetime64 | None,
    train_years: int,
    valid_years: int,
    purge: int,
    horizon: int,
) -> Split:
    """The split of a final (deployable) fit: train and validate on labelled days up to ``until``.

    Validation is the last ``valid_years`` years up to ``until`` (default: the last date whose label
    is known), training the ``train_years`` years before it with the rolling splits' ``purge`` gap;
    ``test`` is every later day (the days the model is for: scored, never evaluated).
    """
    import pandas as pd

    d = np.asarray(dates).astype("datetime64[D]")
    if d.ndim != 1 or len(d) == 0:
        raise TrainingError("the cube has no trading dates to split")
    limit = last_labelled(d, horizon)
    if until is None:
        end = limit
    else:
        try:
            u = np.datetime64(pd.Timestamp(until), "D")
        except (ValueError, TypeError):
            raise TrainingError(f"--until {until!r} is not a date (YYYY-MM-DD)") from None
        end = int(np.searchsorted(d, u, side="right")) - 1
        if end < 0:
            raise TrainingError(f"--until {u}: before the cube's first date {d[0]}")
        if end > limit:
            raise TrainingError(
                f"--until {u}: the {horizon}-day label of that date is not known yet (it needs {horizon + 1} "
                f"more trading days); the last date with a label is {d[limit]} (the default)"
            )
    idx = np.arange(len(d))
    stop = pd.Timestamp(d[end])
    valid_from = np.datetime64(stop - pd.DateOffset(years=valid_years), "D")
    train_from = np.datetime64(stop - pd.DateOffset(years=valid_years + train_years), "D")
    valid = idx[(d > valid_from) & (idx <= end)]
    train = idx[(d > train_from) & (idx < (valid[0] - purge if len(valid) else 0))]
    if len(valid) == 0 or len(train) == 0:
        raise TrainingError(
            f"final fit up to {d[end]}: no room for {train_years} training + {valid_years} validation "
            f"year(s) with a {purge}-day purge (data starts {d[0]}); use fewer train_years"
        )
    test = idx[idx > end]
    year = int(str(d[test[0]] if len(test) else d[end])[:4])
    return Split(year, train, valid, test, purge, final=True)
