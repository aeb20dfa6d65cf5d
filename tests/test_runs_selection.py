"""Which parent runs `zoo compare` / `evaluate` / `enhance` see, run names of --set variants, ctx keys,
and the thread default (its timing is in bench/bench_threads.py; here only the policy)."""

from __future__ import annotations

import pytest

from zoo.errors import SpecError, ZooError
from zoo.specs import load_spec, variant_name
from zoo.tracking.store import pick_parents, resolve_parents, run_labels
from zoo.train.threads import ThreadPolicy, auto_threads, busy_cores_of_others


@pytest.fixture()
def study(tmp_path):
    """A study whose newest parent of spec A failed after three finished ones, plus B and a running C."""
    from mlflow.tracking import MlflowClient

    c = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = c.create_experiment("s", artifact_location=(tmp_path / "art").as_uri())
    ids = {}

    def parent(key: str, name: str, spec: str, status: str, t: int) -> None:
        tags = {"zoo.role": "parent", "zoo.spec_name": name.split(" ")[0], "zoo.spec_hash": spec}
        rid = c.create_run(exp, run_name=name, tags=tags, start_time=t).info.run_id
        c.log_metric(rid, "rank_ic_10d", t / 1000)
        c.log_param(rid, "train.loss.name", "ic" if spec == "aaa" else "weighted_mse")
        c.set_terminated(rid, status=status)
        ids[key] = rid

    parent("a1", "decompgru", "aaa", "FINISHED", 1000)
    parent("a2", "decompgru", "aaa", "FINISHED", 2000)
    parent("b", "decompgru [loss=weighted_mse]", "bbb", "FINISHED", 2500)
    parent("a3", "decompgru", "aaa", "FINISHED", 3000)
    parent("c", "gru", "ccc", "RUNNING", 3500)
    parent("a4", "decompgru", "aaa", "FAILED", 4000)
    return c, ids


def test_newest_finished_parent_per_spec_hash_and_what_was_skipped(study):
    c, ids = study
    name, runs, skipped = resolve_parents(c, "s")
    assert name == "s"
    assert [r.info.run_id for r in runs] == [ids["b"], ids["a3"]]  # oldest first; the FAILED a4 hides nothing
    text = "\n".join(skipped)
    assert len(skipped) == 4
    assert f"{ids['a4'][:8]}, spec aaa, FAILED): not finished; the finished {ids['a3'][:8]}" in text
    assert f"{ids['c'][:8]}, spec ccc, RUNNING): no run of this spec finished" in text
    assert f"{ids['a1'][:8]}, spec aaa, FINISHED): an older run of the same spec" in text
    assert run_labels(runs) == ["decompgru [loss=weighted_mse]", "decompgru"]
    # explicit ids are taken as given, finished or not
    assert resolve_parents(c, [ids["a4"]]).runs[0].info.run_id == ids["a4"]


def test_two_specs_of_one_name_get_distinct_labels(study):
    c, ids = study
    runs = [c.get_run(ids["a3"]), c.get_run(ids["b"])]
    c.set_tag(ids["b"], "mlflow.runName", "decompgru")
    runs[1] = c.get_run(ids["b"])
    assert run_labels(runs) == ["decompgru@aaa", "decompgru@bbb"]


def test_a_study_with_nothing_finished_says_why(tmp_path):
    from mlflow.tracking import MlflowClient

    c = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = c.create_experiment("f", artifact_location=(tmp_path / "art").as_uri())
    rid = c.create_run(exp, run_name="gru", tags={"zoo.role": "parent", "zoo.spec_hash": "h"}).info.run_id
    c.set_terminated(rid, status="KILLED")
    with pytest.raises(ZooError, match=r"no finished parent run: skipped gru .*KILLED\): no run of"):
        resolve_parents(c, "f")
    assert pick_parents([]) == ([], [])


