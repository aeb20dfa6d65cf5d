"""Readers: a qlib provider folder, Tushare / AKShare / baostock exports and wide tables ingest to the cube
the zoo's own long files give; adjustment factors; real index membership; refusals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from zoo.datasets.ingest import ingest
from zoo.datasets.labels import ensure_labels
from zoo.datasets.readers import ReadOptions
from zoo.datasets.readers.qlib import dump_qlib
from zoo.datasets.stores import describe_cube

from zoo.cli import main
from zoo.errors import DataError

SYMBOLS = ("000001.SZ", "300750.SZ", "600000.SH", "688001.SH")


def bars(n_days: int = 90, symbols=SYMBOLS, seed: int = 0) -> pd.DataFrame:
    """Raw long bars at cent prices, volumes in whole lots, one suspension and one late listing."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2021-01-04", periods=n_days)
    rows = []
    for k, s in enumerate(symbols):
        close = np.round(10 * (k + 1) * np.exp(np.cumsum(rng.normal(0, 0.012, n_days))), 2)
        opn = np.round(close * (1 + rng.normal(0, 0.003, n_days)), 2)
        hi = np.round(np.maximum(opn, close) * 1.01, 2)
        lo = np.round(np.minimum(opn, close) * 0.99, 2)
        vol = rng.integers(1_000, 10_000, n_days).astype(np.int64) * 100
        amount = np.round(vol * (hi + lo) / 2, 2)  # float64: CSV text round-trips it exactly
        rows.append(
            pd.DataFrame(
                dict(date=dates, symbol=s, open=opn, high=hi, low=lo, close=close, volume=vol, amount=amount)
            )
        )
    df = pd.concat(rows, ignore_index=True)
    df = df.drop(index=[5, 6, 7])  # a suspension of the first stock
    df = df[~((df["symbol"] == symbols[-1]) & (df["date"] < dates[10]))]  # a late listing
    for c in ("open", "high", "low", "close"):
        df[c] = df[c].astype(np.float32)
    return df.sort_values(["date", "symbol"]).reset_index(drop=True)


def with_ex_rights(df: pd.DataFrame, symbol: str, day: int, ratio: float = 2.0) -> pd.DataFrame:
    """Raw prices / ``ratio`` from the ``day``-th bar of ``symbol`` on (a 10-for-10 bonus), volume x ratio,
    with the factor stepping by ``ratio``: the adjusted series is the original one."""
    out = df.copy()
    rows = np.flatnonzero(out["symbol"].to_numpy() == symbol)[day:]
    for c in ("open", "high", "low", "close"):
        out.loc[rows, c] = np.round(out.loc[rows, c].to_numpy(np.float64) / ratio, 2).astype(np.float32)
    out.loc[rows, "volume"] = out.loc[rows, "volume"] * ratio
    if "adj_factor" not in out:
        out["adj_factor"] = 1.0
    out.loc[rows, "adj_factor"] = out.loc[rows, "adj_factor"] * ratio
    return out


