"""Stock codes of every source to the zoo's ``600000.SH`` form."""

from __future__ import annotations

import numpy as np
import pandas as pd
from zoo.datasets.readers.frame import located

ZOO_SYMBOL = r"^\d{6}\.(SH|SZ|BJ)$"


def exchange_of(code6: pd.Series) -> pd.Series:
    """SH / SZ / BJ of bare 6-digit codes: 6 and 9 (not 92) Shanghai, 0/2/3 Shenzhen, 4/8/92 Beijing."""
    first = code6.str[0]
    out = pd.Series(np.where(first.isin(["0", "2", "3"]), "SZ", "SH"), index=code6.index)
    return out.where(~(first.isin(["4", "8"]) | code6.str.startswith("92")), "BJ")


def to_zoo_symbol(codes: pd.Series, where: str, column: str = "symbol") -> pd.Series:
    """``SH600000`` (qlib), ``sh.600000`` (baostock), ``600000`` (AKShare), ``600000.SH`` -> ``600000.SH``."""
    c = codes.astype(str).str.strip().str.upper()
    pre = c.str.extract(r"^(SH|SZ|BJ)\.?(\d{6})$")
    bare = c.str.fullmatch(r"\d{6}")
    out = c.where(pre[0].isna(), pre[1] + "." + pre[0])
    out = out.where(~bare, c + "." + exchange_of(c.where(bare, "000000")))
    bad = ~out.str.match(ZOO_SYMBOL).to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise located(
            where,
            i + 1,
            column,
            f"{codes.iloc[i]!r} is not a stock code (600000.SH, SH600000, sh.600000 or 600000)",
        )
    return out


def to_qlib_symbol(symbols: pd.Series) -> pd.Series:
    """``600000.SH`` -> ``SH600000`` (qlib's instrument names)."""
    s = symbols.astype(str)
    return s.str[7:] + s.str[:6]
