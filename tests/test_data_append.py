"""``zoo data append``: pieces equal one ingest bit for bit, only late labels change, refusals, atomicity."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REAL_DATA
from hypothesis import given, settings
from hypothesis import strategies as st
from zoo.datasets.append import append_cube, append_store
from zoo.datasets.ingest import ingest
from zoo.datasets.labels import ensure_labels
from zoo.datasets.schema import read_store, write_cube

from zoo.errors import DataError

#: The full real data set (``ZOO_REAL_DATA``, else ../shared beside the checkout): tests/conftest.py.
REAL = REAL_DATA
#: Attrs that legitimately differ between an append and one ingest: the provenance line.
DIFFERING_ATTRS = {"source"}
SYMBOLS = ("000001.SZ", "300750.SZ", "600000.SH", "600519.SH", "688001.SH")


def _market(n_days: int = 90, seed: int = 0) -> pd.DataFrame:
    """Long rows over a month boundary: a late listing, a suspension, a limit hit, a breach flag."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2021-01-04", periods=n_days)
    rows = []
    for k, s in enumerate(SYMBOLS):
        close = 10 * (k + 1) * np.exp(np.cumsum(rng.normal(0, 0.02, n_days)))
        opn = close * (1 + rng.normal(0, 0.003, n_days))
        vol = rng.integers(1_000, 10_000, n_days) * 100.0
        frame = pd.DataFrame(
            {
                "date": dates,
                "symbol": s,
                "open": opn,
                "high": np.maximum(opn, close) * 1.01,
                "low": np.minimum(opn, close) * 0.99,
                "close": close,
                "volume": vol,
                "amount": vol * close * 1.001,
                "industry": ["银行", "电气设备", None, "白酒", "半导体"][k],
                "limit_breach": 0,
            }
        )
        rows.append(frame)
    df = pd.concat(rows, ignore_index=True)
    late = (df["symbol"] == "688001.SH") & (df["date"] < dates[55])  # lists on day 55: a new symbol
    susp = (df["symbol"] == "600000.SH") & df["date"].isin(dates[35:48])  # across a piece boundary
    df = df[~late & ~susp].reset_index(drop=True)
    df.loc[(df["symbol"] == "000001.SZ") & (df["date"] == dates[60]), "limit_breach"] = 1
    return df


def _pieces(df: pd.DataFrame, cuts: list[int]) -> list[pd.DataFrame]:
    """``df`` split at the given date positions."""
    dates = np.sort(df["date"].unique())
    edges = [dates[0], *[dates[c] for c in cuts], dates[-1] + np.timedelta64(1, "D")]
    return [df[(df["date"] >= a) & (df["date"] < b)] for a, b in zip(edges[:-1], edges[1:], strict=True)]


def _write(frames: list[pd.DataFrame], folder: Path, kind: str = "csv") -> list[Path]:
    """Each frame as its own file."""
    out = []
    for i, f in enumerate(frames):
        p = folder / f"piece{i}.{kind}"
        if kind == "csv":
            f.assign(date=f["date"].dt.strftime("%Y-%m-%d")).to_csv(p, index=False)
        else:
            f.to_parquet(p)
        out.append(p)
    return out


def assert_same_cube(got, want) -> None:
    """Every variable, coordinate, dtype and attr equal bit for bit, except ``DIFFERING_ATTRS``."""
    assert set(got.variables) == set(want.variables)
    for v in want.variables:
        a, b = got[v], want[v]
        assert a.dims == b.dims and a.dtype == b.dtype, v
        if a.dtype.kind == "f":
            assert np.array_equal(a.values, b.values, equal_nan=True), v
            assert a.values.tobytes() == b.values.tobytes(), v  # NaN payloads and -0.0 too
        else:
            assert np.array_equal(a.values, b.values), v
        assert a.attrs == b.attrs, v
    assert set(got.attrs) == set(want.attrs)
    for k in set(want.attrs) - DIFFERING_ATTRS:
        assert got.attrs[k] == want.attrs[k], k


