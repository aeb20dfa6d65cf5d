"""Shared test set-up: deterministic, single-threaded torch; the outside plugin folder importable."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXT = Path(__file__).resolve().parent / "ext"
#: The full real data set the embedded slice was cut from; not part of the repository.
REAL_DATA = Path(os.environ.get("ZOO_REAL_DATA", ROOT.parent / "shared" / "data" / "cn_ashare_tdx_2015_2023"))


def pytest_collection_modifyitems(config, items):
    """Leave out ``real_data`` tests without the data set: a user's run shows no skip line for them."""
    if (REAL_DATA / "daily.parquet").exists():
        return
    left_out = [item for item in items if item.get_closest_marker("real_data")]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if not item.get_closest_marker("real_data")]


@pytest.fixture(autouse=True, scope="session")
def _torch_threads():
    import torch

    torch.set_num_threads(1)
    yield


@pytest.fixture(autouse=True)
def _one_auto_thread(monkeypatch):
    """Fits left at train.threads=0 use one thread here too (the suite's numbers must not follow load)."""
    import zoo.train.threads

    monkeypatch.setattr(zoo.train.threads, "auto_threads", lambda cores=None, others=None: 1)


@pytest.fixture
def ext_on_path(monkeypatch):
    """Put tests/ext (modules outside every package) on sys.path, as PYTHONPATH would."""
    monkeypatch.syspath_prepend(str(EXT))
    from zoo.registry import clear_registry_cache

    clear_registry_cache()
    yield EXT
    clear_registry_cache()
    for name in ("attention_free_mixer", "duplicate_mixer"):
        sys.modules.pop(name, None)


@pytest.fixture
def specs_dir() -> Path:
    """The repository's specs/ folder."""
    return ROOT / "specs"
