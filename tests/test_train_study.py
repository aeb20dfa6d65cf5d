"""Study files, sibling parent runs, `zoo compare`, the MLflow UI over REST, and the CLI end to end."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
import torch

from zoo.errors import SpecError
from zoo.specs.evaluate import DEFAULT_BASELINES
from zoo.train.report import compare_runs, display_name, fig8_table
from zoo.train.study import load_study, load_variants, run_study

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[1]

TINY = [
    "data.window=15",
    "data.horizon=2",
    "train.test_years=[2021]",
    "train.train_years=1",
    "train.seeds=[0]",
    "train.max_epochs=2",
    "train.days_per_epoch=4",
    "train.valid_stride=3",
]


def _write_study(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "study.toml"
    p.write_text(body.replace("SPECS", str(REPO / "specs")))
    return p


def test_main_study_file_expands_to_the_fig8_grid():
    study = load_study(REPO / "specs/studies/main.toml")
    assert [v.name for v in study.variants] == ["gru-ic", "gru-mse", "decompgru-ic", "decompgru-mse"]
    specs = load_variants(study)
    assert [s.train.loss.name for s in specs] == ["ic", "weighted_mse", "ic", "weighted_mse"]
    assert all(s.train.test_years == (2020, 2021, 2022) for s in specs)
    assert [display_name(s.name) for s in specs] == ["GRU-IC", "GRU-MSE", "DecompGRU-IC", "DecompGRU-MSE"]


def test_ablation_study_lists_every_ablation_spec():
    study = load_study(REPO / "specs/studies/ablations.toml")
    specs = load_variants(study)  # every variant validates against the registry
    names = [s.name for s in specs]
    assert len(set(names)) == len(names) == 2 + len(list((REPO / "specs/ablations").glob("*.toml")))
    assert {s.train.loss.name for s in specs} == {"ic"}


def test_study_file_errors_name_the_problem(tmp_path):
    with pytest.raises(SpecError, match="unknown key"):
        load_study(_write_study(tmp_path, '[study]\nspecs = ["SPECS/gru.toml"]\nsped = 1\n'))
    with pytest.raises(SpecError, match="nope.toml"):
        load_study(_write_study(tmp_path, '[study]\nspecs = ["SPECS/nope.toml"]\n'))
    with pytest.raises(SpecError, match="repeat"):
        load_study(_write_study(tmp_path, '[study]\nspecs = ["SPECS/gru.toml", "SPECS/gru.toml"]\n'))
    with pytest.raises(SpecError, match="no variants"):
        load_study(_write_study(tmp_path, "[study]\nname = 'x'\n"))
    explicit = _write_study(
        tmp_path,
        '[study]\n[[study.variants]]\nspec = "SPECS/gru.toml"\nname = "g5"\nset = ["train.patience=5"]\n',
    )
    (spec,) = load_variants(load_study(explicit))
    assert spec.name == "g5" and spec.train.patience == 5


@pytest.fixture(scope="module")
def study_run(tmp_path_factory):
    from test_train_tracking import ToySource

    tmp = tmp_path_factory.mktemp("study")
    uri = f"sqlite:///{tmp}/mlflow.db"
    path = _write_study(
        tmp,
        '[study]\nname = "toy"\nspecs = ["SPECS/gru.toml"]\nlabels = { weighted_mse = "mse" }\n'
        '[study.grid]\n"train.loss" = ["ic", "weighted_mse"]\n',
    )
    results = run_study(load_study(path), TINY, uri=uri, open_source=lambda data: ToySource())
    return uri, results


def test_study_runs_siblings_and_compare_shows_differences(study_run):
    uri, results = study_run
    assert [r.name for r in results] == ["gru-ic", "gru-mse"]
    assert len({r.experiment_id for r in results}) == 1 and len({r.parent_run_id for r in results}) == 2
    table = compare_runs(uri, "toy")
    assert list(table.columns) == ["gru-ic", "gru-mse"]
    assert table.loc["train.loss.name"].tolist() == ["ic", "weighted_mse"]
    assert "train.lr" not in table.index  # equal params are not repeated
    assert table.loc["rank_ic_10d"].tolist() == [round(r.metrics["rank_ic_10d"], 4) for r in results]
    # one seed: its RankIC is the ensemble's (z-scoring per date keeps the ranks) and there is no spread
    assert table.loc["rank_ic_10d_seed_mean"].tolist() == table.loc["rank_ic_10d"].tolist()
    assert "rank_ic_10d_seed_std" not in table.index
    assert compare_runs(uri).attrs["experiment"] == "toy"  # the latest experiment by default
    fig8 = fig8_table({display_name(r.name): r.metrics for r in results}, 10)
    assert list(fig8.index) == ["RankIC", "RankICIR", "IC win rate"]
    assert list(fig8.columns) == ["GRU-IC", "GRU-MSE"]


def _zoo_ui(uri: str, tmp_path: Path):
    """``zoo ui`` in a child process, as a user starts it; (process, its printed lines up to the URL)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(REPO), "ZOO_HOME": str(tmp_path)}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from zoo.cli import main; sys.exit(main())", "ui", "--uri", uri],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    lines = []
    for line in proc.stdout:
        lines.append(line.rstrip())
        if line.startswith("MLflow UI on"):
            break
    else:
        raise AssertionError(f"zoo ui printed no address: {lines}")
    for line in proc.stdout:  # the experiments' runs-table addresses follow
        lines.append(line.rstrip())
        if "toy:" in line:
            break
    return proc, lines


