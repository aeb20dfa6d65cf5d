"""Wide tables, one per field (as Wind exports them): rows are dates, columns are symbols.

Each file is named by its field (``close.csv``, ``open.parquet``, …): open, high, low, close,
volume (required; shares), and optionally amount (CNY), vwap, adj_factor, mcap, shares, st. The first
column holds the dates. A (date, symbol) is a bar where the close is given.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from zoo.datasets.readers import Input, ReadOptions
from zoo.datasets.readers.frame import check_frame, located
from zoo.datasets.readers.long import read_table
from zoo.datasets.readers.symbols import to_zoo_symbol

REQUIRED = ("open", "high", "low", "close", "volume")
OPTIONAL = ("amount", "vwap", "adj_factor", "mcap", "shares", "st")


def detect(paths: list[Path]) -> bool:
    """Several files, each named by a field, with close among them."""
    stems = {p.stem.lower() for p in paths if not p.is_dir()}
    return len(paths) > 1 and "close" in stems and stems <= set(REQUIRED + OPTIONAL)


def _field_table(path: Path) -> pd.DataFrame:
    """One field's table as numbers, indexed by date; bad cells refused naming file, row and symbol."""
    name = str(path)
    tab = read_table(path)
    if tab.shape[1] < 2:
        raise located(name, None, None, "a wide table has a date column and one column per symbol")
    first = tab.columns[0]
    dates = pd.to_datetime(tab[first].astype(str), errors="coerce", format="mixed")
    bad = dates.isna().to_numpy()
    if bad.any():
        i = int(bad.argmax())
        raise located(name, i + 1, str(first), f"cannot parse {tab[first].iloc[i]!r} as a date")
    body = tab.drop(columns=[first])
    symbols = to_zoo_symbol(pd.Series(body.columns.astype(str)), name, "header")
    values = body.apply(pd.to_numeric, errors="coerce")
    bad = (values.isna() & body.notna()).to_numpy()
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise located(name, int(i) + 1, str(body.columns[j]), f"{body.iat[i, j]!r} is not a number")
    values.columns = symbols.to_numpy()
    values.index = dates.dt.normalize()
    return values


def read(paths: list[Path], options: ReadOptions) -> Input:
    """The field tables stacked to one long frame on the close table's cells."""
    tables: dict[str, pd.DataFrame] = {}
    for p in paths:
        field = p.stem.lower()
        if field not in REQUIRED + OPTIONAL:
            raise located(
                str(p), None, None, f"a wide table is named by its field: one of {list(REQUIRED + OPTIONAL)}"
            )
        if field in tables:
            raise located(str(p), None, None, f"a second table for field {field!r}")
        tables[field] = _field_table(p)
    for field in REQUIRED:
        if field not in tables:
            raise located(
                str(paths[0].parent), None, field, f"no {field} table; wide tables need {list(REQUIRED)}"
            )
    close = tables["close"].stack(future_stack=True).dropna()
    frame = pd.DataFrame({"date": close.index.get_level_values(0), "symbol": close.index.get_level_values(1)})
    for field, tab in tables.items():
        frame[field] = tab.stack(future_stack=True).reindex(close.index).to_numpy()
    frame = frame.sort_values(["date", "symbol"], kind="stable").reset_index(drop=True)
    where = f"{paths[0].parent} (wide tables)"
    return Input(check_frame(frame, where), [str(p) for p in paths], "wide")