def store_digest(path: Path) -> str:
    """A digest of every file name and byte under a store."""
    h = hashlib.blake2b(digest_size=16)
    for p in sorted(path.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(path)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_append_in_pieces_equals_one_ingest(tmp_path):
    df = _market()
    files = _write(_pieces(df, [40, 41, 60, 70]), tmp_path)
    store = tmp_path / "s.zarr"
    write_cube(ensure_labels(ingest(files[:1])), store)
    modes = []
    for f in files[1:]:
        modes.append(append_store(store, [f]).rewritten)
    assert modes == ["tail", "full", "tail", "tail"]  # 688001.SH first trades on day 55
    want = ensure_labels(ingest(files))
    got = read_store(store)
    assert_same_cube(got, want)
    assert "append of" in got.attrs["source"] and got.sizes["symbol"] == len(SYMBOLS)
    assert not got["listed"].sel(symbol="688001.SH").values[:55].any()


@settings(max_examples=8, deadline=None)
@given(
    cuts=st.lists(st.integers(1, 89), min_size=1, max_size=4, unique=True),
    kind=st.sampled_from(["csv", "parquet"]),
)
def test_append_in_memory_equals_one_ingest_for_any_split(tmp_path_factory, cuts, kind):
    folder = tmp_path_factory.mktemp("split")
    files = _write(_pieces(_market(), sorted(cuts)), folder, kind)
    cube = ensure_labels(ingest(files[:1]), horizons=(5, 10))
    for f in files[1:]:
        cube = append_cube(cube, [f]).cube
    assert_same_cube(cube, ensure_labels(ingest(files), horizons=(5, 10)))


def test_appending_changes_only_the_last_h_plus_1_labels(tmp_path):
    df = _market()
    first, rest = _pieces(df, [70])
    files = _write([first, rest], tmp_path)
    old = ensure_labels(ingest(files[:1]))
    n = old.sizes["date"]
    for seed in (1, 2):  # two different futures: same past
        fut = rest.copy()
        k = np.random.default_rng(seed).uniform(0.9, 1.1, len(fut))
        for c in ("open", "high", "low", "close"):
            fut[c] = fut[c] * k
        g = _write([fut], tmp_path / f"f{seed}")[0] if (tmp_path / f"f{seed}").mkdir() is None else None
        result = append_cube(old, [g])
        new = result.cube.isel(date=slice(0, n))
        for v in old.data_vars:
            a, b = old[v].values, new[v].values
            if v in ("label_raw", "label_neutral"):
                for i, h in enumerate(old["horizon"].values):
                    assert np.array_equal(a[i, : n - h - 1], b[i, : n - h - 1], equal_nan=True), (v, h)
                    assert np.isnan(a[i, n - h - 1 :]).all(), (v, h)  # the last h + 1 had no label
                    assert np.isfinite(b[i, n - h - 1 :]).any(), (v, h)  # and now have some
            else:
                assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), v
        assert result.first_changed == pd.Timestamp(old["date"].values[n - 20 - 1])


def _store(tmp_path: Path) -> tuple[Path, list[Path]]:
    """An ingested store of the first 60 days and the files of the rest."""
    files = _write(_pieces(_market(), [60]), tmp_path)
    store = tmp_path / "s.zarr"
    write_cube(ensure_labels(ingest(files[:1])), store)
    return store, files


def _resend(df: pd.DataFrame, **change) -> pd.DataFrame:
    """The stored last day's rows, some changed, before the new days."""
    last = df[df["date"] == df["date"].max()].copy()
    for k, v in change.items():
        last[k] = v
    return last


