"""A sqlite store that was moved or copied keeps its artifacts: their locations follow the database.

MLflow writes each experiment's and run's artifact location into the database as an absolute URI
(``file:///old/home/mlartifacts/<experiment>/<run>/artifacts``), so a store folder moved elsewhere
reads (or misses) the artifacts of its old place, and a copy writes into the original. The zoo
keeps a store's artifacts in ``mlartifacts/`` beside ``mlflow.db``; :func:`rehome` rewrites
locations under another folder's ``mlartifacts/`` to this one's, when this one exists. Only
locations of that layout change (a server's ``mlflow-artifacts:`` URIs, or artifact roots the
user chose elsewhere, stay as they are); the old root is kept in the experiment tag
:data:`MOVED_TAG`.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import unquote, urlparse

#: The folder of a zoo store's artifacts, beside its database.
ARTIFACT_DIR = "mlartifacts"
#: Experiment tag naming the artifact root the experiment's locations were rewritten from.
MOVED_TAG = "zoo.artifacts_moved_from"
#: Columns holding artifact locations (those a store lacks are skipped).
LOCATION_COLUMNS = (
    ("experiments", "artifact_location"),
    ("runs", "artifact_uri"),
    ("logged_models", "artifact_location"),
    ("model_versions", "source"),
    ("model_versions", "storage_location"),
)


def _local_path(location: str) -> Path | None:
    """The local path of a ``file:`` URI or an absolute path (None for any other scheme)."""
    if location.startswith("file:"):
        return Path(unquote(urlparse(location).path))
    return Path(location) if location.startswith("/") else None


def old_roots(con: sqlite3.Connection, new_root: Path) -> dict[str, tuple[str, list[int]]]:
    """``{old prefix: (new prefix, experiment ids)}`` for the experiments whose artifact location is
    ``<another folder>/mlartifacts/<name>``."""
    out: dict[str, tuple[str, list[int]]] = {}
    for exp_id, location in con.execute("SELECT experiment_id, artifact_location FROM experiments"):
        prefix = (location or "").rstrip("/").rsplit("/", 1)[0]
        path = _local_path(prefix)
        if path is None or path.name != ARTIFACT_DIR or path.resolve() == new_root.resolve():
            continue
        new = new_root.as_uri() if prefix.startswith("file:") else str(new_root)
        out.setdefault(prefix, (new, []))[1].append(exp_id)
    return out


def _columns(con: sqlite3.Connection) -> list[tuple[str, str]]:
    have = []
    for table, column in LOCATION_COLUMNS:
        names = {row[1] for row in con.execute(f"PRAGMA table_info({table})")}
        if column in names:
            have.append((table, column))
    return have


def rehome(db: Path) -> dict[str, str]:
    """Point a moved sqlite store's artifact locations at the ``mlartifacts/`` beside ``db``.

    Nothing changes when that folder does not exist (only the database was moved: the old
    artifacts are still the ones to read) or when every location is already there. Returns the
    prefixes rewritten, ``{old: new}``. Call it holding the store's lock.
    """
    new_root = db.parent / ARTIFACT_DIR
    if not db.is_file() or not new_root.is_dir():
        return {}
    con = sqlite3.connect(db)
    try:
        with con:  # one transaction: every location moves, or none
            if not con.execute("SELECT name FROM sqlite_master WHERE name = 'experiments'").fetchone():
                return {}  # a database MLflow has not set up yet
            moved = old_roots(con, new_root)
            for table, column in _columns(con) if moved else ():
                for old, (new, _) in moved.items():
                    n = len(old)
                    con.execute(
                        f"UPDATE {table} SET {column} = ? || substr({column}, ?) WHERE substr({column}, 1, ?)"
                        f" = ? AND (length({column}) = ? OR substr({column}, ?, 1) = '/')",
                        (new, n + 1, n, old, n, n + 1),
                    )
            con.executemany(
                "INSERT OR REPLACE INTO experiment_tags (key, value, experiment_id) VALUES (?, ?, ?)",
                [(MOVED_TAG, old, i) for old, (_, ids) in moved.items() for i in ids],
            )
    finally:
        con.close()
    return {old: new for old, (new, _) in moved.items()}
