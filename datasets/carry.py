"""The state a cube's derivation carries from one date to the next, and how to read it back from a store.

``datasets.ingest.derive_cube`` is causal: a row's masks, size, universes and index weights read that
row and a state summarising the rows above it. ``Carry`` is that state: what forward fills, counts and
trailing windows continue from. ``carry_at`` reads it from a stored cube by scanning back from a row
in blocks until every stock's state is known, which for a stock that traded lately is a block or two,
so appending a day re-derives a few weeks instead of the whole history.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import xarray as xr
from zoo.datasets.panel import trailing_mean
from zoo.datasets.universes import NEVER

#: Trading days in the mean amount behind ``size`` (``amount20``), and the bars it needs at least.
AMOUNT_WINDOW, AMOUNT_MIN_BARS = 20, 5
#: Bars after which a stock may enter an index stand-in; counts stop here (only ``>=`` is asked).
SEASONED_BARS = 60
#: Rows read per step when scanning a store back for the state.
SCAN_BLOCK = 256


@dataclasses.dataclass(frozen=True)
class Carry:
    """Per stock, the state after the rows above a derivation window (all (S,) unless noted)."""

    row: int  # the cube row the window starts at (0: the cube's first date, nothing above)
    listed: np.ndarray  # bool: had a bar above
    first_day: np.ndarray  # bool: traded on the cube's first date (seasoned for the index rule)
    bars: np.ndarray  # int64: bars above, stopped at SEASONED_BARS
    since_trade: np.ndarray  # int64: days_since_trade on the row above (NEVER-1 if none)
    close: np.ndarray  # float64: last close above (NaN if none)
    amount: np.ndarray  # (AMOUNT_WINDOW - 1, S) float64: input amounts of the rows just above
    amount20: np.ndarray  # float64: last finite 20-day mean amount above (NaN if none)
    cap: np.ndarray  # float32: last finite stored proxy cap above (NaN if none)
    shares: np.ndarray | None  # float64: last shares input above; None without a shares column
    mcap: np.ndarray | None  # float64: last mcap input above; None without an mcap column
    adj_close: np.ndarray | None = None  # float64: last adjusted close above (a cube with factors)

    @classmethod
    def empty(cls, n: int, shares: bool, mcap: bool) -> Carry:
        """The state above a cube's first date: nothing traded yet."""
        nan = np.full(n, np.nan)
        return cls(
            row=0,
            listed=np.zeros(n, bool),
            first_day=np.zeros(n, bool),
            bars=np.zeros(n, np.int64),
            since_trade=np.full(n, NEVER - 1, np.int64),
            close=nan.copy(),
            amount=np.full((AMOUNT_WINDOW - 1, n), np.nan),
            amount20=nan.copy(),
            cap=nan.astype(np.float32),
            shares=nan.copy() if shares else None,
            mcap=nan.copy() if mcap else None,
            adj_close=nan.copy(),
        )

    def spread(self, at: np.ndarray, n: int) -> Carry:
        """This state for ``n`` stocks, its own at positions ``at``, the others empty (new symbols)."""
        out = Carry.empty(n, self.shares is not None, self.mcap is not None)
        out = dataclasses.replace(out, row=self.row)
        for f in dataclasses.fields(self):
            mine, full = getattr(self, f.name), getattr(out, f.name)
            if isinstance(mine, np.ndarray):
                full[..., at] = mine
        return out


def _rows(cube: xr.Dataset, var: str, lo: int, hi: int, **sel) -> np.ndarray:
    """Rows ``lo:hi`` of a dated variable (date first), read from the store only for those rows."""
    da = cube[var]
    if sel:
        da = da.sel(sel)
    return np.asarray(da.isel(date=slice(lo, hi)).transpose("date", ...).values)


