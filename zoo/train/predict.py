"""Score one date with a logged model: a final run, a study's newest test year, or ``models:/NAME/VERSION``.

A network is rebuilt from its logged spec and each seed's ``state_dict``; the day is the training
pipeline's own (``CubeSource.test_day``: the same eligibility, windows and ctx as a test day), scored
by the trainer's ``predict``. An estimator (classic) spec loads each seed's fitted
``estimator.json`` (a data document, ``zoo.train.estimator_io``: nothing read back is unpickled; a
pickled ``estimator.joblib`` of an older zoo is refused unless the caller trusts pickles; its logged
feature names must still be ``datasets.features.FEATURES``) and
scores the day's window features from ``CubeSource.features(..., test=True)``, as a test day of
``zoo.train.classic.fit_split``, by ``classic.predict_estimator``. Either way each seed's scores are
neutralised as ``run_fit`` does (``train.neutralize_scores``) and ensembled as training does
(``zoo.train.ensemble``). There is no second feature pipeline here: this module only finds the
weights, picks the date and writes the table.
"""

from __future__ import annotations

import io
import json
import re
import tempfile
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pandas as pd
import xarray as xr

from zoo.errors import DataError, TrainingError, ZooError
from zoo.tracking import store as runs

#: ``models:/NAME/VERSION`` (MLflow Model Registry URI; VERSION a number).
MODEL_URI = re.compile(r"models:/(?P<name>[^/]+)/(?P<version>\d+)")
#: Where ``zoo predict`` writes when ``--out`` is not given (relative to the working folder).
DEFAULT_OUT_DIR = "predictions"
#: A network seed's weights file (``torch.save(state_dict)``) in its ``weights/`` folder.
STATE_DICT_FILE = "state_dict.pt"


@attrs.frozen
class ModelBundle:
    """A logged model as ``zoo predict`` needs it: validated spec, weights per seed, what it was fit on."""

    spec: Any
    spec_hash: str
    #: seed -> the bytes of that seed's ``weights_file``.
    weights: dict[int, bytes]
    #: ``state_dict.pt`` (a network: ``torch.save(state_dict)``), ``estimator.json`` (an estimator
    #: spec's data document), or ``estimator.joblib`` (an older zoo's pickle, only when trusted).
    weights_file: str
    #: The run the weights come from (the final run, or the study's parent run).
    run_id: str
    experiment_id: str
    #: ``final`` or ``study``.
    kind: str
    data_fingerprint: str
    #: ``datasets.schema.signature`` of the training cube (None for runs logged before it existed).
    data_schema: dict[str, Any] | None
    #: Last date whose label the fit used (a final run's ``until``; a study's last validation day).
    trained_until: str = ""
    #: The test year whose fits these are (a study), else None.
    test_year: int | None = None


@attrs.frozen
class Prediction:
    """One date's ensemble scores: the table ``zoo predict`` writes, and what it was made from."""

    date: np.datetime64
    #: symbol, score, rank (1 = best), percentile (1.0 = best), in_<universe> per universe; by rank.
    table: pd.DataFrame
    #: Each seed's raw scores (symbol) before ensembling.
    seed_scores: dict[int, xr.DataArray]
    data_fingerprint: str


# --------------------------------------------------------------------------- loading a model


def _spec_of(text: str, where: str, plugins: Sequence[str], logged_hash: str | None) -> Any:
    from zoo.specs import loads_spec, spec_hash

    spec = loads_spec(tomllib.loads(text), source=where, plugins=plugins)
    if logged_hash and spec_hash(spec) != logged_hash:
        raise TrainingError(
            f"{where}: the logged spec now hashes to {spec_hash(spec)}, not {logged_hash}: this zoo "
            f"version (or its plugins) reads it differently from the one that trained it"
        )
    return spec


def weights_file(spec: Any) -> str:
    """The file each seed's ``weights/`` holds for ``spec``: an estimator's document, else a state_dict."""
    from zoo.train.classic import ESTIMATOR_FILE, is_classic

    return ESTIMATOR_FILE if is_classic(spec) else STATE_DICT_FILE


