"""Final models (`zoo train --final`), `zoo predict` and `zoo register` on a tiny synthetic cube."""

from __future__ import annotations

from pathlib import Path

import attrs
import numpy as np
import pandas as pd
import pytest

from zoo.errors import DataError, TrainingError

REPO = Path(__file__).resolve().parents[1]
HORIZON = 2
SETS = [
    "data.window=15",
    "data.min_history=10",
    f"data.horizon={HORIZON}",
    "train.train_years=1",
    "train.seeds=[0, 1]",
    "train.max_epochs=1",
    "train.days_per_epoch=4",
    "train.valid_stride=10",
]


def _args(store: Path) -> list[str]:
    out = ["--data", str(store)]
    for s in SETS:
        out += ["--set", s]
    return out


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    """A 30-stock cube 2018-01..2020-06 (``full``), the same cube cut at a date (``prefix``), another kind."""
    from zoo.datasets.labels import ensure_labels
    from zoo.datasets.schema import write_cube
    from zoo.datasets.synth import make_market

    tmp = tmp_path_factory.mktemp("market")
    cube = ensure_labels(make_market(n_stocks=30, start="2018-01-01", end="2020-06-30", seed=7))
    full = write_cube(cube, tmp / "full.zarr")
    # The cube as it was on an earlier day: every array cut there, labels recomputed from it alone.
    cut = int(np.searchsorted(cube["date"].values, np.datetime64("2020-05-15")))
    prefix = write_cube(ensure_labels(cube.isel(date=slice(0, cut + 1))), tmp / "prefix.zarr")
    other = cube.copy()
    other.attrs = {**cube.attrs, "adjustment": "none"}
    foreign = write_cube(other, tmp / "foreign.zarr")
    return {"full": full, "prefix": prefix, "foreign": foreign, "cube": cube, "tmp": tmp}


@pytest.fixture(scope="module")
def final_run(market):
    """`zoo train specs/gru.toml --final` on the full cube, through the CLI."""
    from zoo.cli import main

    tmp = market["tmp"]
    uri = f"sqlite:///{tmp}/mlflow.db"
    mp = pytest.MonkeyPatch()
    mp.setenv("MLFLOW_TRACKING_URI", uri)
    mp.chdir(tmp)
    try:
        assert main(["train", str(REPO / "specs/gru.toml"), "--final", *_args(market["full"])]) == 0
    finally:
        mp.undo()
    from zoo.tracking import runs as tracking

    c = tracking.client(uri)
    exp = c.get_experiment_by_name("gru")
    (run,) = c.search_runs([exp.experiment_id], "tags.`zoo.role` = 'final'")
    return uri, c, run


def test_final_split_uses_every_labelled_day_with_purge():
    from zoo.train.splits import final_split

    dates = pd.bdate_range("2018-01-01", "2020-06-30").values
    split = final_split(dates, None, 1, 1, HORIZON + 1, HORIZON)
    last_labelled = len(dates) - HORIZON - 2
    assert split.final and split.valid[-1] == last_labelled  # a label at t needs t+1+h
    assert list(split.test) == list(range(last_labelled + 1, len(dates)))
    assert split.valid[0] - split.train[-1] > HORIZON + 1  # the purge gap, as in rolling
    d = dates.astype("datetime64[D]")
    assert d[split.valid[0]] > np.datetime64("2019-06-25") and d[split.train[0]] > np.datetime64("2018-06-25")
    early = final_split(dates, "2019-12-31", 1, 1, HORIZON + 1, HORIZON)
    assert d[early.valid[-1]] == np.datetime64("2019-12-31")
    assert d[early.test[0]] == np.datetime64("2020-01-01")
    with pytest.raises(TrainingError, match="not known yet"):
        final_split(dates, str(d[-1]), 1, 1, HORIZON + 1, HORIZON)
    with pytest.raises(TrainingError, match="no room"):
        final_split(dates, "2018-09-01", 1, 1, HORIZON + 1, HORIZON)