def _equal(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and bool(((a == b) | (pd.isna(a) & pd.isna(b))).all())


def _cube_vars_equal(ref, other) -> None:
    for v in ref.data_vars:
        assert _equal(ref[v].values, other[v].values), v
    for c in ("date", "symbol"):
        assert _equal(ref[c].values.astype(str), other[c].values.astype(str)), c


# --------------------------------------------------------------------------- qlib


def test_qlib_folder_with_factor_one_ingests_as_the_parquet(tmp_path):
    df = bars().astype({"amount": np.float32})  # qlib stores float32, as the shared market's parquet does
    df.to_parquet(tmp_path / "bars.parquet")
    dump_qlib(df, tmp_path / "qlib")
    ref = ensure_labels(ingest([tmp_path / "bars.parquet"]))
    got = ensure_labels(ingest([tmp_path / "qlib"]))
    assert got.attrs["source"].startswith("ingest (qlib) of ")
    _cube_vars_equal(ref, got)  # every variable of the parquet cube, bit for bit
    assert _equal(got["raw_bars"].values, ref["bars"].values)
    assert (got["input_factor"].values[np.isfinite(got["input_factor"].values)] == 1).all()


def test_qlib_factor_steps_recover_raw_bars_and_keep_windows_and_labels(tmp_path):
    plain = bars()
    split = with_ex_rights(plain, "600000.SH", day=40)
    split.drop(columns="adj_factor").to_parquet(tmp_path / "raw.parquet")
    dump_qlib(split, tmp_path / "qlib")
    raw = ensure_labels(ingest([tmp_path / "raw.parquet"]))
    adj = ensure_labels(ingest([tmp_path / "qlib"]))
    s = list(adj["symbol"].values).index("600000.SH")
    # raw bars recovered from qlib's adjusted ones (to float32 rounding)
    np.testing.assert_allclose(adj["raw_bars"].values, raw["bars"].values, rtol=2e-7, equal_nan=True)
    # the ex-rights day is a breach without the factor, not with it
    assert raw["breach"].values[:, s].sum() == 1 and adj["breach"].values.sum() == 0
    # adjusted closes are the original series (factor / its first value = 1, then 2)
    np.testing.assert_allclose(
        adj["bars"].sel(symbol="600000.SH", field="close").values,
        plain[plain["symbol"] == "600000.SH"]["close"].to_numpy(np.float64),
        atol=0.0101,  # the halved raw prices were rounded to cents
    )
    # labels across the ex-rights day: NaN without the factor, the true return with it
    lr, la = raw["label_raw"].sel(horizon=10).values[:, s], adj["label_raw"].sel(horizon=10).values[:, s]
    assert np.isfinite(la).sum() > np.isfinite(lr).sum()
    ref = ensure_labels(ingest([_write(plain, tmp_path / "plain.parquet")]))
    np.testing.assert_allclose(la, ref["label_raw"].sel(horizon=10).values[:, s], atol=2e-3, equal_nan=True)
    # limits from raw prices: the same flags as the raw ingest
    assert _equal(adj["limit_up"].values, raw["limit_up"].values)
    assert _equal(adj["limit_down"].values, raw["limit_down"].values)
    assert "backward-adjusted" in adj.attrs["adjustment"]
    assert adj.attrs["ingest_derivation"] == 3 and raw.attrs["ingest_derivation"] == 2  # older zoos refuse 3


def _write(df: pd.DataFrame, path):
    df.to_parquet(path)
    return path


def test_adjustment_is_causal(tmp_path):
    """Factors after t (a later ex-rights event, or a source re-anchoring its factor) change nothing at t."""
    split = with_ex_rights(bars(), "600000.SH", day=40)
    later = with_ex_rights(split, "600000.SH", day=70, ratio=1.5)
    a = ingest([_write(split, tmp_path / "a.parquet")])
    b = ingest([_write(later, tmp_path / "b.parquet")])
    d = pd.DatetimeIndex(a["date"].values)
    cut = later[later["symbol"] == "600000.SH"]["date"].iloc[70]
    keep = d < cut
    for v in ("bars", "breach", "limit_up", "size", "in_universe"):
        assert _equal(
            a[v].isel(date=np.flatnonzero(keep)).values, b[v].isel(date=np.flatnonzero(keep)).values
        ), v
    scaled = split.assign(adj_factor=split["adj_factor"] * 7.0)  # another anchoring of the same factor
    c = ingest([_write(scaled, tmp_path / "c.parquet")])
    assert _equal(a["bars"].values, c["bars"].values)


def test_qlib_membership_spells_define_the_universe_inclusively(tmp_path):
    df = bars()
    dates = pd.DatetimeIndex(np.sort(df["date"].unique()))
    spells = pd.DataFrame(
        {
            "index": ["csi300", "csi300", "csi300"],
            "symbol": ["600000.SH", "600000.SH", "000001.SZ"],
            "start": [dates[0], dates[50], dates[20]],
            "end": [dates[9], dates[60], dates[-1]],
        }
    )
    dump_qlib(df, tmp_path / "qlib", spells=spells)
    cube = ingest([tmp_path / "qlib"])
    member = cube["in_universe"].sel(universe="csi300")
    expect = np.zeros(member.shape, bool)
    syms = list(cube["symbol"].values)
    expect[0:10, syms.index("600000.SH")] = True
    expect[50:61, syms.index("600000.SH")] = True
    expect[20:, syms.index("000001.SZ")] = True
    assert _equal(member.values, expect)
    w = cube["index_weight"].sel(index="csi300").values
    capped = expect.any(1) & (np.arange(len(w)) >= 4)  # a proxy cap needs 5 bars of amount
    assert np.allclose(w.sum(1)[capped], 1.0) and (w[~expect] == 0).all()
    text = describe_cube(cube)
    assert "csi300 real: qlib/instruments/csi300.txt" in text and "csi500 stand-in" in text


def test_qlib_instruments_and_dates_select(tmp_path):
    df = bars()
    dates = pd.DatetimeIndex(np.sort(df["date"].unique()))
    spells = pd.DataFrame(
        {"index": ["csi500"], "symbol": ["300750.SZ"], "start": [dates[0]], "end": [dates[-1]]}
    )
    dump_qlib(df, tmp_path / "qlib", spells=spells)
    opts = ReadOptions(start=str(dates[5].date()), end=str(dates[30].date()), instruments="csi500")
    cube = ingest([tmp_path / "qlib"], options=opts)
    assert list(cube["symbol"].values) == ["300750.SZ"]
    assert (
        pd.Timestamp(cube["date"].values[0]) == dates[5]
        and pd.Timestamp(cube["date"].values[-1]) == dates[30]
    )
    with pytest.raises(DataError, match="csi800.txt: no such market file"):
        ingest([tmp_path / "qlib"], options=ReadOptions(instruments="csi800"))


def test_qlib_own_reader_agrees(tmp_path):
    """qlib's own reader (the oracle, where pyqlib installs): adjusted close, volume, factor, membership."""
    qlib = pytest.importorskip("qlib")
    from qlib.data import D

    split = with_ex_rights(bars(), "600000.SH", day=40)
    dates = np.sort(split["date"].unique())
    spells = pd.DataFrame(
        {
            "index": ["csi300"] * 3,
            "symbol": ["600000.SH", "600000.SH", "300750.SZ"],
            "start": [dates[0], dates[40], dates[5]],
            "end": [dates[20], dates[-1], dates[50]],
        }
    )
    dump_qlib(split, tmp_path / "qlib", spells=spells)
    qlib.init(provider_uri=str(tmp_path / "qlib"), region="cn", kernels=1)
    theirs = D.features(["SH600000"], ["$close", "$factor", "$volume"], freq="day")
    cube = ingest([tmp_path / "qlib"])
    mine = cube.sel(symbol="600000.SH")
    dates = pd.DatetimeIndex(theirs.index.get_level_values("datetime"))
    raw_close = mine["raw_bars"].sel(field="close").to_series().reindex(dates).to_numpy()
    raw_vol = mine["raw_bars"].sel(field="volume").to_series().reindex(dates).to_numpy()
    np.testing.assert_allclose(
        raw_close * theirs["$factor"].to_numpy(), theirs["$close"].to_numpy(), rtol=1e-6
    )
    np.testing.assert_allclose(
        raw_vol / theirs["$factor"].to_numpy(), theirs["$volume"].to_numpy(), rtol=1e-6
    )
    # membership: qlib's own reading of instruments/csi300.txt, day by day
    spans = D.list_instruments(D.instruments("csi300"), as_list=False)
    assert set(spans) == {"SH600000", "SZ300750"}
    cal = pd.DatetimeIndex(D.calendar(freq="day"))
    member = cube["in_universe"].sel(universe="csi300")
    for sym in cube["symbol"].values:
        q = str(sym)[7:] + str(sym)[:6]
        theirs_in = np.zeros(len(cal), bool)
        for a, b in spans.get(q, []):
            theirs_in |= (cal >= pd.Timestamp(a)) & (cal <= pd.Timestamp(b))
        assert (member.sel(symbol=sym).values == theirs_in).all(), sym


def test_qlib_append_equals_one_ingest(tmp_path):
    from zoo.datasets.append import append_store
    from zoo.datasets.schema import write_cube

    full = with_ex_rights(bars(n_days=120), "600000.SH", day=100)
    dates = np.sort(full["date"].unique())
    spells = pd.DataFrame(
        {
            "index": ["csi300"] * 2,
            "symbol": ["600000.SH", "000001.SZ"],
            "start": [dates[0], dates[30]],
            "end": [dates[-1], dates[110]],
        }
    )
    dump_qlib(full[full["date"] <= dates[80]], tmp_path / "early", spells=spells)
    dump_qlib(full, tmp_path / "later", spells=spells)
    store = tmp_path / "s.zarr"
    write_cube(ensure_labels(ingest([tmp_path / "early"])), store)
    result = append_store(store, [tmp_path / "later"])
    assert len(result.new_dates) == len(dates) - 81
    once = ensure_labels(ingest([tmp_path / "later"]))
    _cube_vars_equal(once, result.cube.load())
    assert result.cube.attrs["index_membership"]["csi300"].startswith("real")


# --------------------------------------------------------------------------- vendor exports


def test_tushare_daily_units_and_adj_factor(tmp_path):
    df = with_ex_rights(bars(), "600000.SH", day=40)
    ts = pd.DataFrame(
        {
            "ts_code": df["symbol"],
            "trade_date": df["date"].dt.strftime("%Y%m%d"),
            "open": df["open"],
            "high": df["high"],
            "low": df["low"],
            "close": df["close"],
            "pre_close": np.nan,
            "vol": df["volume"] / 100,  # lots
            "amount": df["amount"].astype(np.float64) / 1000,  # thousands of CNY
            "adj_factor": df["adj_factor"] * 3.0,  # Tushare's factor from listing: anchoring does not matter
        }
    )
    ts.to_csv(tmp_path / "daily.csv", index=False)
    cube = ingest([tmp_path / "daily.csv"])  # detected
    ref = ingest([_write(df, tmp_path / "ref.parquet")])
    np.testing.assert_allclose(
        cube["raw_bars"].sel(field="volume").values, ref["raw_bars"].sel(field="volume").values
    )
    np.testing.assert_allclose(cube["input_amount"].values, ref["input_amount"].values, rtol=1e-6)
    np.testing.assert_allclose(cube["bars"].values, ref["bars"].values, rtol=1e-6)
    assert cube.attrs["source"].startswith("ingest (tushare)")
    ts.drop(columns="vol").to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataError, match=r"bad.csv, column 'vol': missing; a Tushare daily export has"):
        ingest([tmp_path / "bad.csv"], fmt="tushare")