def seed_weights(
    folder: Path, name: str, where: str, seed: int, trust_pickles: bool = False
) -> tuple[str, bytes]:
    """``(file name, bytes)`` of one seed's weights in ``folder``; an older zoo's pickle only if trusted."""
    from zoo.train.classic import PICKLED_ESTIMATOR_FILE

    path = folder / name
    if path.is_file():
        return name, path.read_bytes()
    legacy = folder / PICKLED_ESTIMATOR_FILE
    if name != STATE_DICT_FILE and legacy.is_file():
        if trust_pickles:
            return PICKLED_ESTIMATOR_FILE, legacy.read_bytes()
        raise TrainingError(
            f"{where}: seed {seed} stores its estimator as a pickle ({PICKLED_ESTIMATOR_FILE}, written by "
            f"zoo before 0.3.1), which zoo no longer loads: loading a pickle runs whatever code is in it. "
            f"Retrain it with this zoo (zoo train SPEC --final, or rerun the study) to store {name}, or "
            f"pass --trust-pickles if you trust everyone who can write to this store"
        )
    raise TrainingError(f"{where}: seed {seed} has no {name} in {folder}")


def _check_features(text: str, run_id: str, seed: int) -> None:
    """Refuse an estimator fit on other window features than ``datasets.features.FEATURES`` now."""
    from zoo.datasets.features import FEATURES

    try:
        logged = json.loads(text)
    except json.JSONDecodeError:
        logged = None
    now = list(FEATURES)
    if logged == now:
        return
    if not isinstance(logged, list):
        detail = "its features.json is not a list of names"
    else:
        dropped = [f for f in logged if f not in now]
        new = [f for f in now if f not in logged]
        parts = [f"dropped since: {', '.join(map(str, dropped))}"] if dropped else []
        parts += [f"new: {', '.join(new)}"] if new else []
        detail = "; ".join(parts) or "the same names in another order"
    raise TrainingError(
        f"run {run_id} seed {seed}: its estimator was fit on other window features than "
        f"datasets.features.FEATURES has now ({detail}); retrain it with this zoo version"
    )


def _bundle_dir(
    folder: Path, c, run_id: str, plugins: Sequence[str], where: str, trust_pickles: bool = False
) -> ModelBundle:
    """A final run's ``model/`` folder (or a registered copy of it) as a bundle."""
    experiment_id = c.get_run(run_id).info.experiment_id
    return bundle_from_folder(folder, plugins, where, trust_pickles, run_id, experiment_id)


def bundle_from_folder(
    folder: Path,
    plugins: Sequence[str] = (),
    where: str = "",
    trust_pickles: bool = False,
    run_id: str = "",
    experiment_id: str = "",
) -> ModelBundle:
    """A zoo model folder (spec.toml, meta.json, seed<N>/) as a bundle; no tracking store needed."""
    from zoo.train.classic import FEATURES_FILE

    folder = Path(folder)
    where = where or str(folder)
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        raise TrainingError(f"{where}: no meta.json in the model folder {folder}; not a zoo final model")
    meta = json.loads(meta_path.read_text())
    run_id = run_id or meta.get("run_id", "")
    spec = _spec_of(
        (folder / "spec.toml").read_text(), where, [*meta.get("plugins", []), *plugins], meta["spec_hash"]
    )
    name = weights_file(spec)
    weights = {}
    for seed in meta["seeds"]:
        if name != STATE_DICT_FILE:
            features = folder / f"seed{seed}" / FEATURES_FILE
            if not features.is_file():
                raise TrainingError(f"{where}: seed {seed} has no {FEATURES_FILE} in {folder}")
            _check_features(features.read_text(), run_id, int(seed))
        stored, weights[int(seed)] = seed_weights(
            folder / f"seed{seed}", name, where, int(seed), trust_pickles
        )
    name = stored if meta["seeds"] else name
    return ModelBundle(
        spec=spec,
        spec_hash=meta["spec_hash"],
        weights=weights,
        weights_file=name,
        run_id=run_id,
        experiment_id=experiment_id,
        kind=meta.get("kind", "final"),
        data_fingerprint=meta["data_fingerprint"],
        data_schema=meta.get("data_schema"),
        trained_until=meta.get("until", ""),
        test_year=meta.get("test_year"),
    )