def test_final_run_logs_spec_weights_per_seed_fingerprint_and_dates(final_run, market):
    from zoo.datasets import fingerprint, open_cube

    from zoo.tracking import store as runs

    uri, c, run = final_run
    tags = run.data.tags
    cube = open_cube(str(market["full"]))
    last = str(cube["date"].values[-1].astype("datetime64[D]"))
    assert run.info.status == "FINISHED" and tags["zoo.data_fingerprint"] == fingerprint(cube)
    assert tags["zoo.data_last_date"] == last
    assert tags["zoo.until"] == str(cube["date"].values[-HORIZON - 2].astype("datetime64[D]"))
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        folder = runs.local_artifact(c, run.info.run_id, "model", tmp)
        names = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert names == ["meta.json", "seed0/state_dict.pt", "seed1/state_dict.pt", "spec.toml"]
    children = c.search_runs([run.info.experiment_id], f"tags.`mlflow.parentRunId` = '{run.info.run_id}'")
    assert sorted(ch.data.tags["zoo.seed"] for ch in children) == ["0", "1"]


def test_predict_latest_writes_table_logs_run_and_refuses_bad_requests(final_run, market, capsys):
    from zoo.cli import main

    uri, c, run = final_run
    rid = run.info.run_id
    tmp = market["tmp"]
    out = tmp / "scores.csv"
    mp = pytest.MonkeyPatch()
    mp.setenv("MLFLOW_TRACKING_URI", uri)
    try:
        assert main(["predict", rid, "--out", str(out), "--top", "5"]) == 0
        printed = capsys.readouterr().out
        table = pd.read_csv(out)
        last = pd.Timestamp(market["cube"]["date"].values[-1])
        assert f"on {last.date()}" in printed and str(out) in printed
        assert list(table.columns[:4]) == ["symbol", "score", "rank", "percentile"]
        assert {"in_all", "in_csi300"} <= set(table.columns)
        assert table["rank"].tolist() == sorted(table["rank"]) and table["rank"].iloc[0] == 1
        assert table["percentile"].iloc[0] == 1.0 and table["score"].is_monotonic_decreasing
        # every stock eligible on the (unlabelled) last day is scored
        from zoo.train.data import open_source

        bundle_spec = _bundle(c, rid).spec
        src = open_source(bundle_spec.data)
        assert len(table) == src.n_eligible(len(src.dates) - 1) >= 10
        assert table["symbol"].head(5).tolist()[0] in printed
        preds = c.search_runs([run.info.experiment_id], "tags.`zoo.role` = 'prediction'")
        assert len(preds) == 1 and preds[0].data.params["run_id"] == rid
        assert preds[0].data.params["date"] == str(last.date())
        assert preds[0].data.params["data_fingerprint"] == run.data.tags["zoo.data_fingerprint"]

        refusals = [
            (["--date", "2020-07-15"], "after the cube's last date"),
            (["--date", "2019-06-01"], "not a trading day"),  # a Saturday
            (["--date", "2018-01-03"], "only 0 stocks are eligible"),  # no history yet
            (["--data", str(market["foreign"])], "adjustment"),
            (["--date", "soon"], "not a date"),
        ]
        for extra, message in refusals:
            assert main(["predict", rid, "--out", str(tmp / "x.csv"), *extra]) == 2
            err = capsys.readouterr().err
            assert message in err and len(err.strip().splitlines()) == 1, err
        assert not (tmp / "x.csv").exists()
        assert main(["predict", "models:/nope/1"]) == 2
    finally:
        mp.undo()


def _bundle(c, target):
    from zoo.train.predict import load_model

    return load_model(c, target)


def test_a_score_at_t_does_not_change_when_later_days_are_added(final_run, market):
    from zoo.train.data import open_source
    from zoo.train.predict import score_date

    _, c, run = final_run
    bundle = _bundle(c, run.info.run_id)
    full = open_source(bundle.spec.data)
    prefix = open_source(attrs.evolve(bundle.spec.data, store=str(market["prefix"])))
    last_prefix = str(np.asarray(prefix.dates)[-1].astype("datetime64[D]"))
    assert prefix.fingerprint() != full.fingerprint()
    # the prefix's latest day has no label there, and a label in the full cube: the score must not care
    for date in (last_prefix, "2020-03-02"):
        a = score_date(bundle, prefix, date).table.set_index("symbol")
        b = score_date(bundle, full, date).table.set_index("symbol")
        assert list(a.index) == list(b.index) and len(a) >= 10
        np.testing.assert_array_equal(a["score"].to_numpy(), b["score"].to_numpy())
    assert score_date(bundle, prefix, "latest").date == np.datetime64(last_prefix)


