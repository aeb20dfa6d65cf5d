"""The derivation's carried state: a window started mid-history re-derives exactly what one pass gives."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_data_append import _market, _pieces, _write, store_digest
from zoo.datasets import carry as carry_mod
from zoo.datasets.append import append_store
from zoo.datasets.carry import Carry, carry_at
from zoo.datasets.ingest import derive_cube, ingest, pivot_cells, read_long
from zoo.datasets.labels import ensure_labels
from zoo.datasets.panel import ffill, trailing_mean
from zoo.datasets.schema import read_store, write_cube
from zoo.datasets.universes import month_starts

from zoo.errors import DataError


def _panel(seed: int, d: int = 60, s: int = 7) -> np.ndarray:
    """A (d, s) float panel with NaN runs (suspensions) and a late start."""
    rng = np.random.default_rng(seed)
    x = rng.lognormal(10, 1, (d, s))
    x[rng.random((d, s)) < 0.3] = np.nan
    x[:25, 0] = np.nan  # a late listing
    x[10:40, 1] = np.nan  # a long suspension
    return x


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ffill_equals_pandas_and_resumes_from_its_carry(seed):
    x = _panel(seed)
    want = pd.DataFrame(x).ffill().to_numpy()
    assert np.array_equal(ffill(x), want, equal_nan=True)
    for a in (1, 17, 33):
        assert np.array_equal(ffill(x[a:], want[a - 1]), want[a:], equal_nan=True)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_trailing_mean_is_the_rolling_mean_and_window_local(seed):
    x = _panel(seed)
    got = trailing_mean(x, 20, 5)
    want = pd.DataFrame(x).rolling(20, min_periods=5).mean().to_numpy()
    assert np.array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=1e-12)
    pad = np.vstack([np.full((19, x.shape[1]), np.nan), x])
    for a in (1, 19, 20, 41):  # started anywhere, given the 19 rows above: the same bits
        assert got[a:].tobytes() == trailing_mean(x[a:], 20, 5, pad[a : a + 19]).tobytes()


def _slice_cells(cells, a: int):
    """The input cells from row ``a`` on."""
    cut = {f.name: getattr(cells, f.name) for f in dataclasses.fields(cells)}
    return dataclasses.replace(
        cells, **{k: (v[a:] if isinstance(v, np.ndarray) and v.ndim >= 2 else v) for k, v in cut.items()}
    )


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    """The append tests' market: one file, its cube and its input cells."""
    (path,) = _write([_market()], tmp_path_factory.mktemp("carry"))
    full = ingest([path])
    dates = pd.DatetimeIndex(full["date"].values)
    return full, pivot_cells(read_long(path), dates, np.asarray(full["symbol"].values).astype(str))


@settings(max_examples=12, deadline=None)
@given(a=st.integers(1, 89), block=st.sampled_from([3, 7, 256]))
def test_a_window_with_its_carry_derives_the_rows_one_pass_gives(market, a, block):
    full, cells = market
    dates = pd.DatetimeIndex(full["date"].values)
    symbols = np.asarray(full["symbol"].values).astype(str)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(carry_mod, "SCAN_BLOCK", block)  # scans back over several blocks too
        state = carry_at(full, a)
    part = derive_cube(
        _slice_cells(cells, a),
        dates[a:],
        symbols,
        columns=full.attrs["ingest_columns"],
        source=full.attrs["source"],
        carry=state,
    )
    starts = month_starts(dates)
    first_full_month = int(starts[starts > a].min()) if (starts > a).any() else len(dates)
    for v in full.data_vars:
        if "date" not in full[v].dims:
            continue
        lo = first_full_month if v in ("in_universe", "index_weight") else a
        want = full[v].isel(date=slice(lo, None)).values
        got = part[v].isel(date=slice(lo - a, None)).values
        assert want.tobytes() == got.tobytes(), (v, a)


def test_the_carry_of_row_zero_is_empty_and_spread_adds_empty_stocks(market):
    cube = market[0]
    empty = carry_at(cube, 0)
    assert empty.row == 0 and not empty.listed.any() and np.isnan(empty.close).all()
    c = carry_at(cube, 50)
    wide = c.spread(np.array([0, 2, 3, 4, 5]), 6)
    assert wide.row == 50 and wide.close[1] != wide.close[1] and wide.close[0] == c.close[0]
    assert isinstance(Carry.empty(3, True, False).shares, np.ndarray)


def test_append_derives_only_the_last_weeks(tmp_path):
    files = _write(_pieces(_market(), [75]), tmp_path)
    store = tmp_path / "s.zarr"
    write_cube(ensure_labels(ingest(files[:1])), store)
    result = append_store(store, [files[1]])
    # first written row: the 10- and 20-day labels the new days complete (75 - 21 = 54, in March);
    # derived from the day before March's first day (row 39)
    assert result.rewritten == "tail"
    assert result.first_changed == pd.Timestamp("2021-03-19")  # row 54
    assert result.derived_from == pd.Timestamp("2021-02-26")  # row 39


def test_a_store_from_newer_arithmetic_or_altered_is_refused_and_kept(tmp_path):
    files = _write(_pieces(_market(), [75]), tmp_path)
    store = tmp_path / "s.zarr"
    cube = ensure_labels(ingest(files[:1]))
    write_cube(cube.assign_attrs(ingest_derivation=99), store)
    before = store_digest(store)
    with pytest.raises(DataError, match=r"s\.zarr: was derived by ingest arithmetic version 99, newer"):
        append_store(store, [files[1]])
    assert store_digest(store) == before
    size = cube["size"].values.copy()
    size[60, 2] = np.nextafter(size[60, 2], np.float32(np.inf))  # one stored value, one bit off
    write_cube(cube.assign(size=(cube["size"].dims, size, cube["size"].attrs)), store)
    before = store_digest(store)
    with pytest.raises(DataError, match=r"re-deriving the stored 2021-03-29 gives another 'size'"):
        append_store(store, [files[1]])
    assert store_digest(store) == before
    read_store(store)


def test_a_store_written_before_the_version_attr_is_continued(tmp_path):
    """Version 1 stores (no attr) re-derive bit for bit here, so the window check lets them append."""
    files = _write(_pieces(_market(), [75]), tmp_path)
    store = tmp_path / "s.zarr"
    cube = ensure_labels(ingest(files[:1]))
    del cube.attrs["ingest_derivation"]
    write_cube(cube, store)
    assert append_store(store, [files[1]]).rewritten == "tail"
