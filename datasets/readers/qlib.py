"""qlib provider folders (qlib's ``cn_data`` or a bundle built with qlib's ``dump_bin``).

Layout: ``calendars/day.txt`` (one date a line), ``instruments/<market>.txt`` (tab-separated
``SYMBOL start end``, one line per membership spell) and ``features/<symbol>/<field>.day.bin``
(little-endian float32: element 0 is the index in ``day.txt`` of the symbol's first date, then one
value per calendar day to its last date, NaN where there is no bar). qlib stores adjusted data:
``open/high/low/close/vwap = raw x factor``, ``volume = raw / factor``, ``amount`` raw, and a
``factor`` field; the reader divides the factor out (raw prices, as every reader yields) and gives
it as ``adj_factor``. A cell is a bar where close and volume are finite and volume > 0.
Symbols map ``SH600000`` -> ``600000.SH``. ``instruments/csi300.txt``, ``csi500.txt``,
``csi1000.txt`` give real index membership; features of ``SH000300``, ``SH000905``, ``SH000852``
give the index levels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from zoo.datasets.readers import Input, ReadOptions
from zoo.datasets.readers.frame import check_frame, located
from zoo.datasets.readers.membership import read_instruments
from zoo.datasets.readers.symbols import to_qlib_symbol, to_zoo_symbol
from zoo.datasets.schema import INDEXES

from zoo.errors import DataError

PRICES = ("open", "high", "low", "close")
OPTIONAL = ("vwap", "amount", "factor")
#: qlib instrument names of the real indexes whose levels a folder may hold.
INDEX_FEATURES = {"SH000300": "000300.SH", "SH000905": "000905.SH", "SH000852": "000852.SH"}
_NOT_STOCKS = r"^(SH000|SH880|SZ399)"


def detect(paths: list[Path]) -> bool:
    """One folder with ``calendars/day.txt`` and ``features/``."""
    return (
        len(paths) == 1
        and (paths[0] / "calendars" / "day.txt").is_file()
        and (paths[0] / "features").is_dir()
    )


def read_calendar(folder: Path) -> pd.DatetimeIndex:
    """``calendars/day.txt`` as dates; refused when a line is not a date."""
    path = folder / "calendars" / "day.txt"
    lines = path.read_text().split()
    dates = pd.to_datetime(pd.Series(lines), errors="coerce", format="mixed")
    bad = dates.isna().to_numpy()
    if bad.any():
        i = int(bad.argmax())
        raise located(str(path), i + 1, None, f"{lines[i]!r} is not a date")
    return pd.DatetimeIndex(dates.dt.normalize())


def read_bin(path: Path, n_days: int) -> tuple[int, np.ndarray]:
    """(first calendar index, float32 values) of one ``.day.bin`` file, checked against the calendar."""
    raw = np.fromfile(path, dtype="<f4")
    if len(raw) < 1 or not np.isfinite(raw[0]) or raw[0] < 0 or raw[0] != int(raw[0]):
        raise located(str(path), None, None, "element 0 must be the calendar index of the first date")
    start = int(raw[0])
    if start + len(raw) - 1 > n_days:
        raise located(
            str(path), None, None, f"runs {start + len(raw) - 1 - n_days} days past calendars/day.txt"
        )
    return start, raw[1:]


def _symbols(folder: Path, options: ReadOptions, cal: pd.DatetimeIndex) -> list[str]:
    """The qlib symbols to read: a market's spells in the dates, else ``all.txt``, else every folder."""
    market = options.instruments or ("all" if (folder / "instruments" / "all.txt").is_file() else None)
    if market is None:
        names = sorted(p.name.upper() for p in (folder / "features").iterdir() if p.is_dir())
        return [n for n in names if not pd.Series([n]).str.match(_NOT_STOCKS).iloc[0]]
    path = folder / "instruments" / f"{market}.txt"
    if not path.is_file():
        have = sorted(p.stem for p in (folder / "instruments").glob("*.txt"))
        raise DataError(f"{path}: no such market file; the folder has {have}")
    spells = read_instruments(path, market)
    lo = pd.Timestamp(options.start) if options.start else cal[0]
    hi = pd.Timestamp(options.end) if options.end else cal[-1]
    keep = (spells["start"] <= hi) & (spells["end"] >= lo)
    return sorted(to_qlib_symbol(spells.loc[keep, "symbol"]).unique())


