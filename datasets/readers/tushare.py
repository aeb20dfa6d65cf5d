"""Tushare ``daily`` exports: ``ts_code, trade_date (YYYYMMDD), open, high, low, close, vol, amount``.

``vol`` is in lots of 100 shares and ``amount`` in thousands of CNY; both become shares and CNY.
An ``adj_factor`` column (Tushare's ``adj_factor`` merged on ts_code and trade_date) is the
adjustment factor. Prices are Tushare's raw ones. Other columns (pre_close, change, pct_chg) are unused.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from zoo.datasets.readers import Input, ReadOptions, header
from zoo.datasets.readers.frame import located
from zoo.datasets.readers.symbols import ZOO_SYMBOL
from zoo.datasets.readers.vendor import read_each, require, to_frame

LAYOUT = (
    "a Tushare daily export has ts_code, trade_date, open, high, low, close, vol, amount "
    "(adj_factor optional)"
)
RENAMES = {
    "trade_date": "date",
    "ts_code": "symbol",
    "open": "open",
    "high": "high",
    "low": "low",
    "close": "close",
    "vol": "volume",
    "amount": "amount",
    "adj_factor": "adj_factor",
}
SCALES = {"volume": 100.0, "amount": 1000.0}


def detect(paths: list[Path]) -> bool:
    """Files with Tushare's ``ts_code`` and ``trade_date``."""
    return not paths[0].is_dir() and {"ts_code", "trade_date"} <= set(header(paths[0]))


def _one(tab: pd.DataFrame, name: str, _path: Path) -> pd.DataFrame:
    require(tab, name, {c: c for c in RENAMES if c != "adj_factor"}, LAYOUT)
    dates = pd.to_datetime(tab["trade_date"].astype(str).str.strip(), errors="coerce", format="%Y%m%d")
    bad = dates.isna().to_numpy()
    if bad.any():
        i = int(bad.argmax())
        raise located(name, i + 1, "trade_date", f"{tab['trade_date'].iloc[i]!r} is not a YYYYMMDD date")
    code = tab["ts_code"].astype(str).str.strip()
    bad = ~code.str.match(ZOO_SYMBOL).to_numpy()
    if bad.any():
        i = int(bad.argmax())
        raise located(name, i + 1, "ts_code", f"{tab['ts_code'].iloc[i]!r} is not a ts_code like 600000.SH")
    return to_frame(tab.assign(trade_date=dates, ts_code=code), name, RENAMES, SCALES)


def read(paths: list[Path], options: ReadOptions) -> Input:
    """Tushare daily files (one or many; a (date, symbol) twice is refused)."""
    return read_each(paths, _one, "tushare")