def test_akshare_one_file_per_stock_in_lots(tmp_path):
    df = bars()
    folder = tmp_path / "ak"
    folder.mkdir()
    for sym, g in df.groupby("symbol"):
        ak = pd.DataFrame(
            {
                "日期": g["date"].dt.strftime("%Y-%m-%d"),
                "开盘": g["open"],
                "收盘": g["close"],
                "最高": g["high"],
                "最低": g["low"],
                "成交量": g["volume"] // 100,
                "成交额": g["amount"],
                "振幅": 0.0,
            }
        )
        if sym != "600000.SH":  # newer AKShare writes the code; older files carry it in the name only
            ak.insert(1, "股票代码", sym[:6])
        ak.to_csv(folder / f"{sym[:6]}.csv", index=False)
    cube = ingest([folder])
    ref = ingest([_write(df, tmp_path / "ref.parquet")])
    assert list(cube["symbol"].values) == list(ref["symbol"].values)
    _cube_vars_equal(ref, cube)
    bad = pd.read_csv(folder / "000001.csv", dtype=str)
    bad.loc[3, "收盘"] = "1o.5"
    bad.to_csv(folder / "000001.csv", index=False)
    with pytest.raises(DataError, match=r"000001.csv, row 4, column '收盘': '1o.5' is not a number"):
        ingest([folder], fmt="akshare")