def _field(folder: Path, symbols: list[str], field: str, rows: slice, n_days: int) -> np.ndarray | None:
    """(D, S) float32 of one field over calendar ``rows`` (NaN outside each file); None if none has it."""
    out = np.full((n_days, len(symbols)), np.nan, dtype=np.float32)
    found = False
    for j, sym in enumerate(symbols):  # one file per symbol: the loop is over files, not cells
        path = folder / "features" / sym.lower() / f"{field}.day.bin"
        if not path.is_file():
            continue
        found = True
        start, vals = read_bin(path, n_days)
        out[start : start + len(vals), j] = vals
    return out[rows] if found else None


def _panels(folder: Path, symbols: list[str], cal: pd.DatetimeIndex, rows: slice) -> dict[str, np.ndarray]:
    """Every field's panel; a required one missing for a symbol with bars is refused naming the file."""
    got = {f: _field(folder, symbols, f, rows, len(cal)) for f in (*PRICES, "volume", *OPTIONAL)}
    for f in (*PRICES, "volume"):
        if got[f] is None:
            raise located(str(folder / "features"), None, f, f"no {f}.day.bin in any symbol folder")
    return {f: v for f, v in got.items() if v is not None}


def _long(
    panels: dict[str, np.ndarray], dates: pd.DatetimeIndex, symbols: list[str]
) -> tuple[pd.DataFrame, np.ndarray]:
    """The bar cells as a long frame of RAW values: the factor out of prices, into volume."""
    close, vol = panels["close"], panels["volume"]
    d, s = np.nonzero(np.isfinite(close) & np.isfinite(vol) & (vol > 0))
    order = np.lexsort((s, d))  # date, then symbol
    d, s = d[order], s[order]
    zoo = to_zoo_symbol(pd.Series(symbols), "features").to_numpy()
    frame = pd.DataFrame({"date": dates[d], "symbol": zoo[s]})
    factor = panels["factor"][d, s].astype(np.float64) if "factor" in panels else None
    for f in (*PRICES, "vwap"):
        if f in panels:
            v = panels[f][d, s].astype(np.float64)
            frame[f] = v if factor is None else v / factor
    frame["volume"] = vol[d, s].astype(np.float64) * (1.0 if factor is None else factor)
    if "amount" in panels:
        frame["amount"] = panels["amount"][d, s].astype(np.float64)
    if factor is not None:
        frame["adj_factor"] = factor
    return frame, np.asarray(symbols)[s]


def _index_table(folder: Path, cal: pd.DatetimeIndex, rows: slice) -> pd.DataFrame | None:
    """Real index closes from the folder's index features (None when it has none)."""
    have = [q for q in INDEX_FEATURES if (folder / "features" / q.lower() / "close.day.bin").is_file()]
    if not have:
        return None
    close = _field(folder, have, "close", rows, len(cal))
    parts = [
        pd.DataFrame({"date": cal[rows], "symbol": INDEX_FEATURES[q], "close": close[:, j]})
        for j, q in enumerate(have)
    ]
    tab = pd.concat(parts, ignore_index=True)
    return tab[np.isfinite(tab["close"].to_numpy())].reset_index(drop=True)


def _spells(folder: Path) -> tuple[pd.DataFrame | None, dict[str, str]]:
    """Real membership from ``instruments/<index>.txt`` for the cube's indexes that have a file."""
    parts, sources = [], {}
    for name in INDEXES:
        path = folder / "instruments" / f"{name}.txt"
        if path.is_file():
            parts.append(read_instruments(path, name))
            sources[name] = f"real: {folder.name}/instruments/{name}.txt (spells, inclusive)"
    return (pd.concat(parts, ignore_index=True) if parts else None), sources