REFUSALS = {
    "changed value": (
        lambda first, rest: pd.concat([_resend(first).assign(close=lambda d: d["close"] * 1.01), rest]),
        r"row 1, column 'close': \(2021-03-26, 000001\.SZ\) is stored with close \d+\.\d+, this row has",
    ),
    "old date": (
        lambda first, rest: pd.concat(
            [rest.iloc[:3], first.iloc[5:6].assign(date=pd.Timestamp("2021-01-09"))]
        ),
        r"row 4, column 'date': 2021-01-09 is on or before the store's last date 2021-03-26 and "
        r"\(2021-01-09, 000001\.SZ\) is not stored: append adds new days only",
    ),
    "old date, no stored bar": (
        lambda first, rest: pd.concat(
            [
                rest,
                first[(first["symbol"] == "000001.SZ") & (first["date"] == "2021-03-01")].assign(
                    symbol="600000.SH"
                ),
            ]
        ),
        r"row 151, column 'date': 2021-03-01 is on or before .* \(2021-03-01, 600000\.SH\) is not stored",
    ),
    "unknown column": (
        lambda first, rest: rest.assign(turnover_rate=1.0),
        r"column 'turnover_rate': not a column of",
    ),
    "missing column": (lambda first, rest: rest.drop(columns=["amount"]), r"column 'amount': missing"),
    "bad value": (
        lambda first, rest: rest.assign(high=lambda d: d["low"] * 0.5),
        r"row 1, column 'high': high .* < low",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refusals_name_file_row_column_and_keep_the_store(case, tmp_path):
    from zoo.cli import main

    store, files = _store(tmp_path)
    first, rest = (pd.read_csv(f, dtype={"symbol": str}, parse_dates=["date"]) for f in files)
    make, message = REFUSALS[case]
    bad = tmp_path / "bad" / "bad.csv"
    bad.parent.mkdir()
    frame = make(first, rest)
    frame.assign(date=frame["date"].dt.strftime("%Y-%m-%d")).to_csv(bad, index=False)
    before = store_digest(store)
    with pytest.raises(DataError, match=message) as err:
        append_store(store, [bad])
    assert str(bad) in str(err.value) and "\n" not in str(err.value)
    assert main(["data", "append", str(bad), "--to", str(store)]) == 2
    assert store_digest(store) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_identical_resent_rows_are_skipped(tmp_path):
    store, files = _store(tmp_path)
    first, rest = (pd.read_csv(f, dtype={"symbol": str}) for f in files)
    again = tmp_path / "again" / "again.csv"
    again.parent.mkdir()
    pd.concat([first.iloc[-10:], rest]).to_csv(again, index=False)
    before = store_digest(store)
    nothing = append_store(store, [files[0]])
    assert nothing.rewritten == "none" and nothing.skipped_rows == len(first)
    assert store_digest(store) == before
    result = append_store(store, [again])
    assert result.skipped_rows == 10
    assert_same_cube(read_store(store), ensure_labels(ingest(files)))


def test_more_refusals_keep_the_store(tmp_path):
    store, files = _store(tmp_path)
    before = store_digest(store)
    with pytest.raises(DataError, match=r"piece1\.csv.*duplicate \(date, symbol\)"):
        append_store(store, [files[1], files[1]])
    with pytest.raises(DataError, match="no such file"):
        append_store(store, [tmp_path / "missing.csv"])
    assert store_digest(store) == before
    synth = tmp_path / "synth.zarr"
    from zoo.datasets.synth import make_market

    write_cube(make_market(n_stocks=10, start="2020-01-01", end="2020-03-31", seed=0), synth)
    with pytest.raises(DataError, match=r"synth\.zarr: cannot be appended to: it lacks"):
        append_store(synth, [files[1]])
    table = tmp_path / "stocks.csv"
    pd.DataFrame({"symbol": list(SYMBOLS), "industry": "银行", "float_shares_2018_1e8": 10.0}).to_csv(
        table, index=False
    )
    with_table = tmp_path / "t.zarr"
    write_cube(ingest(files[:1], symbols_file=table), with_table)
    with pytest.raises(DataError, match="symbol table"):
        append_store(with_table, [files[1]])
    assert_same_cube(
        append_cube(read_store(with_table), [files[1]], symbols_file=table).cube,
        ingest(files, symbols_file=table),
    )


def test_an_index_file_given_later_adds_the_levels(tmp_path):
    store, files = _store(tmp_path)
    dates = pd.bdate_range("2021-01-04", periods=90)
    index = tmp_path / "index.csv"
    pd.DataFrame({"date": dates, "symbol": "000300.SH", "close": np.linspace(4000, 4100, 90)}).to_csv(
        index, index=False
    )
    assert append_store(store, [files[1]], index_file=index).rewritten == "full"
    assert_same_cube(read_store(store), ensure_labels(ingest(files, index_file=index)))


class Boom(Exception):
    pass


@pytest.mark.parametrize("fail_at", ["append_dim", "rename"])
def test_a_failed_write_leaves_the_old_store_whole(fail_at, tmp_path, monkeypatch):
    store, files = _store(tmp_path)
    before = store_digest(store)
    import xarray as xr

    real_to_zarr = xr.Dataset.to_zarr
    real_replace = os.replace

    def to_zarr(self, *a, **k):
        if fail_at == "append_dim" and k.get("append_dim"):
            raise Boom("disk full")  # after the region write into the clone
        return real_to_zarr(self, *a, **k)

    def replace(src, dst):
        if fail_at == "rename" and ".tmp-" in str(src):
            raise Boom("rename failed")
        return real_replace(src, dst)

    monkeypatch.setattr(xr.Dataset, "to_zarr", to_zarr)
    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(Boom):
        append_store(store, [files[1]])
    monkeypatch.undo()
    if not store.exists():  # the rename case: the old store was moved aside, put it back as a user would
        (old,) = tmp_path.glob(".s.zarr.old-*")
        os.replace(old, store)
    assert store_digest(store) == before
    assert not list(tmp_path.glob(".s.zarr.tmp-*"))
    read_store(store)


def test_a_tail_write_never_touches_the_old_files(tmp_path):
    """The clone is hard links: a write into it makes new files, never changes a linked one."""
    files = _write(_pieces(_market(), [60]), tmp_path)
    store = tmp_path / "s.zarr"
    write_cube(ensure_labels(ingest(files[:1])), store, date_chunk=16)
    before = store_digest(store)
    snapshot = tmp_path / "snapshot"
    shutil.copytree(store, snapshot, copy_function=os.link)  # shares every inode with the store
    inode = {p.relative_to(store): p.stat().st_ino for p in store.rglob("*") if p.is_file()}
    result = append_store(store, [files[1]])
    assert result.rewritten == "tail" and result.first_changed == pd.Timestamp("2021-02-26")  # date 39
    assert store_digest(snapshot) == before
    assert_same_cube(read_store(store), ensure_labels(ingest(files)))
    # only the date chunks from the first changed date's (39 // 16 = 2) on were written
    for var in ("bars", "size", "label_raw", "in_universe"):
        for p in (store / var / "c").rglob("*"):
            if p.is_file():
                block = int(
                    p.relative_to(store / var / "c").parts[list(read_store(store)[var].dims).index("date")]
                )
                kept = inode.get(p.relative_to(store)) == p.stat().st_ino
                assert kept == (block < 2), (var, p)


def test_cli_append(tmp_path, capsys):
    from zoo.cli import main

    store, files = _store(tmp_path)
    assert main(["data", "append", str(files[1]), "--to", str(store)]) == 0
    out = capsys.readouterr().out
    assert "appended 30 days (2021-03-29..2021-05-07)" in out and "tail write" in out
    assert main(["data", "append", str(files[1]), "--to", str(store)]) == 0
    assert "nothing to append" in capsys.readouterr().out


@pytest.mark.real_data  # collected only where the full data set is (tests/conftest.py), never a skip line
def test_real_data_appended_in_pieces_equals_one_ingest(tmp_path):
    import pyarrow.parquet as pq

    end = pd.Timestamp("2016-04-01").date()
    df = pq.read_table(REAL / "daily.parquet", filters=[("date", "<", end)]).to_pandas()
    df["symbol"] = df["symbol"].astype(str)
    keep = np.sort(df["symbol"].unique())[::40][:50]  # about 50 symbols across boards, late listings too
    df = df[df["symbol"].isin(keep)]
    files = _write(_pieces(df, [100, 101, 130]), tmp_path, "parquet")
    kw = dict(symbols_file=REAL / "stocks.csv", index_file=REAL / "index_daily.parquet")
    store = tmp_path / "real.zarr"
    write_cube(ensure_labels(ingest(files[:1], **kw)), store)
    for f in files[1:]:
        result = append_store(store, [f], **kw)
        # only the last weeks are derived: from the eve of the month of the first completed label
        assert pd.Timedelta(0) < result.new_dates[0] - result.derived_from < pd.Timedelta(days=75)
    assert_same_cube(read_store(store), ensure_labels(ingest(files, **kw)))