def _last(values: np.ndarray, found: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column: whether a non-NaN value exists in ``values`` (rows of a block) and its last row."""
    ok = ~np.isnan(values)
    has = ok.any(axis=0) & ~found
    last = len(values) - 1 - np.argmax(ok[::-1], axis=0)
    return has, last


def carry_at(cube: xr.Dataset, row: int) -> Carry:
    """The state after rows ``0 .. row - 1`` of ``cube`` (an ingested cube, lazily backed is best).

    Reads the input variables back from ``row`` in blocks of ``SCAN_BLOCK`` rows until each stock's
    last close, bar count, last mean amount and last caps are found, or the stock's first bar (or the
    first date) is passed.
    """
    n = cube.sizes["symbol"]
    has_shares, has_mcap = "input_shares" in cube.data_vars, "input_mcap" in cube.data_vars
    if row <= 0:
        return Carry.empty(n, has_shares, has_mcap)
    listed = _rows(cube, "listed", row - 1, row)[0].astype(bool)
    first_day = _rows(cube, "listed", 0, 1)[0].astype(bool)
    close = np.full(n, np.nan)
    since = np.full(n, NEVER - 1, np.int64)
    bars = np.zeros(n, np.int64)
    amount20 = np.full(n, np.nan)
    cap = np.full(n, np.nan, np.float32)
    shares = np.full(n, np.nan) if has_shares else None
    mcap = np.full(n, np.nan) if has_mcap else None
    # a stock never listed above the row has nothing to find
    done_close, done_bars, done_mean, done_cap = (~listed.copy() for _ in range(4))
    done_shares = np.zeros(n, bool) if has_shares else np.ones(n, bool)
    done_mcap = np.zeros(n, bool) if has_mcap else np.ones(n, bool)
    inputs = (("input_shares", shares, done_shares), ("input_mcap", mcap, done_mcap))
    adjusted = "raw_bars" in cube.data_vars  # bars are adjusted; limits and caps read raw closes
    raw = "raw_bars" if adjusted else "bars"
    adj_close = np.full(n, np.nan)
    w = AMOUNT_WINDOW - 1
    amount_above = np.full((w, n), np.nan)
    hi = row
    while hi > 0:
        lo = max(0, hi - SCAN_BLOCK)
        c = _rows(cube, raw, lo, hi, field="close").astype(np.float64)
        if adjusted:  # the same rows: a stock's last adjusted close is where its last raw one is
            adj = _rows(cube, "bars", lo, hi, field="close").astype(np.float64)
        a_lo = max(0, lo - w)
        amount = _rows(cube, "input_amount", a_lo, hi)
        if hi == row:
            take = amount[max(0, len(amount) - w) :]
            amount_above[w - len(take) :] = take
        has, last = _last(c, done_close)
        close[has] = c[last[has], np.flatnonzero(has)]
        if adjusted:
            adj_close[has] = adj[last[has], np.flatnonzero(has)]
        since[has] = row - 1 - (lo + last[has])
        done_close |= has
        bars = np.where(done_bars, bars, np.minimum(bars + np.isfinite(c).sum(axis=0), SEASONED_BARS))
        above = np.vstack([np.full((w - (lo - a_lo), n), np.nan), amount[: lo - a_lo]])
        means = trailing_mean(amount[lo - a_lo :], AMOUNT_WINDOW, AMOUNT_MIN_BARS, above)
        targets = [(means, amount20, done_mean), (_rows(cube, "mcap", lo, hi), cap, done_cap)]
        targets += [(_rows(cube, v, lo, hi), out, done) for v, out, done in inputs if out is not None]
        for vals, out, done in targets:
            has, last = _last(vals, done)
            out[has] = vals[last[has], np.flatnonzero(has)]
            done |= has
        # above a row where a stock is not yet listed there is nothing of it (inputs come with bars)
        gone = ~_rows(cube, "listed", lo, lo + 1)[0].astype(bool)
        for done in (done_close, done_mean, done_cap, done_shares, done_mcap):
            done |= gone
        done_bars |= gone | (bars >= SEASONED_BARS)
        hi = lo
        if (done_close & done_bars & done_mean & done_cap & done_shares & done_mcap).all():
            break
    return Carry(
        row=row,
        listed=listed,
        first_day=first_day,
        bars=bars,
        since_trade=since,
        close=close,
        amount=amount_above,
        amount20=amount20,
        cap=cap,
        shares=shares,
        mcap=mcap,
        adj_close=adj_close,
    )