def test_predict_after_until_equals_the_final_runs_own_scores(final_run):
    from zoo.tracking import store as runs
    from zoo.train.data import open_source
    from zoo.train.predict import score_date

    _, c, run = final_run
    bundle = _bundle(c, run.info.run_id)
    source = open_source(bundle.spec.data)
    stored = runs.run_score(c, run.info.run_id, "scores/ensemble.zarr")  # the split's test: days after until
    assert len(stored["date"]) == HORIZON + 1
    for date in stored["date"].values:
        got = score_date(bundle, source, str(date)[:10]).table.set_index("symbol")["score"]
        want = stored.sel(date=date).to_series().dropna()
        assert sorted(got.index) == sorted(want.index.astype(str))
        np.testing.assert_allclose(got.loc[want.index.astype(str)].to_numpy(), want.to_numpy(), atol=2e-6)


def test_register_then_predict_models_uri_equals_the_run(final_run, market, capsys):
    from zoo.cli import main
    from zoo.train.data import open_source
    from zoo.train.predict import score_date

    uri, c, run = final_run
    mp = pytest.MonkeyPatch()
    mp.setenv("MLFLOW_TRACKING_URI", uri)
    try:
        assert main(["register", run.info.run_id, "--name", "gru-prod"]) == 0
        assert "models:/gru-prod/1" in capsys.readouterr().out
        assert main(["register", "gru", "--name", "gru-prod"]) == 0  # the experiment's newest final run
        assert "models:/gru-prod/2" in capsys.readouterr().out
        out = market["tmp"] / "reg.parquet"
        assert main(["predict", "models:/gru-prod/1", "--date", "2020-03-02", "--out", str(out)]) == 0
        assert "in-sample" in capsys.readouterr().out  # 2020-03-02 lies in the final fit's validation
        # the same spec, data and date: the final run is resumed, nothing retrained
        mp.chdir(market["tmp"])
        assert main(["train", str(REPO / "specs/gru.toml"), "--final", *_args(market["full"])]) == 0
        assert f"final model: run {run.info.run_id} (0 seed(s) trained, 2 reused)" in capsys.readouterr().out
    finally:
        mp.undo()
    direct = score_date(_bundle(c, run.info.run_id), open_source(run_spec_data(c, run)), "2020-03-02").table
    pd.testing.assert_frame_equal(pd.read_parquet(out), direct)
    registered = _bundle(c, "models:/gru-prod/2")
    assert registered.run_id == run.info.run_id and sorted(registered.weights) == [0, 1]


def run_spec_data(c, run):
    return _bundle(c, run.info.run_id).spec.data


def test_register_refuses_a_run_that_is_not_final(final_run, monkeypatch, capsys):
    from zoo.cli import main
    from zoo.tracking import runs as tracking

    uri, c, _ = final_run
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    exp = tracking.ensure_experiment(c, "not-final", uri)
    rid = c.create_run(exp, tags={"zoo.role": "parent"}).info.run_id
    assert main(["register", rid, "--name", "x"]) == 2
    assert "register a final run" in capsys.readouterr().err


