"""Every path the README, the docs and the results index name (docs/, results/, experiments/, bench/) exists.

The results pages themselves quote the commands as they were run (some scripts have moved since).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PATH = re.compile(r"\b((?:docs|results|experiments|bench)/[\w./-]+\.(?:md|py|csv))")


def named_paths() -> set[tuple[str, str]]:
    """(file, path) for every path the README, a docs page or the results index names."""
    pages = [ROOT / "README.md", ROOT / "results" / "README.md", *(ROOT / "docs").glob("*.md")]
    return {(p.relative_to(ROOT).as_posix(), m) for p in pages for m in PATH.findall(p.read_text())}


def test_named_paths_exist():
    missing = sorted((page, path) for page, path in named_paths() if not (ROOT / path).exists())
    assert missing == []


def test_docs_name_no_commit_outside_results():
    # reference pages carry no measurements: a commit hash means a result that belongs in results/
    hashes = re.compile(r"\bat (?:commit )?`?[0-9a-f]{7}\b")
    found = {p.name: hashes.findall(p.read_text()) for p in (ROOT / "docs").glob("*.md")}
    assert {k: v for k, v in found.items() if v} == {}