def test_compare_shows_every_finished_spec_and_the_skipped(study, tmp_path, capsys):
    from zoo.cli import main

    c, ids = study
    uri = c._tracking_client.tracking_uri
    assert main(["compare", "--experiment", "s", "--uri", uri]) == 0
    out = capsys.readouterr().out
    assert "decompgru [loss=weighted_mse]" in out and "FAILED" in out.split("skipped", 1)[1]
    table = out.split("skipped", 1)[0]
    assert "FAILED" not in table and "train.loss.name" in table
    (rank_ic,) = [line.split() for line in table.splitlines() if line.startswith("rank_ic_10d")]
    assert rank_ic[1:] == ["2.5", "3.0"]  # b's and a3's metrics, not the failed a4's NaN


def test_variant_name_shows_component_sets():
    sets = ["model.branches.trend.mixer.name=demean", "train.loss.name=weighted_mse", "train.seeds=[0]"]
    assert variant_name("decompgru", sets) == "decompgru [trend.mixer=demean, loss=weighted_mse]"
    assert variant_name("decompgru", ["model.trunk.0.hidden=32"]) == "decompgru [trunk.0.hidden=32]"
    assert variant_name("decompgru", ["train.max_epochs=2", 'data.store="synth"']) == "decompgru"
    assert variant_name("decompgru", ["model.norm=none", "name=mine"]) == "mine"


def test_run_name_of_a_component_set_and_the_spec_hash_unchanged(tmp_path):
    from test_train_tracking import ToySource, _spec

    from zoo.specs import spec_hash
    from zoo.tracking import runs as tracking
    from zoo.train.runner import run_spec

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    spec = _spec(extra=("train.test_years=[2021]", "train.seeds=[0]", "train.max_epochs=1"))
    res = run_spec(spec, ToySource(), experiment="e", uri=uri, run_name="gru [loss=weighted_mse]")
    parent = tracking.client(uri).get_run(res.parent_run_id)
    assert parent.info.run_name == "gru [loss=weighted_mse]"
    assert parent.data.tags["zoo.spec_name"] == "gru" and res.spec_hash == spec_hash(spec)
    child = tracking.child_runs(tracking.client(uri), parent.info.experiment_id, res.parent_run_id)[0]
    assert child.data.metrics["torch_threads_max"] == 1  # conftest pins auto to one thread


def test_a_ctx_key_the_data_lacks_fails_at_validation(specs_dir, monkeypatch):
    import zoo.train.runner

    def no_run(*a, **k):
        raise AssertionError("a run was created")

    monkeypatch.setattr(zoo.train.runner, "run_spec", no_run)
    with pytest.raises(SpecError) as info:
        load_spec(specs_dir / "decompgru.toml", overrides=["model.branches.trend.mixer.by=sector"])
    msg = str(info.value)
    assert "model.branches.trend.mixer.by: mixer 'group_demean' needs ctx['sector']" in msg
    assert "industry, mask, size, size_group" in msg
    load_spec(specs_dir / "ablations" / "industry_demean.toml")  # by = "industry" is provided

    from zoo.cli import main

    args = ["train", str(specs_dir / "decompgru.toml"), "--set", "model.branches.trend.mixer.by=sector"]
    assert main(args) == 2


def test_auto_threads_takes_the_free_cores():
    assert auto_threads(cores=2, others=0.1) == 2  # quiet: keep the multi-thread gain
    assert auto_threads(cores=2, others=1.0) == 1  # one core busy elsewhere: do not wait on it
    assert auto_threads(cores=2, others=5.0) == 1  # overloaded: still one
    assert auto_threads(cores=16, others=3.7) == 12
    assert 0.0 <= busy_cores_of_others(0.05) < 1000


def test_thread_policy_fixed_or_rechecked():
    import torch

    before = torch.get_num_threads()
    try:
        fixed = ThreadPolicy(2, choose=lambda: 1, recheck=0.0)
        assert torch.get_num_threads() == 2 and fixed.update() == 2 and fixed.used == {2}
        counts = iter([2, 1])
        auto = ThreadPolicy(0, choose=lambda: next(counts), recheck=0.0)
        assert torch.get_num_threads() == 2
        assert auto.update() == 1 and torch.get_num_threads() == 1 and auto.used == {1, 2}
    finally:
        torch.set_num_threads(before)
