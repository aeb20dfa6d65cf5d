"""Stores under faults: a SIGKILLed ``zoo data append`` / ``ingest`` leaves before or after, never mixed.

Each case runs the command in a subprocess that kills itself (SIGKILL) at a named point of the write
(``ZOO_FAULT_POINT``, ``zoo.datasets.atomic.point``); the next command (``zoo data info``) says what
debris it found and the store's bytes then equal the store before the command or after it. A store
with a missing or truncated chunk is refused naming the variable and the chunk.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from test_data_append import _store, store_digest
from zoo.datasets.atomic import FAULT_ENV, MANIFEST
from zoo.datasets.schema import read_store

from zoo.errors import DataError

#: The process runs ``zoo.cli.main`` with these arguments (a fresh interpreter, as a user's shell).
RUN = "import sys; from zoo.cli import main; sys.exit(main(sys.argv[1:]))"


def _zoo(args: list[str], fault: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != FAULT_ENV}
    if fault:
        env[FAULT_ENV] = fault
    return subprocess.run(
        [sys.executable, "-c", RUN, *map(str, args)], env=env, capture_output=True, text=True, timeout=240
    )


def _siblings(store: Path) -> list[str]:
    return sorted(p.name for p in store.parent.iterdir() if p.name.startswith(f".{store.name}."))


@pytest.fixture(scope="module")
def append_case(tmp_path_factory):
    """A store of 60 days, the file with the next 30, and the digests before and after the append."""
    tmp = tmp_path_factory.mktemp("append")
    store, files = _store(tmp)
    before = store_digest(store)
    after_store = tmp / "after.zarr"
    shutil.copytree(store, after_store)
    done = _zoo(["data", "append", files[1], "--to", after_store])
    assert done.returncode == 0, done.stderr
    return store, files, before, store_digest(after_store)


def _killed_at(point: str, src, store, args: list) -> None:
    """Copy ``src`` to ``store``, run ``zoo ARGS`` and let the fault point ``point`` kill it."""
    shutil.copytree(src, store)
    killed = _zoo(args, fault=point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr


#: point -> what the store is after the kill (and what the next command finds beside it).
APPEND_POINTS = {
    "cloned": ("before", "unfinished new store"),
    "region-written": ("before", "unfinished new store"),
    "aside-written": ("before", "unfinished new store"),
    "swapped-out": ("before", "put the previous store back"),
    "swapped-in": ("after", "already replaced"),
}


@pytest.mark.parametrize("point", sorted(APPEND_POINTS))
def test_a_killed_append_leaves_before_or_after(point, append_case, tmp_path):
    src, files, before, after = append_case
    store = tmp_path / "s.zarr"
    _killed_at(point, src, store, ["data", "append", files[1], "--to", store])
    assert _siblings(store), "the kill left no debris: the point was not reached mid-write"
    state, says = APPEND_POINTS[point]
    nxt = _zoo(["data", "info", store])
    assert nxt.returncode == 0, nxt.stderr
    assert says in nxt.stderr and "interrupted" in nxt.stderr, nxt.stderr
    assert not _siblings(store)
    assert store_digest(store) == (before if state == "before" else after)
    again = _zoo(["data", "append", files[1], "--to", store])  # the rerun finishes the job
    assert again.returncode == 0, again.stderr
    assert store_digest(store) == after


INGEST_POINTS = {
    "aside-written": ("before", "unfinished new store"),
    "swapped-out": ("before", "put the previous store back"),
    "swapped-in": ("after", "already replaced"),
}


@pytest.mark.parametrize("point", sorted(INGEST_POINTS))
def test_a_killed_ingest_over_a_store_leaves_before_or_after(point, append_case, tmp_path):
    src, files, before, _ = append_case
    store = tmp_path / "s.zarr"
    _killed_at(point, src, store, ["data", "ingest", files[0], files[1], "--out", store, "--no-labels"])
    nxt = _zoo(["data", "info", store])
    state, says = INGEST_POINTS[point]
    assert nxt.returncode == 0 and says in nxt.stderr, nxt.stderr
    assert not _siblings(store)
    if state == "before":
        assert store_digest(store) == before
    else:
        assert read_store(store).sizes["date"] == 90 and "label_raw" not in read_store(store)


def test_a_store_being_written_by_a_live_process_is_left_alone(append_case, tmp_path):
    src = append_case[0]
    store = tmp_path / "s.zarr"
    shutil.copytree(src, store)
    busy = tmp_path / f".s.zarr.tmp-{os.getppid()}-0123abcd"  # a live writer's aside folder
    busy.mkdir()
    read_store(store)
    assert busy.exists()


@pytest.mark.parametrize("damage", ["delete", "truncate"])
def test_a_damaged_chunk_is_refused_naming_variable_and_chunk(damage, append_case, tmp_path, capsys):
    from zoo.cli import main

    store = tmp_path / "s.zarr"
    shutil.copytree(append_case[0], store)
    chunk = next(p for p in sorted((store / "bars" / "c").rglob("*")) if p.is_file())
    rel = chunk.relative_to(store / "bars" / "c").as_posix()
    if damage == "delete":
        chunk.unlink()
    else:
        chunk.write_bytes(chunk.read_bytes()[:7])
    with pytest.raises(DataError, match=rf"variable 'bars' chunk {rel} .*(missing|truncated)"):
        read_store(store)
    files = append_case[1]
    assert main(["data", "append", str(files[1]), "--to", str(store)]) == 2
    err = capsys.readouterr().err
    assert f"variable 'bars' chunk {rel}" in err and len(err.strip().splitlines()) == 1, err
    assert (store / MANIFEST).is_file()