def test_baostock_codes_tradestatus_and_st(tmp_path):
    df = bars()
    bs = pd.DataFrame(
        {
            "date": df["date"].dt.strftime("%Y-%m-%d"),
            "code": df["symbol"].str[7:].str.lower() + "." + df["symbol"].str[:6],
            "open": df["open"],
            "high": df["high"],
            "low": df["low"],
            "close": df["close"],
            "preclose": df["close"],
            "volume": df["volume"],
            "amount": df["amount"],
            "adjustflag": 3,
            "tradestatus": 1,
            "isST": (df["symbol"] == "000001.SZ").astype(int),
        }
    )
    suspended = bs.iloc[[20]].assign(tradestatus=0, volume=0)  # a suspension row with a stale price
    d, s = pd.Timestamp(bs["date"].iloc[20]), df["symbol"].iloc[20]
    bs = bs.drop(index=20)
    bs = pd.concat([bs, suspended]).sort_index()
    bs.to_csv(tmp_path / "k.csv", index=False)
    cube = ingest([tmp_path / "k.csv"])
    assert cube.attrs["source"].startswith("ingest (baostock)")
    assert bool(cube["suspended"].sel(date=d, symbol=s))
    st, traded = cube["st"].values, np.isfinite(cube["bars"].sel(field="close").values)
    assert (st[:, 0] == traded[:, 0]).all() and st[:, 1:].sum() == 0  # isST on 000001.SZ's bars
    bs.assign(adjustflag=2).to_csv(tmp_path / "qfq.csv", index=False)
    with pytest.raises(DataError, match=r"qfq.csv, row 1, column 'adjustflag': '2': export raw prices"):
        ingest([tmp_path / "qfq.csv"])


