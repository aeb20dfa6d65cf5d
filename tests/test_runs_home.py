"""Where the default MLflow store and reports/ live: ZOO_HOME pins them; elsewhere every command says so."""

from __future__ import annotations

from pathlib import Path

from zoo.tracking import store as runs
from zoo.train.ui import log_folder

REPO = Path(__file__).resolve().parents[1]


def test_zoo_home_pins_store_and_reports(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ZOO_HOME", raising=False)
    assert runs.tracking_uri() == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"
    assert runs.reports_dir("my study") == Path("reports/my_study")  # printed as the README shows it
    home = tmp_path / "home"
    monkeypatch.setenv("ZOO_HOME", str(home))
    assert runs.tracking_uri() == f"sqlite:///{home.resolve() / 'mlflow.db'}"
    assert runs.reports_dir("main") == home.resolve() / "reports" / "main"
    # an explicit URI, the environment's or the spec's still wins over the home's store
    assert runs.tracking_uri(spec_uri="sqlite:////x/y.db") == "sqlite:////x/y.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert runs.tracking_uri() == "http://127.0.0.1:5000"
    # the UI's log goes beside a sqlite store, else into the home
    assert log_folder("sqlite:////a/b/mlflow.db") == Path("/a/b")
    assert log_folder("http://127.0.0.1:5000") == home.resolve()


def test_location_is_announced_only_away_from_the_repository(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("ZOO_HOME", raising=False)
    monkeypatch.chdir(REPO)
    assert runs.location_notice() is None  # the README's commands, run in the checkout: nothing to say
    monkeypatch.chdir(tmp_path)
    line = runs.location_notice()
    where = f"store: sqlite:///{tmp_path.resolve() / 'mlflow.db'}; reports: {tmp_path.resolve()}/reports/"
    assert line == where + " (set $ZOO_HOME to pin them)"
    monkeypatch.setenv("ZOO_HOME", str(REPO))
    assert runs.location_notice() is None  # pinned to the checkout from anywhere
    assert runs.location_notice("sqlite:////elsewhere/mlflow.db").startswith("store: sqlite:////elsewhere")


def test_every_store_command_prints_the_location(tmp_path, monkeypatch, capsys):
    from zoo.cli import main

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("ZOO_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert main(["compare"]) == 2  # an empty store: no experiment, but the location comes first
    err = capsys.readouterr().err
    where = f"store: sqlite:///{tmp_path.resolve() / 'mlflow.db'}; reports: {tmp_path.resolve()}/reports/"
    assert err.splitlines()[0] == where + " ($ZOO_HOME)"