def _final_bundle(c, run, plugins: Sequence[str], trust_pickles: bool = False) -> ModelBundle:
    from zoo.train.packaging import MODEL_DIR

    rid = run.info.run_id
    if run.info.status != "FINISHED":
        raise TrainingError(f"final run {rid} is {run.info.status}, not FINISHED; rerun zoo train --final")
    with tempfile.TemporaryDirectory() as tmp:
        folder = runs.local_artifact(c, rid, MODEL_DIR, tmp, TrainingError)
        return _bundle_dir(folder, c, rid, plugins, f"run {rid}", trust_pickles)


def _study_bundle(c, parent, plugins: Sequence[str], trust_pickles: bool = False) -> ModelBundle:
    """The seeds of a study parent's newest test year that finished."""
    from zoo.tracking import runs as tracking
    from zoo.train.classic import FEATURES_FILE

    pid, tags = parent.info.run_id, parent.data.tags
    exp = parent.info.experiment_id
    with tempfile.TemporaryDirectory() as tmp:
        text = runs.local_artifact(c, pid, "spec.toml", tmp, TrainingError).read_text()
        spec = _spec_of(text, f"run {pid}", plugins, tags.get("zoo.spec_hash"))
        name = weights_file(spec)
        done = tracking.finished_children(c, exp, pid, tags.get("zoo.spec_hash", ""))
        if not done:
            raise TrainingError(f"run {pid} ({tags.get('zoo.spec_name')}) has no finished (year, seed) fit")
        year = max(y for y, _ in done)
        weights, valid_end, stored = {}, "", name
        for (y, seed), child in sorted(done.items()):
            if y != year:
                continue
            cid = child.info.run_id
            folder = runs.local_artifact(c, cid, "weights", tmp, TrainingError)
            if name != STATE_DICT_FILE:
                features = runs.local_artifact(c, cid, f"weights/{FEATURES_FILE}", tmp, TrainingError)
                _check_features(features.read_text(), pid, seed)
            stored, weights[seed] = seed_weights(folder, name, f"run {cid}", seed, trust_pickles)
            found = re.search(r"valid \S+?\.\.(\S+)", child.data.params.get("split", ""))
            valid_end = found.group(1) if found else ""
    schema = tags.get("zoo.data_schema")
    return ModelBundle(
        spec=spec,
        spec_hash=tags.get("zoo.spec_hash", ""),
        weights=weights,
        weights_file=stored,
        run_id=pid,
        experiment_id=exp,
        kind="study",
        data_fingerprint=tags.get("zoo.data_fingerprint", ""),
        data_schema=json.loads(schema) if schema else None,
        trained_until=valid_end,
        test_year=year,
    )