def test_predict_in_a_test_year_equals_the_studys_stored_test_score(market, final_run):
    from zoo.specs import load_spec
    from zoo.train.data import open_source
    from zoo.train.predict import load_model, score_date
    from zoo.train.runner import run_spec

    uri, c, _ = final_run  # the same store, another experiment
    # neutralised test scores (train.neutralize_scores): predict must neutralise each seed as run_fit does
    sets = [*SETS, "train.test_years=[2020]", "train.neutralize_scores=true"]
    sets.append(f'data.store="{market["full"]}"')
    spec = load_spec(REPO / "specs/gru.toml", sets)
    source = open_source(spec.data)
    res = run_spec(spec, source, uri=uri, experiment="study")
    for target in (res.parent_run_id, "study"):  # a run id, or the study (experiment) name
        bundle = load_model(c, target)
        assert bundle.kind == "study" and bundle.test_year == 2020 and sorted(bundle.weights) == [0, 1]
    for date in ("2020-01-02", "2020-04-15"):
        pred = score_date(bundle, source, date)
        stored = res.score.sel(date=np.datetime64(date, "ns")).to_series().dropna()
        got = pred.table.set_index("symbol")["score"]
        assert sorted(got.index) == sorted(stored.index.astype(str))
        np.testing.assert_allclose(got.loc[stored.index.astype(str)].to_numpy(), stored.to_numpy(), atol=2e-6)
    with pytest.raises(DataError, match="after the cube's last date"):
        score_date(bundle, source, "2021-01-04")


# --------------------------------------------------------------------------- estimator (classic) specs

#: ridge: a closed-form fit, fast; neutralised scores so predict must neutralise each seed too.
RIDGE_SETS = [*SETS, "train.neutralize_scores=true"]


@pytest.fixture(scope="module")
def ridge_final(market, final_run):
    """`zoo train specs/ridge.toml --final` on the full cube, through the CLI (the same store)."""
    from zoo.cli import main

    uri, c, _ = final_run
    mp = pytest.MonkeyPatch()
    mp.setenv("MLFLOW_TRACKING_URI", uri)
    mp.chdir(market["tmp"])
    args = ["--data", str(market["full"])]
    for s in RIDGE_SETS:
        args += ["--set", s]
    try:
        assert main(["train", str(REPO / "specs/ridge.toml"), "--final", *args]) == 0
    finally:
        mp.undo()
    exp = c.get_experiment_by_name("ridge")
    (run,) = c.search_runs([exp.experiment_id], "tags.`zoo.role` = 'final'")
    return uri, c, run


@pytest.fixture(scope="module")
def ridge_study(market, final_run):
    """A ridge study with test year 2020 (experiment ``ridge-study``), and its result."""
    from zoo.specs import load_spec
    from zoo.train.data import open_source
    from zoo.train.runner import run_spec

    uri, c, _ = final_run
    sets = [*RIDGE_SETS, "train.test_years=[2020]", f'data.store="{market["full"]}"']
    spec = load_spec(REPO / "specs/ridge.toml", sets)
    return c, run_spec(spec, open_source(spec.data), uri=uri, experiment="ridge-study")


def test_estimator_predict_in_a_test_year_equals_the_studys_stored_test_score(ridge_study):
    from zoo.train.data import open_source
    from zoo.train.predict import load_model, score_date

    c, res = ridge_study
    for target in (res.parent_run_id, "ridge-study"):
        bundle = load_model(c, target)
        assert bundle.kind == "study" and bundle.test_year == 2020 and sorted(bundle.weights) == [0, 1]
        assert bundle.weights_file == "estimator.json"
    source = open_source(bundle.spec.data)  # a fresh source: nothing cached from the study's fits
    for date in ("2020-01-02", "2020-04-15", "2020-06-30"):  # the last: every stock unlabelled
        pred = score_date(bundle, source, date)
        stored = res.score.sel(date=np.datetime64(date, "ns")).to_series().dropna()
        got = pred.table.set_index("symbol")["score"]
        assert len(got) >= 10 and sorted(got.index) == sorted(stored.index.astype(str))
        np.testing.assert_allclose(got.loc[stored.index.astype(str)].to_numpy(), stored.to_numpy(), atol=2e-6)
    with pytest.raises(DataError, match="only 0 stocks are eligible"):
        score_date(bundle, source, "2018-01-03")  # no history yet: no features, refused as for networks


