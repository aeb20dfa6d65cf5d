"""Whole-store writes that are either done or not: written aside, swapped in, checked on the way back.

A write builds the new store in ``.NAME.tmp-PID-XXXX`` beside ``NAME``, records every file's size in
``zoo.chunks.json`` (the manifest), then swaps: ``NAME`` -> ``.NAME.old-PID-XXXX``, the aside folder ->
``NAME``, the old one removed. A process killed at any point leaves one of:

- only an aside folder beside the store (killed while writing): the store is as before;
- no ``NAME`` but an old folder (killed between the two renames): :func:`recover` renames it back, so
  the store is as before;
- an old folder beside the new ``NAME`` (killed before the cleanup): the store is as after.

:func:`recover` (run by ``read_store``) puts the store back and says what it found; an aside folder of
a process still running on this machine is left alone. :func:`verify` refuses a store whose chunk
files are missing or shorter than the manifest says, naming the variable and the chunk (Zarr would
read a missing chunk as its fill value without a word).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

from zoo.errors import DataError
from zoo.faults import FAULT_ENV, point

__all__ = ["FAULT_ENV", "MANIFEST", "aside", "point", "recover", "swap", "verify", "write_manifest"]

#: The manifest file inside a store: ``{"format": 1, "files": {relative path: size in bytes}}``.
MANIFEST = "zoo.chunks.json"


def aside(path: Path, kind: str = "tmp") -> Path:
    """A fresh sibling name ``.NAME.KIND-PID-XXXX`` for a store being written (or moved away)."""
    return path.with_name(f".{path.name}.{kind}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def write_manifest(folder: Path) -> None:
    """Record every file's size under ``folder`` (the store written aside) in its manifest."""
    files = {
        str(p.relative_to(folder)): p.stat().st_size
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }
    tmp = folder / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps({"format": 1, "files": files}))
    os.replace(tmp, folder / MANIFEST)


def swap(tmp: Path, path: Path) -> None:
    """Put the finished ``tmp`` in place of ``path`` (two renames, then the old store removed)."""
    write_manifest(tmp)
    point("aside-written")
    if not path.exists():
        os.replace(tmp, path)
        return
    old = aside(path, "old")
    os.replace(path, old)
    point("swapped-out")
    try:
        os.replace(tmp, path)
    except BaseException:
        os.replace(old, path)  # a failed rename (not a kill): the previous store back at once
        raise
    point("swapped-in")
    shutil.rmtree(old, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _debris(path: Path) -> list[tuple[str, int, Path]]:
    """``(kind, pid, folder)`` of every aside or old folder of ``path`` left by a finished process."""
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.(tmp|old)-(?:(\d+)-)?[0-9a-f]{{8}}$")
    found = []
    if path.parent.is_dir():
        for p in path.parent.iterdir():
            m = pattern.match(p.name)
            if m:
                pid = int(m.group(2)) if m.group(2) else 0
                if pid and pid != os.getpid() and _alive(pid):
                    continue  # another process on this machine is writing it now
                found.append((m.group(1), pid, p))
    return sorted(found, key=lambda t: t[2].stat().st_mtime)


def _stderr(line: str) -> None:
    print(f"note: {line}", file=sys.stderr)


def recover(path: str | os.PathLike, report: Callable[[str], None] = _stderr) -> list[str]:
    """Put ``path`` back after an interrupted write (see the module doc); say what was found and done."""
    path = Path(path)
    lines = []
    debris = _debris(path)
    olds = [p for kind, _, p in debris if kind == "old"]
    if not path.exists() and olds:
        back = olds[-1]
        os.replace(back, path)
        lines.append(
            f"{path}: a write was interrupted while swapping stores; put the previous store back from "
            f"{back.name} (the store is as before that write: rerun it)"
        )
    for kind, _, p in debris:
        if not p.exists():
            continue
        shutil.rmtree(p, ignore_errors=True)
        what = "an unfinished new store" if kind == "tmp" else "the previous store, already replaced"
        lines.append(
            f"{path}: removed {p.name}, left by an interrupted write ({what}); the store is unaffected"
        )
    for line in lines:
        report(line)
    return lines


def _variable_of(rel: str) -> tuple[str, str]:
    """``(variable, chunk)`` of a store file: ``bars/c/3/0/0`` -> ``("bars", "3/0/0")``."""
    parts = rel.split("/")
    if len(parts) >= 3 and parts[1] == "c":
        return parts[0], "/".join(parts[2:])
    return parts[0], rel


def verify(path: str | os.PathLike) -> None:
    """Refuse the store at ``path`` if a file its manifest lists is missing or has another size."""
    path = Path(path)
    man = path / MANIFEST
    if not man.is_file():
        return  # written before manifests: nothing to check against
    try:
        files = json.loads(man.read_text())["files"]
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: its manifest {MANIFEST} is unreadable ({exc}); rebuild the store") from None
    for rel, size in files.items():
        f = path / rel
        problem = None
        if not f.is_file():
            problem = "is missing"
        elif f.stat().st_size != size:
            problem = f"has {f.stat().st_size} bytes, the store wrote {size} (truncated or changed)"
        if problem:
            var, chunk = _variable_of(rel)
            raise DataError(
                f"{path}: variable {var!r} chunk {chunk} ({rel}) {problem}; the store is damaged: "
                f"restore it from a copy or rebuild it (zoo data ingest / zoo data synth)"
            )
