"""baostock ``query_history_k_data_plus`` exports: ``date, code (sh.600000), open, high, low, close, volume,
amount[, adjustflag, tradestatus, isST]``.

Volume is in shares and amount in CNY already. A ``tradestatus`` 0 row is a suspension: no bar.
``isST`` 1 sets the cube's ``st`` mask. Prices must be raw (``adjustflag`` 3): baostock's adjusted
prices (1, 2) carry no factor to divide out; an ``adj_factor`` column is the adjustment factor.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from zoo.datasets.readers import Input, ReadOptions, header
from zoo.datasets.readers.frame import located
from zoo.datasets.readers.symbols import to_zoo_symbol
from zoo.datasets.readers.vendor import read_each, require, to_frame

LAYOUT = (
    "a baostock export has date, code, open, high, low, close, volume, amount (tradestatus, isST optional)"
)
RENAMES = {
    "date": "date",
    "code": "symbol",
    "open": "open",
    "high": "high",
    "low": "low",
    "close": "close",
    "volume": "volume",
    "amount": "amount",
    "isST": "st",
    "adj_factor": "adj_factor",
}


def detect(paths: list[Path]) -> bool:
    """Files with baostock's ``tradestatus`` or ``isST`` beside ``code``."""
    cols = set(header(paths[0])) if not paths[0].is_dir() else set()
    return "code" in cols and bool({"tradestatus", "isST", "adjustflag"} & cols)


def _one(tab: pd.DataFrame, name: str, _path: Path) -> pd.DataFrame:
    require(tab, name, {c: c for c in list(RENAMES)[:8]}, LAYOUT)
    if "adjustflag" in tab:
        flag = tab["adjustflag"].astype(str).str.strip()
        bad = (flag != "3").to_numpy()
        if bad.any():
            i = int(bad.argmax())
            raise located(
                name,
                i + 1,
                "adjustflag",
                f"{flag.iloc[i]!r}: export raw prices (adjustflag 3), factors as adj_factor",
            )
    rows = np.arange(1, len(tab) + 1)
    if "tradestatus" in tab:
        status = tab["tradestatus"].astype(str).str.strip()
        bad = ~status.isin(["0", "1"]).to_numpy()
        if bad.any():
            i = int(bad.argmax())
            raise located(name, i + 1, "tradestatus", f"{status.iloc[i]!r} is not 0 or 1")
        trading = (status == "1").to_numpy()
        tab, rows = tab[trading], rows[trading]
    tab = tab.assign(code=to_zoo_symbol(tab["code"], name, "code").to_numpy())
    return to_frame(tab, name, RENAMES, {}, rows=rows)


def read(paths: list[Path], options: ReadOptions) -> Input:
    """baostock files (one or many)."""
    return read_each(paths, _one, "baostock")
