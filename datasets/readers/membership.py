"""Real index membership: qlib ``instruments/<market>.txt`` spells, or a long file of dated snapshots.

Both end as spells ``index, symbol, start, end`` (dates, inclusive, as qlib reads them), which
``membership_panels`` turns into (D, S) bool panels on the cube's dates and symbols.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from zoo.datasets.readers.frame import located
from zoo.datasets.readers.long import read_table
from zoo.datasets.readers.symbols import to_zoo_symbol
from zoo.datasets.schema import INDEXES

from zoo.errors import DataError

SPELL_COLUMNS = ("index", "symbol", "start", "end")
#: Names an index may go by in a membership file -> the cube's index name.
INDEX_NAMES = {
    **{n: n for n in INDEXES},
    "000300.sh": "csi300",
    "000300": "csi300",
    "000905.sh": "csi500",
    "000905": "csi500",
    "000852.sh": "csi1000",
    "000852": "csi1000",
}


def read_instruments(path: str | os.PathLike, index: str) -> pd.DataFrame:
    """Spells of one qlib market file (tab-separated ``SYMBOL start end``; a symbol may have several)."""
    path = Path(path)
    try:
        tab = pd.read_csv(path, sep="\t", header=None, dtype=str, names=["symbol", "start", "end"])
    except Exception as exc:
        raise DataError(f"{path}: cannot be read ({type(exc).__name__}: {exc})") from exc
    for col in ("start", "end"):
        parsed = pd.to_datetime(tab[col], errors="coerce", format="%Y-%m-%d")
        bad = parsed.isna().to_numpy()
        if bad.any():
            i = int(np.argmax(bad))
            raise located(str(path), i + 1, col, f"{tab[col].iloc[i]!r} is not a YYYY-MM-DD date")
        tab[col] = parsed
    bad = (tab["end"] < tab["start"]).to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise located(str(path), i + 1, "end", "a spell ends before it starts")
    tab["symbol"] = to_zoo_symbol(tab["symbol"], str(path))
    tab["index"] = index
    return tab[list(SPELL_COLUMNS)]


def read_membership_file(path: str | os.PathLike) -> pd.DataFrame:
    """Spells from a long file ``date, symbol, index[, weight]``: a snapshot holds to the index's next one.

    Each (index, date) lists the members from that date on; the last snapshot holds to the end.
    A ``weight`` column is not used (weights are proxy-cap weights, as for the stand-ins).
    """
    name = str(path)
    tab = read_table(path)
    tab.columns = [str(c).strip().lower() for c in tab.columns]
    for col in ("date", "symbol", "index"):
        if col not in tab:
            raise located(
                name,
                None,
                col,
                f"missing; a membership file has date, symbol, index[, weight]; have {list(tab.columns)}",
            )
    dates = pd.to_datetime(tab["date"].astype(str), errors="coerce", format="mixed")
    bad = dates.isna().to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise located(name, i + 1, "date", f"cannot parse {tab['date'].iloc[i]!r} as a date")
    idx = tab["index"].astype(str).str.strip().str.lower().map(INDEX_NAMES)
    bad = idx.isna().to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise located(
            name, i + 1, "index", f"{tab['index'].iloc[i]!r} is not one of {list(INDEXES)} (or its code)"
        )
    snaps = pd.DataFrame({"index": idx, "symbol": tab["symbol"].astype(str).str.strip(), "start": dates})
    snaps["symbol"] = to_zoo_symbol(snaps["symbol"], name)
    days = snaps[["index", "start"]].drop_duplicates().sort_values(["index", "start"])
    nxt = days.groupby("index")["start"].shift(-1) - pd.Timedelta(days=1)
    days["end"] = nxt.fillna(pd.Timestamp.max.normalize())
    out = snaps.merge(days, on=["index", "start"])[list(SPELL_COLUMNS)]
    if "weight" in tab:
        out.attrs["weight"] = True  # read, not used: said in the cube's attrs
    return out


def membership_panels(
    spells: pd.DataFrame, dates: pd.DatetimeIndex, symbols: np.ndarray
) -> dict[str, np.ndarray]:
    """Per index in ``spells``: (D, S) bool, True on every date inside one of the symbol's spells."""
    out = {}
    col = pd.Index(symbols)
    for index, sp in spells.groupby("index", sort=True):
        s = col.get_indexer(sp["symbol"])
        keep = s >= 0  # a member without bars in the data has no column
        lo = dates.searchsorted(pd.DatetimeIndex(sp["start"]), side="left")
        hi = dates.searchsorted(pd.DatetimeIndex(sp["end"]), side="right")
        keep &= hi > lo
        diff = np.zeros((len(dates) + 1, len(symbols)), dtype=np.int32)
        np.add.at(diff, (lo[keep], s[keep]), 1)
        np.add.at(diff, (hi[keep], s[keep]), -1)
        out[str(index)] = np.cumsum(diff, axis=0)[:-1] > 0
    return out