class _Places:
    """Row places for messages, made on demand: ``features/sh600000 on 2020-01-02``."""

    def __init__(self, qlib_symbols: np.ndarray, dates: pd.Series) -> None:
        self.symbols, self.dates = qlib_symbols, dates

    def __getitem__(self, i: int) -> str:
        return f"features/{self.symbols[i].lower()} on {pd.Timestamp(self.dates.iloc[i]).date()}"


def read(paths: list[Path], options: ReadOptions) -> Input:
    """A qlib provider folder: raw bars, factors, real membership and index levels."""
    folder = paths[0]
    cal = read_calendar(folder)
    lo = cal.searchsorted(pd.Timestamp(options.start)) if options.start else 0
    hi = cal.searchsorted(pd.Timestamp(options.end), side="right") if options.end else len(cal)
    rows = slice(lo, hi)
    symbols = _symbols(folder, options, cal)
    if not symbols:
        raise DataError(f"{folder}: no symbols to read (market {options.instruments or 'all'})")
    frame, qsym = _long(_panels(folder, symbols, cal, rows), cal[rows], symbols)
    if frame.empty:
        raise DataError(f"{folder}: no bars between {cal[rows][0].date()} and {cal[rows][-1].date()}")
    labels = {"adj_factor": "factor"}
    frame = check_frame(frame, str(folder), rows=_Places(qsym, frame["date"]), labels=labels)
    spells, sources = _spells(folder)
    return Input(frame, [str(folder)], "qlib", spells, sources, _index_table(folder, cal, rows))


def dump_qlib(frame: pd.DataFrame, folder: Path, spells: pd.DataFrame | None = None) -> None:
    """Write a long frame (RAW prices, optional ``adj_factor``) as a qlib provider folder (as ``dump_bin``).

    For fixtures and experiments: prices and vwap x factor, volume / factor, amount raw, ``factor``
    (1 without ``adj_factor``); ``instruments/all.txt`` from each symbol's first and last date, and one
    ``instruments/<index>.txt`` per index in ``spells`` (index, symbol, start, end).
    """
    folder = Path(folder)
    cal = pd.DatetimeIndex(np.sort(frame["date"].unique()))
    (folder / "calendars").mkdir(parents=True, exist_ok=True)
    (folder / "calendars" / "day.txt").write_text("\n".join(cal.strftime("%Y-%m-%d")) + "\n")
    factor = frame["adj_factor"].to_numpy(np.float64) if "adj_factor" in frame else np.ones(len(frame))
    adjusted = {f: frame[f].to_numpy(np.float64) * factor for f in (*PRICES, "vwap") if f in frame}
    adjusted["volume"] = frame["volume"].to_numpy(np.float64) / factor
    if "amount" in frame:
        adjusted["amount"] = frame["amount"].to_numpy(np.float64)
    adjusted["factor"] = factor
    pos = cal.get_indexer(frame["date"])
    qsym = to_qlib_symbol(frame["symbol"]).to_numpy()
    for sym, idx in pd.Series(np.arange(len(frame))).groupby(qsym):
        at = pos[idx.to_numpy()]
        first, last = at.min(), at.max()
        out = folder / "features" / sym.lower()
        out.mkdir(parents=True, exist_ok=True)
        for f, values in adjusted.items():
            col = np.full(last - first + 1, np.nan, dtype="<f4")
            col[at - first] = values[idx.to_numpy()]
            np.concatenate([np.array([first], dtype="<f4"), col]).tofile(out / f"{f}.day.bin")
    inst = folder / "instruments"
    inst.mkdir(exist_ok=True)
    span = frame.groupby(qsym)["date"].agg(["min", "max"])
    _write_spells(inst / "all.txt", span.index, span["min"], span["max"])
    for name, sp in spells.groupby("index") if spells is not None else []:
        _write_spells(inst / f"{name}.txt", to_qlib_symbol(sp["symbol"]), sp["start"], sp["end"])


def _write_spells(path: Path, symbols, starts, ends) -> None:
    """One ``SYMBOL\\tstart\\tend`` line per spell."""
    lines = [
        f"{s}\t{pd.Timestamp(a).date()}\t{pd.Timestamp(b).date()}"
        for s, a, b in zip(symbols, starts, ends, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")
