"""What every experiment prints and writes: the commit, the machine's load, a CSV beside its results page."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pandas as pd


def commit() -> str:
    """The checkout's commit (``+dirty`` when the tree has changes), or ``unknown``."""
    try:
        head = _git("rev-parse", "--short", "HEAD")
        dirty = _git("status", "--porcelain")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout.strip()


#: Taken when the experiment starts (the code it imported), not when it writes.
START_COMMIT = commit()
START_LOAD = " ".join(f"{x:.1f}" for x in os.getloadavg())


def provenance(command: str) -> str:
    """One line: the command, the commit the run started from and the load average at start and now."""
    now = " ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"command: {command}; commit {START_COMMIT}; load average {START_LOAD} at start, {now} at the end"


def write_csv(table: pd.DataFrame, out: Path | None, command: str) -> None:
    """Print the table and, when ``out`` is given, write it as CSV with a ``# provenance`` first line."""
    line = provenance(command)
    print(line)
    print(table.to_string())
    if out is None:
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w") as f:
        f.write(f"# {line}\n")
        table.to_csv(f)
    print(f"wrote {out}")