def test_wide_tables_per_field(tmp_path):
    df = bars()
    folder = tmp_path / "wind"
    folder.mkdir()
    for f in ("open", "high", "low", "close", "volume", "amount"):
        tab = df.pivot(index="date", columns="symbol", values=f)
        tab.index = tab.index.strftime("%Y-%m-%d")
        tab.to_csv(folder / f"{f}.csv", index_label="date")
    cube = ingest([folder])
    ref = ingest([_write(df, tmp_path / "ref.parquet")])
    _cube_vars_equal(ref, cube)
    (folder / "turnover.csv").write_text("date,600000.SH\n2021-01-04,1\n")
    with pytest.raises(DataError, match=r"turnover.csv: a wide table is named by its field"):
        ingest([folder], fmt="wide")


def test_long_membership_file_snapshots(tmp_path):
    df = bars()
    dates = pd.DatetimeIndex(np.sort(df["date"].unique()))
    snaps = pd.DataFrame(
        {
            "date": [dates[0], dates[0], dates[40]],
            "symbol": ["600000.SH", "000001.SZ", "000001.SZ"],
            "index": ["000300.SH", "csi300", "csi300"],
        }
    )
    snaps.to_csv(tmp_path / "members.csv", index=False)
    cube = ingest([_write(df, tmp_path / "b.parquet")], members_file=tmp_path / "members.csv")
    m = cube["in_universe"].sel(universe="csi300")
    assert m.sel(symbol="600000.SH").values.tolist() == [True] * 40 + [False] * (len(dates) - 40)
    assert m.sel(symbol="000001.SZ").values.all()
    assert "members.csv (dated snapshots" in cube.attrs["index_membership"]["csi300"]
    snaps.assign(weight=0.5).to_csv(tmp_path / "weighted.csv", index=False)
    cube = ingest([_write(df, tmp_path / "b.parquet")], members_file=tmp_path / "weighted.csv")
    assert "weight column is not used" in cube.attrs["index_membership"]["csi300"]
    snaps.assign(index="sse50").to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataError, match=r"bad.csv, row 1, column 'index': 'sse50' is not one of"):
        ingest([_write(df, tmp_path / "b.parquet")], members_file=tmp_path / "bad.csv")