def test_estimator_final_run_predicts_latest_and_through_the_registry(ridge_final, market, capsys):
    import tempfile

    from zoo.cli import main
    from zoo.tracking import store as runs

    uri, c, run = ridge_final
    rid = run.info.run_id
    with tempfile.TemporaryDirectory() as tmp:
        folder = runs.local_artifact(c, rid, "model", tmp)
        names = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    seeds = [f"seed{s}/{f}" for s in (0, 1) for f in ("estimator.json", "features.json")]
    assert names == ["meta.json", *seeds, "spec.toml"]
    tmp = market["tmp"]
    out, reg = tmp / "ridge.csv", tmp / "ridge-reg.csv"
    mp = pytest.MonkeyPatch()
    mp.setenv("MLFLOW_TRACKING_URI", uri)
    try:
        assert main(["predict", rid, "--out", str(out), "--top", "3"]) == 0
        printed = capsys.readouterr().out
        last = pd.Timestamp(market["cube"]["date"].values[-1])
        assert f"on {last.date()}" in printed and "ridge: 2 seed(s) of final run" in printed
        assert main(["register", rid, "--name", "ridge-prod"]) == 0
        assert "models:/ridge-prod/1" in capsys.readouterr().out
        assert main(["predict", "models:/ridge-prod/1", "--out", str(reg)]) == 0
        capsys.readouterr()
    finally:
        mp.undo()
    table = pd.read_csv(out)
    assert table["rank"].iloc[0] == 1 and table["score"].is_monotonic_decreasing
    # the latest date is one of the final run's own (unlabelled) test days: the same scores
    stored = runs.run_score(c, rid, "scores/ensemble.zarr").sel(date=last.to_datetime64())
    stored = stored.to_series().dropna()
    got = table.set_index("symbol")["score"]
    assert len(got) >= 10 and sorted(got.index) == sorted(stored.index.astype(str))
    np.testing.assert_allclose(got.loc[stored.index.astype(str)].to_numpy(), stored.to_numpy(), atol=2e-6)
    pd.testing.assert_frame_equal(pd.read_csv(reg), table)


def test_an_estimator_fit_on_other_features_is_refused(ridge_final, ridge_study, market, monkeypatch, capsys):
    import zoo.datasets.features

    from zoo.cli import main
    from zoo.train.predict import load_model

    uri, c, run = ridge_final
    _, res = ridge_study
    rid, pid = run.info.run_id, res.parent_run_id
    now = zoo.datasets.features.FEATURES
    assert load_model(c, rid).weights_file == "estimator.json"  # loads with today's features
    monkeypatch.setattr(zoo.datasets.features, "FEATURES", (*now, "ret_250"))
    with pytest.raises(TrainingError, match=rf"^run {rid} seed 0: .*\(new: ret_250\); retrain"):
        load_model(c, rid)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    assert main(["predict", rid, "--out", str(market["tmp"] / "no.csv")]) == 2
    err = capsys.readouterr().err
    assert f"run {rid} seed 0" in err and len(err.strip().splitlines()) == 1, err
    assert not (market["tmp"] / "no.csv").exists()
    monkeypatch.setattr(zoo.datasets.features, "FEATURES", now[1:])
    with pytest.raises(TrainingError, match=rf"^run {pid} seed 0: .*\(dropped since: {now[0]}\)"):
        load_model(c, pid)
    monkeypatch.setattr(zoo.datasets.features, "FEATURES", now[::-1])
    with pytest.raises(TrainingError, match="the same names in another order"):
        load_model(c, pid)


# --------------------------------------------------------------------------- no pickles


