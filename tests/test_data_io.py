"""Zarr round trip, atomic writes, schema validation, ingest (bad input refused), the embedded slice, CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import REAL_DATA as REAL
from zoo.datasets import describe_cube, fingerprint, open_cube, validate_cube, write_cube
from zoo.datasets.ingest import ingest
from zoo.datasets.synth import make_market

from zoo.errors import DataError


@pytest.fixture(scope="module")
def small():
    return make_market(n_stocks=25, start="2020-01-01", end="2020-06-30", seed=1)


def test_zarr_round_trip_is_exact(small, tmp_path):
    path = write_cube(small, tmp_path / "c.zarr")
    back = open_cube(path)
    for v in small.data_vars:
        assert back[v].dtype == small[v].dtype, v
        assert np.array_equal(back[v].values, small[v].values, equal_nan=True), v
    assert list(back["symbol"].values) == list(small["symbol"].values)
    assert back.attrs["industry_names"] == small.attrs["industry_names"]
    assert fingerprint(back) == fingerprint(small)


def test_write_is_atomic_and_failure_keeps_old_store(small, tmp_path, monkeypatch):
    path = write_cube(small, tmp_path / "c.zarr")
    before = sorted(p.name for p in tmp_path.iterdir())

    class Boom(Exception):
        pass

    def broken(*a, **k):
        raise Boom("disk full")

    monkeypatch.setattr("xarray.Dataset.to_zarr", broken)
    with pytest.raises(Boom):
        write_cube(small.isel(symbol=slice(0, 5)), path)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no temp folder left behind
    assert open_cube(path).sizes["symbol"] == 25
    with pytest.raises(DataError, match="already exists"):
        write_cube(small, path, overwrite=False)


def test_validation_names_store_and_problem(small, tmp_path):
    with pytest.raises(DataError, match="missing variable 'breach'"):
        validate_cube(small.drop_vars("breach"), where="X")
    bad = small.copy(deep=True)
    d, s = np.argwhere(np.isfinite(bad["bars"].values[..., 1]))[0]
    bad["bars"].values[d, s, 1] = 0.001  # high below low
    with pytest.raises(DataError, match="high < low"):
        validate_cube(bad)
    w = small.copy(deep=True)
    w["index_weight"].values[0, 40] *= 2
    with pytest.raises(DataError, match="sums to"):
        validate_cube(w)
    with pytest.raises(DataError, match="field"):
        validate_cube(small.assign_coords(field=list("abcdef")))
    with pytest.raises(DataError, match="no such data store"):
        open_cube(tmp_path / "nope.zarr")
    (tmp_path / "junk.zarr").mkdir()
    with pytest.raises(DataError, match="junk.zarr"):
        open_cube(tmp_path / "junk.zarr")


def test_open_synth_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("DECOMPZOO_CACHE", str(tmp_path))
    monkeypatch.setattr("zoo.datasets.synth.DEFAULT_START", "2020-01-01")
    monkeypatch.setattr("zoo.datasets.synth.DEFAULT_END", "2020-03-31")

    import zoo.datasets.synth as synth

    real_make = synth.make_market
    calls = []

    def counting(**kw):
        calls.append(kw)
        return real_make(start="2020-01-01", end="2020-03-31", **kw)

    monkeypatch.setattr(synth, "make_market", counting)
    a = open_cube("synth:20")
    b = open_cube("synth:20")
    assert len(calls) == 1 and a.sizes["symbol"] == 20
    assert "label_raw" in b.data_vars and "feasible_return" in b.data_vars
    with pytest.raises(DataError, match="synth:N_STOCKS"):
        open_cube("synth:abc")


def test_embedded_slice_opens_and_describes():
    cube = open_cube("embedded")
    assert cube.sizes["symbol"] == 300 and cube.sizes["date"] == 1817
    assert "index_close" in cube.data_vars and "label_neutral" in cube.data_vars
    text = describe_cube(cube)
    for word in ("dates", "symbols", "universes", "missing", "provenance", "tracking", "csi1000"):
        assert word in text
    w = cube["index_weight"].values.sum(axis=2)
    assert np.allclose(w[w > 0], 1.0, atol=1e-4)
    groups = cube.attrs["slice_group"]
    counts = {g: groups.count(g) for g in set(groups)}
    assert counts == {"csi300": 75, "csi500": 75, "csi1000": 75, "other": 75}


def _long(n_days=40, symbols=("000001.SZ", "600000.SH", "300750.SZ"), seed=0):
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2021-01-04", periods=n_days)
    rows = []
    for s in symbols:
        close = 10 * np.exp(np.cumsum(rng.normal(0, 0.01, n_days)))
        opn = close * (1 + rng.normal(0, 0.003, n_days))
        hi = np.maximum(opn, close) * 1.01
        lo = np.minimum(opn, close) * 0.99
        vol = rng.integers(1_000, 10_000, n_days) * 100
        rows.append(
            pd.DataFrame(
                {
                    "date": dates.strftime("%Y-%m-%d"),
                    "symbol": s,
                    "open": opn,
                    "high": hi,
                    "low": lo,
                    "close": close,
                    "volume": vol,
                    "amount": vol * close,
                    "industry": "银行",
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def test_ingest_csv_builds_a_valid_cube_with_proxies(tmp_path):
    df = _long()
    df = df.drop(index=[5, 6]).reset_index(drop=True)  # a two-day suspension of the first stock
    f = tmp_path / "bars.csv"
    df.drop(columns=["amount"]).to_csv(f, index=False)
    cube = ingest([f])
    validate_cube(cube)
    assert cube.sizes["symbol"] == 3 and cube.sizes["date"] == 40
    assert cube["suspended"].values[5:7, 0].all() and not cube["suspended"].values[:, 1].any()
    assert "typical price" in cube.attrs["proxies"]
    c = cube["bars"].sel(field="close").values
    assert np.isfinite(cube["size"].values[10:, 1]).all()
    assert cube.attrs["industry_names"][cube["industry"].values[0]] == "Banks"
    # size proxy at t uses amounts up to t only
    amount = (cube["bars"].sel(field="vwap").values * cube["bars"].sel(field="volume").values).astype(float)
    t = 30
    assert cube["size"].values[t, 1] == pytest.approx(np.log(amount[t - 19 : t + 1, 1].mean()), rel=1e-4)
    assert np.isfinite(c).sum() == len(df)


def test_ingest_parquet_several_files_and_breach_flags(tmp_path):
    df = _long(symbols=("000001.SZ", "600000.SH"))
    i = df.index[(df["symbol"] == "600000.SH")][20]
    df.loc[i:, ["open", "high", "low", "close"]] = df.loc[i:, ["open", "high", "low", "close"]].where(
        df.loc[i:, "symbol"] != "600000.SH", df.loc[i:, ["open", "high", "low", "close"]] / 2
    )  # a 2-for-1 split, unadjusted: a -50 % "return"
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    df.iloc[: len(df) // 2].to_parquet(a)
    df.iloc[len(df) // 2 :].to_parquet(b)
    cube = ingest([a, b])
    br = cube["breach"].values
    assert br.sum() == 1 and br[20, 1]
    # the same (date, symbol) in two files names both
    c = tmp_path / "c.parquet"
    df.iloc[[3]].to_parquet(c)
    msg = r"c.parquet, row 1, column 'date': duplicate .* also in .*a.parquet row 4"
    with pytest.raises(DataError, match=msg):
        ingest([a, b, c])


def test_ingest_integer_dates(tmp_path):
    df = _long(n_days=10)
    df["date"] = pd.to_datetime(df["date"]).dt.strftime("%Y%m%d").astype(int)
    f = tmp_path / "int.csv"
    df.to_csv(f, index=False)
    cube = ingest([f])
    assert pd.Timestamp(cube["date"].values[0]) == pd.Timestamp("2021-01-04") and cube.sizes["date"] == 10


BAD_CASES = [
    ("date", lambda d: d.assign(date=d["date"].where(d.index != 7, "2021-13-45")), r"row 8, column 'date'"),
    ("dup", lambda d: pd.concat([d, d.iloc[[3]]], ignore_index=True), r"row 121, column 'date': duplicate"),
    ("neg", lambda d: d.assign(low=d["low"].where(d.index != 11, -1.0)), r"row 12, column 'low'"),
    (
        "hl",
        lambda d: d.assign(high=d["high"].where(d.index != 4, d["low"] * 0.5)),
        r"row 5, column 'high': high .* < low",
    ),
    ("col", lambda d: d.drop(columns=["close"]), r"column 'close': missing required column"),
    ("num", lambda d: d.astype({"volume": object}).assign(
        volume=lambda x: x["volume"].where(x.index != 2, "n/a")), r"row 3, column 'volume'"),
]  # fmt: skip


@pytest.mark.parametrize("name,corrupt,message", BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_input_is_refused_and_old_store_kept(name, corrupt, message, tmp_path):
    from zoo.cli import main

    good = tmp_path / "good.csv"
    _long().to_csv(good, index=False)
    store = tmp_path / "cube.zarr"
    assert main(["data", "ingest", str(good), "--out", str(store), "--no-labels"]) == 0
    before = fingerprint(open_cube(store))
    bad = tmp_path / f"bad_{name}.csv"
    corrupt(_long()).to_csv(bad, index=False)
    with pytest.raises(DataError, match=message) as err:
        ingest([bad])
    assert str(bad) in str(err.value)
    assert main(["data", "ingest", str(bad), "--out", str(store), "--no-labels"]) == 2
    assert fingerprint(open_cube(store)) == before


def test_embedded_slice_reingests_to_the_same_bars(tmp_path):
    """The real slice, written back as long rows, ingests to identical bars and flags."""
    cube = open_cube("embedded").isel(symbol=slice(0, 12))
    bars = cube["bars"].to_dataframe("v")["v"].unstack("field").dropna()
    df = bars.reset_index()
    df["amount"] = df["vwap"] * df["volume"]
    br = cube["breach"].to_dataframe("limit_breach")["limit_breach"]
    keys = pd.MultiIndex.from_frame(df[["date", "symbol"]])
    df["limit_breach"] = br.reindex(keys).to_numpy().astype("int8")
    f = tmp_path / "slice.parquet"
    df.to_parquet(f)
    back = ingest([f])
    validate_cube(back)
    sub = cube.sel(date=back["date"].values)
    assert np.array_equal(back["bars"].values, sub["bars"].values, equal_nan=True)
    assert np.array_equal(back["breach"].values, sub["breach"].values)
    assert np.array_equal(back["suspended"].values, sub["suspended"].values)


@pytest.mark.real_data  # collected only where the full data set is (tests/conftest.py), never a skip line
def test_real_data_first_months_ingest(tmp_path):
    import pyarrow.parquet as pq

    table = pq.read_table(REAL / "daily.parquet", filters=[("date", "<", pd.Timestamp("2015-11-01").date())])
    df = table.to_pandas()
    df = df[df["symbol"].astype(str).str[:3].isin(["600", "000", "300"])].iloc[::3]
    keep = df["symbol"].drop_duplicates().iloc[:150]
    df = df[df["symbol"].isin(keep)]
    f = tmp_path / "real.parquet"
    df.to_parquet(f)
    cube = ingest([f], symbols_file=REAL / "stocks.csv", index_file=REAL / "index_daily.parquet")
    validate_cube(cube)
    assert cube.sizes["symbol"] == 150 and "index_close" in cube.data_vars
    assert "float_shares_2018" in cube.attrs["proxies"]


def test_cli_info_and_synth(tmp_path, capsys):
    from zoo.cli import main

    out = tmp_path / "s.zarr"
    args = ["data", "synth", "--out", str(out), "--stocks", "30"]
    args += ["--start", "2020-01-01", "--end", "2020-09-30"]
    assert main(args) == 0
    assert main(["data", "info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "oracle RankIC h=10" in text and "30 (listed per day" in text
    assert "feasible oracle (Kalman filter on observed prices): " in text
    assert main(["data", "info", str(tmp_path / "missing.zarr")]) == 2


def test_ingest_has_no_look_ahead(tmp_path):
    """Changing or deleting every row after t leaves every array at dates <= t unchanged."""
    df = _long(n_days=120, symbols=("000001.SZ", "600000.SH", "300750.SZ", "600519.SH", "002415.SZ"))
    f = tmp_path / "all.csv"
    df.to_csv(f, index=False)
    base = ingest([f])
    t = pd.Timestamp("2021-04-15")
    fut = pd.to_datetime(df["date"]) > t
    scaled = df.copy()
    rng = np.random.default_rng(3)
    k = rng.uniform(0.7, 1.3, fut.sum())
    for col in ("open", "high", "low", "close"):
        scaled.loc[fut, col] = scaled.loc[fut, col] * k
    scaled.loc[fut, "volume"] = (scaled.loc[fut, "volume"] * 3).astype(int)
    scaled.loc[fut, "amount"] = scaled.loc[fut, "amount"] * 3 * k
    variants = {"scaled": scaled, "cut": df[~fut]}
    for name, frame in variants.items():
        g = tmp_path / f"{name}.csv"
        frame.to_csv(g, index=False)
        other = ingest([g])
        for v in base.data_vars:
            a, b = base[v], other[v]
            if "date" in a.dims:
                a, b = a.sel(date=slice(None, t)), b.sel(date=slice(None, t))
            a, b = a.values, b.values
            assert np.array_equal(a, b, equal_nan=True), (name, v)


def test_ingest_csv_keeps_leading_zeros_and_aliases(tmp_path):
    df = _long(n_days=8, symbols=("000001", "600000")).rename(columns={"symbol": "Ticker", "close": "Close"})
    f = tmp_path / "t.csv"
    df.to_csv(f, index=False)
    cube = ingest([f])
    assert list(cube["symbol"].values) == ["000001", "600000"]


def test_ingest_csv_breach_flags_parse(tmp_path):
    df = _long(n_days=12)
    df["limit_breach"] = 0
    df.loc[5, "limit_breach"] = 1
    f = tmp_path / "b.csv"
    df.to_csv(f, index=False)
    cube = ingest([f])
    assert int(cube["breach"].values.sum()) == 1 and cube["breach"].values[5, 0]
    df["limit_breach"] = df["limit_breach"].astype(object)
    df.loc[6, "limit_breach"] = "yes"
    df.to_csv(f, index=False)
    with pytest.raises(DataError, match=r"row 7, column 'limit_breach'"):
        ingest([f])