def test_cli_failed_ingest_keeps_the_store_and_names_the_file(tmp_path, capsys):
    dump_qlib(bars(), tmp_path / "qlib")
    store = tmp_path / "s.zarr"
    assert main(["data", "ingest", str(tmp_path / "qlib"), "--out", str(store), "--no-labels"]) == 0
    before = sorted((str(p), p.stat().st_mtime_ns) for p in store.rglob("*"))
    path = tmp_path / "qlib" / "features" / "sh600000" / "close.day.bin"
    close = np.fromfile(path, dtype="<f4")
    close[4] = 1000.0  # the 4th calendar day's close above its high
    close.tofile(path)
    capsys.readouterr()
    assert main(["data", "ingest", str(tmp_path / "qlib"), "--out", str(store), "--format", "qlib"]) == 2
    err = capsys.readouterr().err
    assert "features/sh600000 on 2021-01-07, column 'close': close 1000 outside [low" in err
    assert sorted((str(p), p.stat().st_mtime_ns) for p in store.rglob("*")) == before
    assert main(["data", "info", str(store)]) == 0
    assert "indexes    : csi300 stand-in; csi500 stand-in; csi1000 stand-in" in capsys.readouterr().out


def test_qlib_append_refuses_a_reanchored_factor_and_keeps_the_store(tmp_path):
    from zoo.datasets.append import append_store
    from zoo.datasets.schema import write_cube

    full = with_ex_rights(bars(n_days=60), "600000.SH", day=20)
    dates = np.sort(full["date"].unique())
    dump_qlib(full[full["date"] <= dates[40]], tmp_path / "early")
    dump_qlib(full.assign(adj_factor=full["adj_factor"] * 1.1), tmp_path / "later")  # re-anchored
    store = tmp_path / "s.zarr"
    write_cube(ingest([tmp_path / "early"]), store)
    before = sorted((str(p), p.stat().st_mtime_ns) for p in store.rglob("*"))
    with pytest.raises(DataError, match=r"later, row \d+, column 'adj_factor': .* is stored with adj_factor"):
        append_store(store, [tmp_path / "later"])
    assert sorted((str(p), p.stat().st_mtime_ns) for p in store.rglob("*")) == before


def test_append_keeps_st_and_given_membership(tmp_path):
    """A baostock store (st from isST) with membership from a long file: an append equals one ingest."""
    from zoo.datasets.append import append_store
    from zoo.datasets.schema import write_cube

    df = bars(n_days=100)
    bs = pd.DataFrame(
        {
            "date": df["date"].dt.strftime("%Y-%m-%d"),
            "code": df["symbol"].str[7:].str.lower() + "." + df["symbol"].str[:6],
            **{c: df[c] for c in ("open", "high", "low", "close", "volume", "amount")},
            "tradestatus": 1,
            "isST": ((df["symbol"] == "000001.SZ") & (df["date"] > df["date"].iloc[200])).astype(int),
        }
    )
    dates = pd.DatetimeIndex(np.sort(df["date"].unique()))
    pd.DataFrame(
        {
            "date": [dates[0], dates[0], dates[70]],
            "symbol": ["600000.SH", "688001.SH", "688001.SH"],
            "index": "csi500",
        }
    ).to_csv(tmp_path / "members.csv", index=False)
    early = bs["date"] <= str(dates[79].date())
    bs[early].to_csv(tmp_path / "a.csv", index=False)
    bs[~early].to_csv(tmp_path / "b.csv", index=False)
    bs.to_csv(tmp_path / "all.csv", index=False)
    store = tmp_path / "s.zarr"
    write_cube(ensure_labels(ingest([tmp_path / "a.csv"], members_file=tmp_path / "members.csv")), store)
    with pytest.raises(DataError, match="its csi500 membership is real"):
        append_store(store, [tmp_path / "b.csv"])
    result = append_store(store, [tmp_path / "b.csv"], members_file=tmp_path / "members.csv")
    once = ensure_labels(ingest([tmp_path / "all.csv"], members_file=tmp_path / "members.csv"))
    _cube_vars_equal(once, result.cube.load())
    assert result.cube["st"].values.sum() > 0 and result.cube.attrs["ingest_derivation"] == 3
