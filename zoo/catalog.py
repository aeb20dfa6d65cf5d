"""The built-in specs and studies shipped in the package, found by name (``zoo list specs``).

A spec or study argument is a path when that file exists; otherwise a built-in name: ``decompgru``,
``gru.toml``, ``ablations/demean`` (or just ``demean``) for specs, ``main`` or ``ablations`` for studies.
The files live in the repository's ``specs/`` folder, installed as the package ``zoo.builtin_specs``.
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
import importlib.resources
import tomllib
from pathlib import Path
from typing import Literal, NamedTuple

from zoo.errors import SpecError

Kind = Literal["spec", "study"]
#: The sub-folder of the built-in specs that holds study files.
STUDIES = "studies"


class Builtin(NamedTuple):
    """One built-in spec or study: its name, kind, file and one-line description."""

    name: str
    kind: Kind
    path: Path
    description: str


@functools.cache
def builtin_dir() -> Path:
    """The folder of the built-in TOML files (the checkout's ``specs/`` or the installed package's)."""
    return Path(str(importlib.resources.files("zoo.builtin_specs")))


def _description(path: Path, kind: Kind) -> str:
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return ""
    table = raw.get("study", {}) if kind == "study" else raw
    return str(table.get("description", "")).strip() if isinstance(table, dict) else ""


@functools.cache
def builtins() -> tuple[Builtin, ...]:
    """Every built-in spec (``specs/*.toml``, ``specs/<group>/*.toml``) and study, sorted by kind and name."""
    root = builtin_dir()
    found = []
    for path in sorted(root.rglob("*.toml")):
        rel = path.relative_to(root).with_suffix("")
        kind: Kind = "study" if rel.parts[0] == STUDIES else "spec"
        name = rel.name if kind == "study" else rel.as_posix()
        found.append(Builtin(name, kind, path, _description(path, kind)))
    return tuple(sorted(found, key=lambda b: (b.kind != "spec", b.name)))


def list_builtins(kind: Kind | None = None, pattern: str = "*") -> list[Builtin]:
    """Built-ins of ``kind`` (both when None) whose name matches the wildcard ``pattern``."""
    return [b for b in builtins() if (kind is None or b.kind == kind) and fnmatch.fnmatch(b.name, pattern)]


def _aliases(b: Builtin) -> set[str]:
    """The names a built-in answers to: ``ablations/demean`` also as ``demean``."""
    return {b.name, b.name.rsplit("/", 1)[-1]}


def find_builtin(name: str, kind: Kind) -> Path | None:
    """The built-in file of ``kind`` called ``name`` (``.toml`` optional), or None."""
    key = name.removesuffix(".toml").removeprefix("specs/")  # a checkout path, typed in another folder
    hits = [b.path for b in builtins() if b.kind == kind and key in _aliases(b)]
    return hits[0] if len(hits) == 1 else None


def resolve(ref: str | Path, kind: Kind) -> Path:
    """An existing file ``ref`` as given, else the built-in ``kind`` of that name; else a SpecError."""
    path = Path(ref)
    if path.is_file():
        return path
    found = find_builtin(path.as_posix(), kind) if len(path.parts) <= 3 else None
    if found is not None:
        return found
    known = [b.name for b in builtins() if b.kind == kind]
    aliases = sorted({a for b in builtins() if b.kind == kind for a in _aliases(b)})
    close = difflib.get_close_matches(str(ref).removesuffix(".toml"), aliases, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise SpecError(
        f"{kind} file not found: {ref} (no such file, and no built-in {kind} of that name{hint}); "
        f"built-in {kind}s: {', '.join(known)} (zoo list specs)"
    )