def _newest_final(c, experiment_id: str):
    found = c.search_runs(
        [experiment_id],
        filter_string="tags.`zoo.role` = 'final' AND attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return found[0] if found else None


def _run_by_id(c, target: str):
    """The run ``target`` names when it is a 32-hex run id of this store, else None."""
    if not re.fullmatch(r"[0-9a-f]{32}", target):
        return None
    try:
        return c.get_run(target)
    except Exception:
        return None


def load_model(c, target: str, plugins: Sequence[str] = (), trust_pickles: bool = False) -> ModelBundle:
    """The model ``target`` names: ``models:/NAME/VERSION``, a run id, or an experiment (study) name.

    A final run gives its ``model/`` folder; a study's parent (or child) run gives the seeds of its
    newest test year; an experiment name gives its newest finished final run, else its one spec's
    newest parent (several specs: name the run id). ``trust_pickles``: also load an older zoo's
    pickled estimator (``estimator.joblib``), which runs any code stored in it.
    """
    m = MODEL_URI.fullmatch(target)
    if m:
        name, version = m["name"], m["version"]
        try:
            mv = c.get_model_version(name, version)
        except Exception:
            raise TrainingError(
                f"{target}: no such registered model version (zoo register RUN --name {name})"
            ) from None
        import mlflow.artifacts

        with tempfile.TemporaryDirectory() as tmp:
            try:
                folder = mlflow.artifacts.download_artifacts(
                    artifact_uri=mv.source, dst_path=tmp, tracking_uri=c.tracking_uri
                )
            except Exception as exc:
                raise TrainingError(f"{target}: cannot read its files at {mv.source} ({exc})") from exc
            folder = Path(folder)
            if (folder / "MLmodel").is_file():  # a registered pyfunc: the zoo folder is its artifact
                from zoo.train.pyfunc_log import ARTIFACT

                folder = folder / "artifacts" / ARTIFACT
            return _bundle_dir(folder, c, mv.run_id, plugins, target, trust_pickles)
    if target.startswith("models:/"):
        raise TrainingError(f"{target!r}: expected models:/NAME/VERSION with a version number")
    run = _run_by_id(c, target)
    if run is not None:
        if run.data.tags.get("zoo.role") == "final":
            return _final_bundle(c, run, plugins, trust_pickles)
        parent = runs.parent_of(c, run)
        if parent.data.tags.get("zoo.role") == "final":
            return _final_bundle(c, parent, plugins, trust_pickles)
        return _study_bundle(c, parent, plugins, trust_pickles)
    exp = c.get_experiment_by_name(target)
    if exp is not None:
        final = _newest_final(c, exp.experiment_id)
        if final is not None:
            return _final_bundle(c, final, plugins, trust_pickles)
    parents = runs.resolve_parents(c, target, TrainingError).runs
    if len(parents) > 1:
        names = {p.data.tags.get("zoo.spec_name", p.info.run_name): p.info.run_id for p in parents}
        raise TrainingError(f"study {target!r} has {len(parents)} specs; name one by its run id: {names}")
    return _study_bundle(c, parents[0], plugins, trust_pickles)


# --------------------------------------------------------------------------- scoring a date


def _check_schema(bundle: ModelBundle, source: Any) -> None:
    from zoo.train.source import capability

    schema = capability(source, "schema")
    if bundle.data_schema is None or schema is None:
        return
    now = schema()
    diff = [
        f"{k}: {bundle.data_schema.get(k)!r} -> {now.get(k)!r}"
        for k in now
        if now[k] != bundle.data_schema.get(k)
    ]
    if diff:
        raise DataError(
            f"the cube {source.store} is not the kind run {bundle.run_id} was trained on: " + "; ".join(diff)
        )


def date_position(source: Any, date: str | None) -> int:
    """Position of ``date`` (``latest``/None: the last one) on the source's dates; refusals name why."""
    dates = np.asarray(source.dates).astype("datetime64[D]")
    if date in (None, "", "latest"):
        return len(dates) - 1
    try:
        t = np.datetime64(pd.Timestamp(date), "D")
    except (ValueError, TypeError):
        raise DataError(f"--date {date!r} is not a date (YYYY-MM-DD or latest)") from None
    if t > dates[-1]:
        raise DataError(
            f"--date {t} is after the cube's last date {dates[-1]} ({source.store}); append that day's "
            f"bars first (zoo data append FILE --to STORE)"
        )
    if t < dates[0]:
        raise DataError(f"--date {t} is before the cube's first date {dates[0]} ({source.store})")
    i = int(np.searchsorted(dates, t))
    if dates[i] != t:
        raise DataError(f"--date {t} is not a trading day of the cube; the one before it is {dates[i - 1]}")
    return i


def score_date(
    bundle: ModelBundle, source: Any, date: str | None = "latest", device: str | None = None
) -> Prediction:
    """Score every eligible stock on ``date`` with each seed and ensemble them as training does."""
    from zoo.train.ensemble import ensemble, stitch
    from zoo.train.jobs import neutral_scores
    from zoo.train.source import capability

    spec = bundle.spec
    _check_schema(bundle, source)
    i = date_position(source, date)
    day_str = str(np.asarray(source.dates).astype("datetime64[D]")[i])

    def refuse_if_too_few(n: int) -> None:
        need = spec.train.min_stocks
        if n < need:
            raise DataError(
                f"{day_str}: only {n} stocks are eligible in universe {spec.data.universe!r} of "
                f"{source.store} (need at least {need}, train.min_stocks)"
            )

    if bundle.weights_file == STATE_DICT_FILE:
        score_seed = _network_scorer(bundle, source, i, device, refuse_if_too_few)
    else:
        score_seed = _estimator_scorer(bundle, source, i, refuse_if_too_few)
    seed_scores: dict[int, xr.DataArray] = {}
    for seed, blob in sorted(bundle.weights.items()):
        seed_scores[seed] = stitch(score_seed(seed, blob), source.symbols)
        if spec.train.neutralize_scores:  # as run_fit does to each fit's test scores
            seed_scores[seed] = neutral_scores(source, seed_scores[seed])
    score = ensemble(list(seed_scores.values())).isel(date=0)
    table = prediction_table(score, capability(source, "cube"))
    return Prediction(
        np.datetime64(day_str),
        table,
        {s: v.isel(date=0) for s, v in seed_scores.items()},
        source.fingerprint(),
    )


#: ``(seed, weights bytes) -> [(date, symbols, scores)]``: one seed's scores of the day (``predict``'s form).
SeedScorer = Callable[[int, bytes], list[tuple[np.datetime64, np.ndarray, np.ndarray]]]


def _network_scorer(
    bundle: ModelBundle, source: Any, i: int, device: str | None, refuse_if_too_few: Callable[[int], None]
) -> SeedScorer:
    """Each seed's network on the trainer's own test day ``i`` (``CubeSource.test_day``)."""
    import torch

    from zoo.compose import build_model
    from zoo.registry import get_registry
    from zoo.train.days import source_dayset
    from zoo.train.device import resolve_device
    from zoo.train.source import capability, on_device
    from zoo.train.trainer import predict

    spec = bundle.spec
    dev = resolve_device(device or spec.train.device)
    src = on_device(source, dev)
    # The trainer's own test day: same eligibility, windows, normalisation and ctx as a test year.
    days = source_dayset(src, np.array([i]), capability(src, "test_day") or src.day)
    day = days[0]
    refuse_if_too_few(
        day.n if day is not None else (count(i) if (count := capability(source, "n_eligible")) else 0)
    )
    registry = get_registry(tuple(spec.plugins))

    def score(seed: int, blob: bytes) -> list[tuple[np.datetime64, np.ndarray, np.ndarray]]:
        model = build_model(spec.model, len(spec.data.fields), registry).to(dev)
        try:
            state = torch.load(io.BytesIO(blob), map_location=dev, weights_only=True)
            model.load_state_dict(state)
        except (RuntimeError, KeyError) as exc:
            raise TrainingError(
                f"run {bundle.run_id} seed {seed}: the weights do not fit the spec ({exc})"
            ) from None
        return predict(model, days, spec.train.precision)

    return score


def _estimator_scorer(
    bundle: ModelBundle, source: Any, i: int, refuse_if_too_few: Callable[[int], None]
) -> SeedScorer:
    """Each seed's fitted estimator on day ``i``'s window features, as ``classic.fit_split`` scores a test."""
    from zoo.train import estimator_io
    from zoo.train.classic import PICKLED_ESTIMATOR_FILE, predict_estimator
    from zoo.train.source import capability

    if capability(source, "features") is None:
        raise TrainingError(
            f"run {bundle.run_id}: the data source {type(source).__name__} gives no window features; an "
            f"estimator spec needs a cube source (zoo.train.data.CubeSource)"
        )
    # The classic fit's own test-day features: every stock eligible on the day, labelled or not.
    days = source.features([i], test=True)
    day = days[0]
    refuse_if_too_few(len(day.symbols) if day is not None else source.n_eligible(i))

    def score(seed: int, blob: bytes) -> list[tuple[np.datetime64, np.ndarray, np.ndarray]]:
        where = f"run {bundle.run_id} seed {seed}: {bundle.weights_file}"
        if bundle.weights_file != PICKLED_ESTIMATOR_FILE:
            return predict_estimator(estimator_io.from_json(blob, where), days)
        import joblib  # only reached with --trust-pickles (load_model refuses a pickle otherwise)

        try:
            estimator = joblib.load(io.BytesIO(blob))
        except Exception as exc:  # a pickle can fail in many ways (a missing module, a bad file)
            raise TrainingError(f"{where}: cannot load it ({exc})") from None
        if not callable(getattr(estimator, "predict", None)):
            raise TrainingError(f"{where}: unpickled a {type(estimator).__name__}, not a fitted estimator")
        return predict_estimator(estimator, days)

    return score


def prediction_table(score: xr.DataArray, cube: xr.Dataset | None = None) -> pd.DataFrame:
    """symbol, score, rank (1 = best), percentile (share scoring at most as high; 1 = best), universes."""
    s = score.to_series().dropna()
    s.index = s.index.astype(str)
    df = pd.DataFrame({"symbol": s.index, "score": s.to_numpy(np.float32)})
    df["rank"] = df["score"].rank(ascending=False, method="min").astype(np.int64)
    df["percentile"] = df["score"].rank(ascending=True, method="max", pct=True)
    if cube is not None and "in_universe" in cube:
        members = cube["in_universe"].sel(date=score["date"].values).sel(symbol=df["symbol"].to_numpy())
        for u in members["universe"].values:
            df[f"in_{u}"] = np.asarray(members.sel(universe=u).values, dtype=bool)
    return df.sort_values(["rank", "symbol"], kind="stable").reset_index(drop=True)


def default_out(bundle: ModelBundle, date: np.datetime64) -> Path:
    """``predictions/<spec name>-<date>.parquet`` under the working folder."""
    return Path(DEFAULT_OUT_DIR) / f"{bundle.spec.name}-{date}.parquet"


def write_table(table: pd.DataFrame, path: str | Path) -> Path:
    """Write the table as Parquet (``.parquet``) or CSV (``.csv``), atomically (aside, then rename)."""
    path = Path(path)
    if path.suffix not in (".parquet", ".csv"):
        raise DataError(f"--out {path}: write .parquet or .csv")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    if path.suffix == ".parquet":
        table.to_parquet(tmp, index=False)
    else:
        table.to_csv(tmp, index=False)
    tmp.replace(path)
    return path


def log_prediction(c, bundle: ModelBundle, pred: Prediction, source: Any, target: str, out: Path) -> str:
    """An MLflow run in the model's experiment: inputs (run id, date, data fingerprint) and the table."""
    from zoo.tracking import runs as tracking

    tags = {
        "zoo.role": "prediction",
        "zoo.model_run": bundle.run_id,
        "zoo.model_uri": target,
        "zoo.date": str(pred.date),
        "zoo.data_fingerprint": pred.data_fingerprint,
        "zoo.data_store": str(source.store),
    }
    run = c.create_run(bundle.experiment_id, run_name=f"predict-{bundle.spec.name}-{pred.date}", tags=tags)
    rid = run.info.run_id
    params = {
        "run_id": bundle.run_id,
        "model_uri": target,
        "date": str(pred.date),
        "data_fingerprint": pred.data_fingerprint,
        "data_store": str(source.store),
        "seeds": ",".join(map(str, sorted(bundle.weights))),
    }
    tracking.log_params(c, rid, params)
    tracking.log_metrics(c, rid, {"n_stocks": float(len(pred.table))})
    c.log_artifact(rid, str(out), "predictions")
    c.set_terminated(rid, status="FINISHED")
    return rid


# --------------------------------------------------------------------------- the registry


def register(c, target: str, name: str) -> int:
    """Register a final run's model as a new version of ``name``: its pyfunc model (else ``model/``)."""
    from zoo.train.packaging import MODEL_DIR
    from zoo.train.pyfunc_log import PYFUNC_DIR

    run = _run_by_id(c, target)
    if run is None:
        exp = c.get_experiment_by_name(target)
        run = _newest_final(c, exp.experiment_id) if exp is not None else None
        if run is None:
            raise TrainingError(f"{target!r} is neither a final run id nor an experiment with a final run")
    tags = run.data.tags
    if tags.get("zoo.role") != "final":
        raise TrainingError(
            f"run {run.info.run_id} is a {tags.get('zoo.role', 'plain')} run; register a final run "
            f"(zoo train SPEC --final)"
        )
    if run.info.status != "FINISHED":
        raise TrainingError(f"final run {run.info.run_id} is {run.info.status}, not FINISHED")
    with runs.store_lock(c.tracking_uri):
        try:
            c.get_registered_model(name)
        except Exception:
            try:
                c.create_registered_model(
                    name, description=f"zoo final model of spec {tags.get('zoo.spec_name')}"
                )
            except Exception as exc:
                raise ZooError(f"cannot create registered model {name!r}: {exc}") from exc
    # The MLflow model (mlflow.pyfunc.load_model("models:/NAME/V")); runs of older zoos have only model/.
    folder = PYFUNC_DIR if any(f.path == PYFUNC_DIR for f in c.list_artifacts(run.info.run_id)) else MODEL_DIR
    mv = c.create_model_version(
        name,
        f"{run.info.artifact_uri}/{folder}",
        run_id=run.info.run_id,
        tags={
            k: tags[k]
            for k in ("zoo.spec_hash", "zoo.spec_name", "zoo.until", "zoo.data_fingerprint")
            if k in tags
        },
    )
    return int(mv.version)
