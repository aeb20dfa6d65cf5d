"""AKShare ``stock_zh_a_hist`` exports: Chinese headers, one file per stock, 6-digit codes, volume in lots.

Columns used: 日期 (date), 股票代码 (code; else the file name's 6 digits), 开盘 收盘 最高 最低 (open,
close, high, low, CNY), 成交量 (volume, lots of 100 shares), 成交额 (amount, CNY). Export with
``adjust=""`` (raw prices): AKShare's qfq/hfq prices carry no factor to divide out.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
from zoo.datasets.readers import Input, ReadOptions, header
from zoo.datasets.readers.frame import located
from zoo.datasets.readers.symbols import to_zoo_symbol
from zoo.datasets.readers.vendor import read_each, require, to_frame

LAYOUT = "an AKShare stock_zh_a_hist export has 日期 开盘 收盘 最高 最低 成交量 成交额 (and 股票代码)"
RENAMES = {
    "日期": "date",
    "股票代码": "symbol",
    "开盘": "open",
    "最高": "high",
    "最低": "low",
    "收盘": "close",
    "成交量": "volume",
    "成交额": "amount",
}
SCALES = {"volume": 100.0}


def detect(paths: list[Path]) -> bool:
    """Files with AKShare's Chinese headers 日期 and 开盘."""
    return not paths[0].is_dir() and {"日期", "开盘"} <= set(header(paths[0]))


def _one(tab: pd.DataFrame, name: str, path: Path) -> pd.DataFrame:
    require(tab, name, {c: c for c in RENAMES if c != "股票代码"}, LAYOUT)
    if "股票代码" not in tab:
        code = re.search(r"\d{6}", path.stem)
        if code is None:
            raise located(name, None, "股票代码", "missing, and the file name holds no 6-digit code")
        tab = tab.assign(股票代码=code.group(0))
    tab = tab.assign(股票代码=to_zoo_symbol(tab["股票代码"].astype(str).str.zfill(6), name, "股票代码"))
    return to_frame(tab, name, RENAMES, SCALES)


def read(paths: list[Path], options: ReadOptions) -> Input:
    """AKShare files, one per stock (a folder of them is expanded)."""
    return read_each(paths, _one, "akshare")