def test_zoo_ui_shows_runs_table_descriptions_and_headline_metrics_and_stops_on_sigterm(study_run, tmp_path):
    import signal

    import psutil

    uri, results = study_run
    proc, lines = _zoo_ui(uri, tmp_path)
    try:
        url = next(x for x in lines if x.startswith("MLflow UI on")).split(": ")[1].split()[0]
        assert url.startswith("http://127.0.0.1:")
        server_procs = psutil.Process(proc.pid).children(recursive=True)
        assert server_procs  # mlflow server and its workers
        db_folder = Path(uri[len("sqlite:///") :]).parent
        assert f"log: {db_folder}" in " ".join(lines)  # the log sits beside the store, not in /tmp

        def get(path: str) -> dict:
            with urllib.request.urlopen(url + path, timeout=30) as resp:
                return json.loads(resp.read())

        def post(path: str, body: dict) -> dict:
            req = urllib.request.Request(
                url + path, json.dumps(body).encode(), {"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(req, timeout=30) as resp:
                return json.loads(resp.read())

        exp = get("/api/2.0/mlflow/experiments/get-by-name?experiment_name=toy")["experiment"]
        exp_tags = {t["key"]: t["value"] for t in exp.get("tags", [])}
        # MLflow 3 opens an experiment of this kind on its runs table, not on the GenAI overview
        assert exp_tags["mlflow.experimentKind"] == "custom_model_development"
        assert exp_tags["mlflow.note.content"].startswith("study toy")
        assert "`gru-ic`" in exp_tags["mlflow.note.content"]
        toy_line = next(x for x in lines if x.strip().startswith("toy:"))
        # the runs table in the model-training layout, with the zoo's shared view: sorted by the
        # headline RankIC, its columns shown (the UI reads the view from the experiment tag)
        address = (
            f"#/experiments/{exp['experiment_id']}/runs?workflowType=machine_learning&viewStateShareKey="
        )
        assert address in toy_line
        key = toy_line.split("viewStateShareKey=")[1].strip()
        shared = json.loads(exp_tags[f"mlflow.sharedViewState.{key}"])
        assert shared["orderByKey"] == "metrics.`0_RankIC_10d`" and shared["orderByAsc"] is False
        assert shared["selectedColumns"][:2] == ["attributes.`Source`", "attributes.`Dataset`"]
        assert "metrics.`0_RankIC_10d`" in shared["selectedColumns"]
        runs = post(
            "/api/2.0/mlflow/runs/search",
            {"experiment_ids": [exp["experiment_id"]], "filter": "tags.`zoo.role` = 'parent'"},
        )["runs"]
        assert sorted(r["info"]["run_id"] for r in runs) == sorted(r.parent_run_id for r in results)
        assert {r["info"]["run_name"] for r in runs} == {"gru-ic", "gru-mse"}
        by_id = {r.parent_run_id: r for r in results}
        for run in runs:
            res = by_id[run["info"]["run_id"]]
            tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
            note = tags["mlflow.note.content"]
            assert note.startswith(res.spec.description) and res.spec_hash in note
            assert "test years [2021], seeds [0]" in note and "max 2 epochs" in note
            metrics = {m["key"]: m["value"] for m in run["data"]["metrics"]}
            for h in (10, 20):
                assert metrics[f"0_RankIC_{h}d"] == pytest.approx(res.metrics[f"rank_ic_{h}d"])
                assert metrics[f"0_RankICIR_{h}d"] == pytest.approx(res.metrics[f"rank_icir_{h}d"])
                assert metrics[f"0_IC_win_rate_{h}d"] == pytest.approx(res.metrics[f"ic_win_rate_{h}d"])
            # a parent carries the headline only (named to sort first), the rest is in its tables
            assert all(k.startswith("0_") for k in metrics) and len(metrics) <= 30
        children = post(
            "/api/2.0/mlflow/runs/search",
            {"experiment_ids": [exp["experiment_id"]], "filter": "tags.`zoo.role` = 'child'"},
        )["runs"]
        assert len(children) == 2
        for run in children:
            tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
            metrics = {m["key"]: m["value"] for m in run["data"]["metrics"]}
            assert metrics["0_test_year"] == int(tags["zoo.test_year"]) == 2021
            assert metrics["0_seed"] == int(tags["zoo.seed"]) == 0
            assert metrics["0_test_RankIC"] == pytest.approx(metrics["test_rank_ic"])
            assert "test year 2021, seed 0" in tags["mlflow.note.content"]
    finally:
        proc.send_signal(signal.SIGTERM)  # what a process manager, `kill` or a closed session sends
        rc = proc.wait(60)
    assert rc == 0
    gone, alive = psutil.wait_procs(server_procs, timeout=30)
    assert not alive, f"left running after SIGTERM: {[p.pid for p in alive]}"


def test_cli_study_then_compare_on_a_tiny_synthetic_market(tmp_path, monkeypatch):
    from zoo.cli import main

    monkeypatch.setenv("DECOMPZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    study = _write_study(tmp_path, '[study]\nname = "cli"\nspecs = ["SPECS/gru.toml"]\n')
    sets = [
        "data.window=30",
        "data.min_history=20",
        "train.test_years=[2016]",
        "train.train_years=1",
        "train.seeds=[0]",
        "train.max_epochs=1",
        "train.days_per_epoch=5",
        "train.valid_stride=20",
    ]
    args = ["study", str(study), "--data", "synth:30"]
    for s in sets:
        args += ["--set", s]
    assert main(args) == 0
    from mlflow.tracking import MlflowClient

    c = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    (parent,) = c.search_runs([c.get_experiment_by_name("cli").experiment_id], "tags.`zoo.role` = 'parent'")
    # the UI's Source column: the command (paths by their last part, as the UI shows only that)
    tags = parent.data.tags
    assert tags["mlflow.source.name"].startswith("zoo study study.toml --data synth:30 --set data.window=30")
    assert tags["zoo.command"].startswith(f"zoo study {study} --data synth:30")
    # the Dataset column: the store by name, its fingerprint as the digest
    (inp,) = parent.inputs.dataset_inputs
    assert (inp.dataset.name, inp.dataset.digest) == ("synth:30", tags["zoo.data_fingerprint"])
    assert inp.dataset.source_type == "code" and json.loads(inp.dataset.source)["tags"]["zoo.data_store"]
    assert main(["compare", "--experiment", "cli"]) == 0
    assert main(["compare", "--experiment", "nope"]) == 2  # a clear error, not a traceback
    assert (
        main(
            ["train", str(REPO / "specs/gru.toml"), "--set", "train.test_years=[1990]", "--data", "synth:30"]
        )
        == 2
    )


def test_main_job_prints_cuts_fig8_table_with_oracle_and_ui_hint(tmp_path, monkeypatch):
    from zoo.train.main_job import MAIN_CUTS, MAIN_RECIPE, run_main

    monkeypatch.setenv("DECOMPZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)  # the study report goes to ./reports/<experiment>
    import json

    def reasons(pairs):  # the main study's cuts and recipe, as its study file states them
        return "[" + ", ".join(f"{{ set = {json.dumps(o)}, why = {json.dumps(w)} }}" for o, w in pairs) + "]"

    study = _write_study(
        tmp_path,
        '[study]\nname = "m"\nspecs = ["SPECS/gru.toml"]\nset = ["train.test_years=[2016]"]\n'
        f"cuts = {reasons(MAIN_CUTS)}\nrecipe = {reasons(MAIN_RECIPE)}\n"
        'labels = { weighted_mse = "mse" }\nselection_years = [2015]\n'
        '[study.grid]\n"train.loss" = ["ic", "weighted_mse"]\n',
    )
    lines: list[str] = []
    sets = ["data.window=30", "data.min_history=20", "train.train_years=1"]
    sets += ["train.max_epochs=1", "train.days_per_epoch=4", "train.valid_stride=20", "train.seeds=[0]"]
    out = run_main(
        data="synth:30",
        extra=sets,
        uri=f"sqlite:///{tmp_path}/mlflow.db",
        echo=lines.append,
        study_path=study,
    )
    text = "\n".join(lines)
    for override, _ in (*MAIN_CUTS, *MAIN_RECIPE):
        assert override in text  # every cut and every change to the report's recipe is printed
    res = out["results"][0]
    assert res.spec.data.neutralize is False and res.spec.train.neutralize_scores is True
    table = out["tables"][10]
    bases = [f"{name} (baseline)" for name in DEFAULT_BASELINES]
    assert list(table.columns) == ["GRU-IC", "GRU-MSE", "oracle", "feasible oracle", *bases]
    assert list(table.index) == ["RankIC", "RankICIR", "IC win rate"]
    assert table.loc["RankIC", "oracle"] > 0.05 and table.notna().all().all()
    # what prices reveal is less than the latent state: the feasible oracle stays below the oracle
    assert table.loc["RankIC", "feasible oracle"] < table.loc["RankIC", "oracle"]
    assert "low_vol_20" in text and "right of '|': baseline factors" in text
    assert "zoo ui" in text and out["experiment"] == "main"
    assert "TOP group (all, 20 groups) gru-ic: ann. return" in text  # the evaluation ran on the runs
    assert "TOP group (all, 20 groups) gru-mse: ann. return" in text
    assert out["evaluation"].report.is_file() and out["evaluation"].report.parent.parent.name == "reports"
    scores = out["scores"]
    assert scores.dims == ("model", "date", "symbol")
    assert list(scores["model"].values) == ["gru-ic", "gru-mse"]
    assert res.score["date"].dt.year.values.min() == 2016
    # a baseline column is the factor on exactly the models' cells, scored by the models' own ic_of
    from zoo.evaluation.ic import ic_of

    from zoo.registry import get_registry
    from zoo.train.data import open_source

    src = open_source(res.spec.data)
    factor = get_registry().build("factor", "low_vol_20")(src.cube)
    both = scores.notnull().all("model")
    expected = ic_of(factor.where(both), src.label(10))["rank_ic"]
    assert table.loc["RankIC", "low_vol_20 (baseline)"] == pytest.approx(expected)
    assert ic_of(factor, src.label(10))["rank_ic"] != pytest.approx(expected)  # the mask matters
    assert "TOP group (all, 20 groups) low_vol_20 (baseline): ann. return" in text
    _check_verdicts(out, text, table, src, f"sqlite:///{tmp_path}/mlflow.db")


def _check_verdicts(out, text, table, src, uri):
    """A verdict line per model and horizon against the baseline of the highest mean RankIC, with the NW t
    of the paired daily differences; logged on the parents; selection years printed and tagged."""
    from zoo.evaluation.ic import rank_ic
    from zoo.evaluation.paired import paired_test

    from zoo.tracking import runs as tracking

    bases = [c for c in table.columns if c.endswith("(baseline)")]
    best = max(bases, key=lambda b: table.loc["RankIC", b])  # the table's own numbers choose it
    short = best.removesuffix(" (baseline)")
    res = out["results"][0]
    model = rank_ic(res.score, src.label(10))
    from zoo.registry import get_registry

    factor = get_registry().build("factor", short)(src.cube).where(out["scores"].notnull().all("model"))
    expected = paired_test(model, rank_ic(factor, src.label(10)), 10)
    verdicts = out["verdicts"][10]
    row = verdicts.loc[("GRU-IC", f"{short} (best baseline)")]
    assert (row["diff"], row["nw_t"], row["lags"]) == pytest.approx((expected.mean, expected.t, 9))
    assert row["diff"] == pytest.approx(table.loc["RankIC", "GRU-IC"] - table.loc["RankIC", best], abs=1e-12)
    for h in (10, 20):
        said = [ln for ln in text.splitlines() if ln.startswith(("  GRU-IC", "  GRU-MSE")) and short in ln]
        assert len([ln for ln in said if f"lags {h - 1}" in ln]) == 2, said
    assert ("GRU-MSE", "GRU-IC") in verdicts.index  # the models against each other too
    assert "paired tests, row minus column" in text
    assert "selection years 2015: no test year [2016] was used to choose the settings" in text
    c = tracking.client(uri)
    parent = c.get_run(res.parent_run_id).data
    assert parent.metrics["0_vs_best_baseline_RankIC_10d"] == pytest.approx(row["diff"])
    assert parent.metrics["0_vs_best_baseline_NW_t_10d"] == pytest.approx(row["nw_t"])
    assert {"0_vs_best_baseline_RankIC_20d", "0_vs_best_baseline_NW_t_20d"} <= set(parent.metrics)
    assert parent.tags["zoo.best_baseline_10d"] == short
    assert parent.tags["zoo.selection_years"] == "[2015]"
    shown = compare_runs(uri, "main")
    assert shown.loc["0_vs_best_baseline_NW_t_10d", "gru-ic"] == round(row["nw_t"], 4)
    assert shown.loc["best_baseline_10d", "gru-ic"] == short
    pair = verdicts.loc[("GRU-IC", "GRU-MSE")]  # zoo compare pairs the runs from their logged daily ICs
    said = f"{pair['diff']:+.3f} (t {pair['nw_t']:.1f})"
    assert shown.attrs["pairwise"][10].loc["gru-ic", "gru-mse"] == said
    assert set(shown.attrs["pairwise"]) == {10, 20}


def test_interrupted_study_resumes_without_redoing_finished_runs(tmp_path):
    from test_train_tracking import ToySource

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    path = _write_study(
        tmp_path,
        '[study]\nname = "resume"\nspecs = ["SPECS/gru.toml"]\n'
        '[study.grid]\n"train.loss" = ["ic", "weighted_mse"]\n',
    )
    sets = [*TINY, "train.test_years=[2020, 2021]"]

    def kill(year: int, seed: int) -> None:
        raise KeyboardInterrupt  # as if Ctrl-C arrived right after the first child finished

    with pytest.raises(KeyboardInterrupt):
        run_study(load_study(path), sets, uri=uri, open_source=lambda d: ToySource(), on_child_done=kill)
    done: list[tuple[int, int]] = []
    results = run_study(
        load_study(path),
        sets,
        uri=uri,
        open_source=lambda d: ToySource(),
        on_child_done=lambda y, s: done.append((y, s)),
    )
    assert [(r.trained, r.reused) for r in results] == [(1, 1), (2, 0)]
    assert done == [(2021, 0), (2020, 0), (2021, 0)]  # gru-ic's 2020 run was not redone
    from zoo.tracking import runs as tracking

    c = tracking.client(uri)
    exp = c.get_experiment_by_name("resume")
    runs = c.search_runs([exp.experiment_id])
    assert {r.info.status for r in runs} == {"FINISHED"}  # the interrupted parent was resumed, not duplicated
    children = [(r.info.run_name) for r in runs if r.data.tags.get("zoo.role") == "child"]
    assert sorted(children) == sorted(
        f"{v}-{y}-s0" for v in ("gru-ic", "gru-weighted_mse") for y in (2020, 2021)
    )


def test_seed_metrics_and_table_show_every_seed_and_the_spread():
    import numpy as np
    from test_train_tracking import ToySource
    from zoo.evaluation.ic import ic_of

    from zoo.train.collect import seed_metrics
    from zoo.train.report import seed_table

    src = ToySource()
    label = src.label(10)
    rng = np.random.default_rng(0)
    scores = {
        s: label + rng.normal(scale=scale, size=label.shape) for s, scale in ((0, 0.5), (42, 2.0), (7, 8.0))
    }
    m = seed_metrics(scores, src)
    ics = [ic_of(scores[s], label)["rank_ic"] for s in (0, 42, 7)]
    assert [m[f"rank_ic_10d_seed{s}"] for s in (0, 42, 7)] == pytest.approx(ics)
    assert ics[0] > ics[1] > ics[2]  # the noisier seed is worse, so the spread is real
    assert m["rank_ic_10d_seed_mean"] == pytest.approx(np.mean(ics))
    assert m["rank_ic_10d_seed_std"] == pytest.approx(np.std(ics, ddof=1))
    assert (m["rank_ic_10d_seed_min"], m["rank_ic_10d_seed_max"]) == pytest.approx((ics[2], ics[0]))
    assert "rank_ic_20d_seed_std" in m
    assert "rank_ic_10d_seed_std" not in seed_metrics({0: scores[0]}, src)  # one seed: no spread to show
    table = seed_table({"a": {**m, "rank_ic_10d": 0.5}})
    assert table.loc["a", "10d ensemble"] == 0.5
    assert [table.loc["a", f"10d seed {s}"] for s in (0, 7, 42)] == pytest.approx([ics[0], ics[2], ics[1]])
    assert table.loc["a", "10d std"] == pytest.approx(np.std(ics, ddof=1))


def test_study_cuts_and_recipe_are_read_and_checked(tmp_path):
    main = load_study("main")
    assert ("train.train_years=2", "2 training years before the validation year instead of 4") in main.cuts
    assert not any(o.startswith("train.seeds") for o, _ in main.cuts)  # the report's three seeds run
    assert [o for o, _ in main.recipe] == ["data.neutralize=false", "train.neutralize_scores=true"]
    bad = _write_study(tmp_path, '[study]\nspecs = ["SPECS/gru.toml"]\ncuts = ["train.seeds=[0]"]\n')
    with pytest.raises(SpecError, match=r"study.cuts must be a list of \{ set = "):
        load_study(bad)


def test_study_verdicts_pair_the_models_and_spread_over_seeds(tmp_path):
    """Two seeds: each model's per-seed daily RankIC, and the seeds' spread of the paired difference."""
    import numpy as np
    from test_train_tracking import ToySource
    from zoo.evaluation.ic import rank_ic

    from zoo.train.verdicts import report_verdicts, study_ics

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    path = _write_study(
        tmp_path,
        '[study]\nname = "seeds"\nspecs = ["SPECS/gru.toml"]\nselection_years = [2021]\n'
        '[study.grid]\n"train.loss" = ["ic", "weighted_mse"]\n',
    )
    src = ToySource()
    results = run_study(load_study(path), [*TINY, "train.seeds=[0, 1]"], uri=uri, open_source=lambda d: src)
    assert all(sorted(r.seed_scores) == [0, 1] for r in results)
    ics = study_ics(results, src)  # no baselines: the models against each other only
    a, b = (ics.series[10][r.name] for r in results)
    seeds = ics.seeds[10]["gru-ic"]
    assert seeds[1].equals(rank_ic(results[0].seed_scores[1], src.label(10)))
    lines: list[str] = []
    tables = report_verdicts(ics, results, uri, lines.append, (2021,))
    row = tables[10].loc[("gru-ic", "gru-weighted_mse")]
    per_seed = [float((seeds[s] - b).mean()) for s in (0, 1)]
    assert row["seeds"] == 2 and row["seed_std"] == pytest.approx(np.std(per_seed, ddof=1))
    assert row["diff"] == pytest.approx(float((a - b).dropna().mean()))
    text = "\n".join(lines)
    assert "10-day paired tests, row minus column" in text and "verdicts against the best" not in text
    assert "selection years 2021: the settings were chosen on test years [2021]" in text  # in-sample
    from zoo.tracking import runs as tracking

    tags = tracking.client(uri).get_run(results[0].parent_run_id).data.tags
    assert tags["zoo.selection_years"] == "[2021]"


def test_selection_years_must_be_years(tmp_path):
    bad = _write_study(tmp_path, '[study]\nspecs = ["SPECS/gru.toml"]\nselection_years = "2020"\n')
    with pytest.raises(SpecError, match="selection_years must be a list of years"):
        load_study(bad)
    none = _write_study(tmp_path, '[study]\nspecs = ["SPECS/gru.toml"]\nselection_years = []\n')
    assert load_study(none).selection_years == ()
    assert load_study(REPO / "specs/studies/main.toml").selection_years == (2020, 2021, 2022)
    assert load_study(_write_study(tmp_path, '[study]\nspecs = ["SPECS/gru.toml"]\n')).selection_years is None
