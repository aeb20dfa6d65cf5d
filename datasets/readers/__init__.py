"""Readers: every input format yields the same checked long frame (``readers.frame``) the cube derives from.

One module per format: ``long`` (the zoo's own CSV/Parquet), ``qlib`` (a provider folder),
``tushare``, ``akshare``, ``baostock`` (vendor exports) and ``wide`` (one date x symbol table per
field). ``read_input(paths, fmt)`` dispatches by name, or detects the format where that is
unambiguous; nothing after it knows where the data came from.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from zoo.errors import DataError

#: Format name -> module under ``zoo.datasets.readers`` (each has ``detect`` and ``read``).
FORMATS = ("long", "qlib", "tushare", "akshare", "baostock", "wide")


@dataclasses.dataclass(frozen=True)
class ReadOptions:
    """What to read: a date range (inclusive) and, for a qlib folder, the market to take symbols from."""

    start: str | None = None
    end: str | None = None
    instruments: str | None = None


@dataclasses.dataclass
class Input:
    """A reader's result: the checked long frame (RAW prices, our units) and what came with it."""

    frame: pd.DataFrame
    names: list[str]  # the inputs, for provenance
    fmt: str
    spells: pd.DataFrame | None = None  # real index membership: index, symbol, start, end (inclusive)
    spell_sources: dict[str, str] = dataclasses.field(default_factory=dict)  # index -> where from
    index_table: pd.DataFrame | None = None  # real index levels (date, symbol, close), if the source has them


def _module(fmt: str):
    """The reader module of ``fmt``."""
    if fmt not in FORMATS:
        raise DataError(f"data format {fmt!r} is unknown; choose one of {list(FORMATS)}")
    return importlib.import_module(f"zoo.datasets.readers.{fmt}")


def expand(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """Paths as given; a folder that is not a qlib provider folder stands for its CSV/Parquet files."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir() and not (p / "calendars").is_dir():
            files = sorted(f for f in p.iterdir() if f.suffix.lower() in (".csv", ".parquet", ".pq", ".gz"))
            if not files:
                raise DataError(
                    f"{p}: a folder without CSV or Parquet files (and not a qlib provider folder)"
                )
            out.extend(files)
        else:
            out.append(p)
    return out


def detect(paths: Sequence[Path]) -> str:
    """The one format whose ``detect`` takes ``paths`` (a vendor's before ``long``; files: else ``long``)."""
    hits = [f for f in FORMATS if _module(f).detect(paths)]
    if len(hits) > 1 and "long" in hits:  # a vendor's own columns say more than a `code` alias
        hits.remove("long")
    if len(hits) == 1:
        return hits[0]
    first = paths[0] if paths else "<no input>"
    if not hits and paths and not paths[0].is_dir():
        return "long"  # the zoo's own layout: its reader names what is missing
    if not hits:
        raise DataError(
            f"{first}: no known data format recognised; name one with --format {{{'|'.join(FORMATS)}}}"
        )
    raise DataError(f"{first}: could be {hits}; name one with --format")


def read_input(
    paths: Sequence[str | os.PathLike], fmt: str | None = None, options: ReadOptions | None = None
) -> Input:
    """Read ``paths`` as format ``fmt`` (None: detected), restricted to ``options``' dates and market."""
    if not paths:
        raise DataError("ingest: no input files given")
    files = expand(paths)
    fmt = fmt or detect(files)
    options = options or ReadOptions()
    if options.instruments and fmt != "qlib":
        raise DataError(f"--instruments selects a qlib market; the input is {fmt!r}")
    got = _module(fmt).read(files, options)
    return dataclasses.replace(got, frame=within(got.frame, options, str(files[0])))


def within(df: pd.DataFrame, options: ReadOptions, where: str) -> pd.DataFrame:
    """The rows between ``options.start`` and ``options.end`` (inclusive); refused when none are left."""
    if options.start is None and options.end is None:
        return df
    keep = pd.Series(True, index=df.index)
    if options.start is not None:
        keep &= df["date"] >= pd.Timestamp(options.start)
    if options.end is not None:
        keep &= df["date"] <= pd.Timestamp(options.end)
    if not keep.any():
        raise DataError(
            f"{where}: no rows between {options.start or 'the start'} and {options.end or 'the end'}"
        )
    return df[keep.to_numpy()].reset_index(drop=True)


def header(path: Path) -> list[str]:
    """The column names of a CSV/Parquet file (empty when it cannot be read)."""
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            return [str(c) for c in pq.read_schema(path).names]
        return [str(c).strip() for c in pd.read_csv(path, nrows=0).columns]
    except Exception:
        return []