class _Planted:
    """Unpickling this calls ``open(path, "w")``: a file appears if anything unpickles it."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _artifact_dir(c, run_id: str, path: str) -> Path:
    from urllib.parse import unquote, urlparse

    root = c.get_run(run_id).info.artifact_uri
    return Path(unquote(urlparse(root).path) if root.startswith("file://") else root) / path


def test_predict_never_unpickles_a_planted_estimator(ridge_final, market, monkeypatch, capsys):
    """An older zoo's (or an attacker's) estimator.joblib is refused; it runs only with --trust-pickles."""
    import pickle
    import shutil

    from zoo.cli import main

    uri, c, run = ridge_final
    rid = run.info.run_id
    model = _artifact_dir(c, rid, "model")
    marker = market["tmp"] / "pwned.txt"
    saved = market["tmp"] / "model-saved"
    shutil.copytree(model, saved)
    try:
        for seed in (0, 1):  # the store as an older zoo (or anyone who can write to it) left it
            (model / f"seed{seed}" / "estimator.json").unlink()
            (model / f"seed{seed}" / "estimator.joblib").write_bytes(pickle.dumps(_Planted(marker)))
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        out = market["tmp"] / "planted.csv"
        assert main(["predict", rid, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert not marker.exists() and not out.exists()
        assert len(err.strip().splitlines()) == 1, err
        assert "estimator.joblib" in err and "zoo train SPEC --final" in err and "--trust-pickles" in err
        # the same store, trusted explicitly: the pickle runs (so the refusal above is what kept it out)
        assert main(["predict", rid, "--out", str(out), "--trust-pickles"]) == 2
        capsys.readouterr()
        assert marker.exists()
    finally:
        shutil.rmtree(model)
        shutil.copytree(saved, model)
        marker.unlink(missing_ok=True)


# --------------------------------------------------------------------------- MLflow pyfunc models


def _pyfunc_files(c, run_id: str) -> list[str]:
    folder = _artifact_dir(c, run_id, "pyfunc")
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize("which", ["gru", "ridge"])
def test_a_registered_pyfunc_scores_a_date_as_zoo_predict_does(which, final_run, ridge_final, market, capsys):
    """``mlflow.pyfunc.load_model("models:/NAME/1")`` outside zoo's CLI: zoo predict's numbers, no pickle."""
    import mlflow.pyfunc

    from zoo.cli import main

    uri, c, run = final_run if which == "gru" else ridge_final
    rid = run.info.run_id
    files = _pyfunc_files(c, rid)
    assert "MLmodel" in files and "artifacts/model/meta.json" in files
    assert not [f for f in files if f.endswith((".pkl", ".pickle", ".joblib"))], files
    name = f"{which}-pyfunc"
    date = str(pd.Timestamp(market["cube"]["date"].values[-5]).date())
    out = market["tmp"] / f"{which}-pyfunc.csv"
    mp = pytest.MonkeyPatch()
    mp.setenv("MLFLOW_TRACKING_URI", uri)
    try:
        assert main(["register", rid, "--name", name]) == 0
        assert f"models:/{name}/1" in capsys.readouterr().out
        assert main(["predict", f"models:/{name}/1", "--date", date, "--out", str(out)]) == 0
        capsys.readouterr()
        mlflow.set_tracking_uri(uri)
        model = mlflow.pyfunc.load_model(f"models:/{name}/1")
        inputs = model.metadata.get_input_schema().input_names()
        got = model.predict(pd.DataFrame({"date": [date], "store": [str(market["full"])]}))
        default = model.predict(pd.DataFrame({"date": [date]}))  # the store it was trained on
    finally:
        mp.undo()
    assert inputs == ["date", "store"]
    want = pd.read_csv(out)
    assert list(got.columns) == ["date", "symbol", "score", "rank", "percentile"]
    assert (got["date"] == date).all() and len(got) == len(want) >= 10
    np.testing.assert_array_equal(got["symbol"].to_numpy(), want["symbol"].to_numpy())
    np.testing.assert_array_equal(got["score"].to_numpy(), want["score"].to_numpy(np.float32))
    np.testing.assert_array_equal(got["rank"].to_numpy(), want["rank"].to_numpy())
    pd.testing.assert_frame_equal(default, got)


def test_a_study_parent_logs_a_pyfunc_of_its_newest_test_year(ridge_study, market):
    import mlflow.pyfunc

    from zoo.train.data import open_source
    from zoo.train.predict import load_model, score_date

    c, res = ridge_study
    model = mlflow.pyfunc.load_model(str(_artifact_dir(c, res.parent_run_id, "pyfunc")))
    got = model.predict(pd.DataFrame({"date": ["2020-04-15"]}))
    bundle = load_model(c, res.parent_run_id)  # what zoo predict PARENT scores with
    want = score_date(bundle, open_source(bundle.spec.data), "2020-04-15").table
    np.testing.assert_array_equal(got["score"].to_numpy(), want["score"].to_numpy())
    np.testing.assert_array_equal(got["symbol"].to_numpy(), want["symbol"].to_numpy())
