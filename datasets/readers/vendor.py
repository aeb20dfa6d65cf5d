"""What the per-file vendor readers share: required columns, renames, unit scales, one check per file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from zoo.datasets.readers import Input
from zoo.datasets.readers.frame import check_frame, combine, located
from zoo.datasets.readers.long import read_table


def require(df: pd.DataFrame, name: str, needed: dict[str, str], layout: str) -> None:
    """Refuse a file that lacks one of ``needed``, naming the file, the column and the layout."""
    for col in needed:
        if col not in df.columns:
            raise located(name, None, col, f"missing; {layout}; have {list(df.columns)}")


def to_frame(
    df: pd.DataFrame,
    name: str,
    renames: dict[str, str],
    scales: dict[str, float],
    rows: np.ndarray | None = None,
) -> pd.DataFrame:
    """The vendor frame in our names, checked (messages in the vendor's names), scaled to shares and CNY."""
    ours = df.rename(columns=renames)[[c for c in renames.values() if c in df.rename(columns=renames)]]
    if ours.empty:
        raise located(name, None, None, "no rows")
    back = {v: k for k, v in renames.items()}
    out = check_frame(ours.reset_index(drop=True), name, rows=rows, labels=back)
    for col, k in scales.items():
        if col in out:
            out[col] = out[col] * k
    return out


def read_each(paths: list[Path], one: Callable[[pd.DataFrame, str, Path], pd.DataFrame], fmt: str) -> Input:
    """Every file read raw and translated by ``one(table, name, path)``; a (date, symbol) twice is refused."""
    frames = [one(read_table(p), str(p), p) for p in paths]
    return Input(combine(frames, paths), [str(p) for p in paths], fmt)
