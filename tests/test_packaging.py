"""The installable distribution: one ``zoo`` namespace, built-in specs by name, a wheel beside HF datasets."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from zoo import catalog
from zoo.errors import SpecError

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
#: Hugging Face's distribution whose top-level ``datasets`` package the old layout collided with.
HF_DATASETS = "datasets"


def _mapped_packages() -> set[str]:
    """Every package folder of the checkout under the name it installs as (``datasets``: ``zoo.datasets``)."""
    dirs = PYPROJECT["tool"]["setuptools"]["package-dir"]
    folder_to_pkg = {folder: pkg for pkg, folder in dirs.items()}
    found = set()
    for init in REPO.glob("*/**/__init__.py"):
        rel = init.parent.relative_to(REPO)
        top = rel.parts[0]
        if top in folder_to_pkg:
            found.add(".".join([folder_to_pkg[top], *rel.parts[1:]]))
        elif top == "zoo":
            found.add(".".join(rel.parts))
    return found


def test_every_package_folder_is_listed_and_installs_under_zoo():
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    assert _mapped_packages() == listed
    assert all(p == "zoo" or p.startswith("zoo.") for p in listed)


def test_specs_resolve_by_name_and_a_path_wins(tmp_path, monkeypatch):
    root = catalog.builtin_dir()
    assert catalog.resolve("decompgru", "spec") == root / "decompgru.toml"
    assert catalog.resolve("gru.toml", "spec") == root / "gru.toml"
    assert catalog.resolve("ablations/demean", "spec") == root / "ablations" / "demean.toml"
    assert catalog.resolve("demean", "spec") == root / "ablations" / "demean.toml"
    assert catalog.resolve("main", "study") == root / "studies" / "main.toml"
    assert catalog.resolve("specs/gru.toml", "spec").samefile(root / "gru.toml")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "gru.toml").write_text('name = "mine"\n')
    assert catalog.resolve("gru.toml", "spec") == Path("gru.toml")  # an existing path wins
    with pytest.raises(SpecError, match=r"spec file not found: decompgur .*did you mean 'decompgru'"):
        catalog.resolve("decompgur", "spec")
    with pytest.raises(SpecError, match="no built-in study"):
        catalog.resolve("gru", "study")  # a spec is not a study


def test_a_users_spec_extends_a_builtin_by_name(tmp_path):
    from zoo.specs import load_spec, spec_hash

    mine = tmp_path / "mine.toml"
    mine.write_text('extends = "decompgru"\nname = "decompgru"\n')
    assert spec_hash(load_spec(mine)) == spec_hash(load_spec("decompgru"))
    mine.write_text('extends = "nope"\n')
    with pytest.raises(SpecError, match="extends = 'nope': no such file .* and no built-in spec"):
        load_spec(mine)


def test_every_builtin_is_listed_with_a_description():
    names = {(b.kind, b.name) for b in catalog.builtins()}
    assert {
        ("spec", "decompgru"),
        ("spec", "gru"),
        ("spec", "ablations/no_mixer"),
        ("study", "main"),
    } <= names
    assert all(b.description for b in catalog.builtins())
    assert [b.name for b in catalog.list_builtins("spec", "*gru*")] == [
        "crossgru",
        "crossgru2",
        "decompgru",
        "gru",
    ]


# --------------------------------------------------------------------------- the wheel, in a fresh venv


def _venv_key() -> str:
    """The cached venv's key: this Python and every dependency line (a new requirement makes a new venv)."""
    deps = "\n".join(PYPROJECT["project"]["dependencies"])
    return hashlib.sha256(f"{sys.version}\n{deps}\n{HF_DATASETS}".encode()).hexdigest()[:12]


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: int = 600) -> str:
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, (
        f"{' '.join(cmd)} exited {out.returncode}:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    )
    return out.stdout + out.stderr


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The wheel built from this checkout, installed with its dependencies and HF ``datasets`` in a venv.

    The venv (torch 2.13.0 first, then the wheel with its dependencies, then Hugging Face ``datasets``)
    is cached under ``~/.cache/decompzoo`` by the dependency list; each run reinstalls the new wheel.
    """
    if shutil.which("git") is None:
        pytest.skip("needs git")
    work = tmp_path_factory.mktemp("wheel")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON", "ZOO_"))}
    env.pop("MLFLOW_TRACKING_URI", None)
    # build from a clean copy of the tracked files: what a user's `pip wheel .` of a clone sees
    src = work / "src"
    _run(["git", "clone", "-q", "--no-hardlinks", str(REPO), str(src)], work, env)
    files = subprocess.run(
        ["git", "ls-files", "-m", "-o", "--exclude-standard"], cwd=REPO, capture_output=True, text=True
    ).stdout.split()
    for rel in files:  # uncommitted edits too, so the test checks the tree under test
        target = src / rel
        if (REPO / rel).is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, target)
        elif target.exists():
            target.unlink()
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(work / "dist"), str(src)],
        work,
        env,
    )
    (wheel,) = (work / "dist").glob("decompzoo-*.whl")
    print(f"wheel: {wheel.name}, {wheel.stat().st_size / 2**20:.1f} MiB")
    cache = Path(os.environ.get("ZOO_WHEEL_TEST_CACHE", Path.home() / ".cache" / "decompzoo"))
    venv = cache / f"wheel-venv-{_venv_key()}"
    py = venv / "bin" / "python"
    if not py.exists():
        shutil.rmtree(venv, ignore_errors=True)
        _run([sys.executable, "-m", "venv", str(venv)], work, env)
        _run([str(py), "-m", "pip", "install", "-q", "torch==2.13.0"], work, env, timeout=1800)
        _run([str(py), "-m", "pip", "install", "-q", str(wheel), HF_DATASETS], work, env, timeout=1800)
    _run([str(py), "-m", "pip", "install", "-q", "--force-reinstall", "--no-deps", str(wheel)], work, env)
    _run([str(py), "-m", "pip", "check"], work, env)
    empty = work / "empty"
    empty.mkdir()
    return {
        "bin": venv / "bin",
        "cwd": empty,
        "env": {**env, "PATH": f"{venv / 'bin'}:{env.get('PATH', '')}"},
    }


@pytest.mark.slow
def test_the_wheel_works_from_an_empty_folder_beside_hf_datasets(installed):
    zoo, cwd, env = str(installed["bin"] / "zoo"), installed["cwd"], installed["env"]
    assert "decompzoo 0.3" in _run([zoo, "--version"], cwd, env)
    assert "[mixer]" in _run([zoo, "list"], cwd, env)
    listed = _run([zoo, "list", "specs"], cwd, env)
    assert "decompgru" in listed and "ablations/no_mixer" in listed and "main" in listed
    assert "parameters:" in _run([zoo, "show", "decompgru"], cwd, env)
    assert "embedded" in _run([zoo, "data", "info", "embedded"], cwd, env)
    sets = [
        "train.test_years=[2022]",
        "train.train_years=1",
        "train.seeds=[0]",
        "train.max_epochs=1",
        "train.days_per_epoch=2",
        "train.valid_stride=20",
    ]
    argv = [zoo, "train", "gru", "--data", "synth:300"] + [a for s in sets for a in ("--set", s)]
    assert "RankIC" in _run(argv, cwd, env, timeout=900)
    # `zoo main` starts: it finds its study and the embedded data, then is stopped
    proc = subprocess.Popen(
        [zoo, "main"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if line.startswith("data: embedded; study: main.toml"):
                break
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    assert any(s.startswith("data: embedded; study: main.toml (4 specs)") for s in seen), "".join(seen)
    # Hugging Face datasets still imports and is not shadowed
    out = _run(
        [
            str(installed["bin"] / "python"),
            "-c",
            "import datasets; print(datasets.__file__, datasets.load_dataset)",
        ],
        cwd,
        env,
    )
    assert "site-packages/datasets/__init__.py" in out
