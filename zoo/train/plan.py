"""Plan: turn a spec into its parent run and the fit jobs it still needs (finished ones are read back).

:func:`plan_spec` resolves the spec's test years and splits, finds or creates its parent run
(resumable by spec hash), reads back every finished (year, seed) and turns the rest into
:class:`~zoo.train.jobs.FitJob` values. Execute: ``zoo.train.execute``; collect: ``zoo.train.collect``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import xarray as xr

import zoo
from zoo.tracking import runs as tracking
from zoo.tracking.children import Log, quiet
from zoo.tracking.parent import create_parent, kill_dead_children, resume_parent
from zoo.train.jobs import DataRef, FitJob
from zoo.train.source import DaySource, capability
from zoo.train.splits import Split, default_test_years, final_split, resolve_purge, rolling_splits


@attrs.define
class SpecPlan:
    """One spec's parent run, its splits, the scores it already has and the jobs still to run."""

    spec: Any
    spec_hash: str
    source: DaySource
    experiment_id: str
    parent_id: str
    splits: list[Split]
    purge: int
    fingerprint: str
    jobs: list[FitJob]
    #: (test year, seed) -> the test year's score (read back from MLflow, or a finished job's).
    scores: dict[tuple[int, int], xr.DataArray]
    reused: int
    trained: int = 0
    errors: list[BaseException] = attrs.field(factory=list)
    closed: bool = False
    #: Outside plugin modules' versions when the plan was made (logged on each child).
    plugin_versions: dict[str, str] = attrs.field(factory=dict)
    #: A final fit (``zoo train --final``): one split up to a date, parent tagged ``zoo.role=final``.
    final: bool = False

    @property
    def complete(self) -> bool:
        """Every (year, seed) has a score."""
        return len(self.scores) == len(self.splits) * len(self.spec.train.seeds)


def _with_test_years(spec, source: DaySource, log: Log):
    t = spec.train
    if t.test_years:
        return spec
    # Resolved before hashing, so the run's spec (and its hash) names the years it tested on.
    years = default_test_years(source.dates, t.train_years, t.valid_years)
    log(f"[{spec.name}] train.test_years not set: testing on {list(years)} (the last full years)")
    return attrs.evolve(spec, train=attrs.evolve(t, test_years=years))


def parent_tags(
    spec,
    spec_hash: str,
    source: DaySource,
    fingerprint: str,
    versions: Mapping[str, str],
    role: str,
    final_match: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """A new parent run's tags: spec, data, code and plugin versions (``final_match``: a final run's)."""
    import json

    import numpy as np

    tags = {
        "zoo.role": role,
        "zoo.spec_name": spec.name,
        "zoo.spec_hash": spec_hash,
        "zoo.data_fingerprint": fingerprint,
        "zoo.data_store": str(source.store),
        "zoo.git_commit": tracking.git_commit(),
        "zoo.version": zoo.__version__,
    }
    if versions:
        tags[tracking.PLUGINS_TAG] = tracking.dump_versions(versions)
    schema = capability(source, "schema")
    if schema is not None:  # what `zoo predict` checks a later cube against
        tags["zoo.data_schema"] = json.dumps(schema(), sort_keys=True)
    if final_match is not None:
        tags.update(final_match)
        tags["zoo.data_last_date"] = str(np.asarray(source.dates).astype("datetime64[D]")[-1])
    return tags


def plan_spec(
    spec,
    source: DaySource,
    c,
    experiment_id: str,
    *,
    data: DataRef,
    plugins: Sequence[str] = (),
    log: Log = quiet,
    run_name: str | None = None,
    final: bool = False,
    until: str | None = None,
) -> SpecPlan:
    """Find or create the spec's parent run and list the (year, seed) fits it still needs as jobs.

    ``run_name`` names a new parent run (default: the spec's name); the spec and its hash keep theirs.
    ``final``: one split instead of the rolling ones, every labelled day up to ``until`` (default: the
    last date with a known label, :func:`~zoo.train.splits.final_split`); the parent is tagged
    ``zoo.role=final`` with the date and the data's last date, and resumes only with the same data.
    """
    import numpy as np

    from zoo.specs import canonical_toml, spec_hash

    if not final:
        spec = _with_test_years(spec, source, log)
    t = spec.train
    h = spec_hash(spec)
    purge = resolve_purge(t.purge_days, spec.data.horizon)
    fingerprint = source.fingerprint()
    from zoo.registry import get_registry

    # Outside plugins' code is not in the spec hash; their versions are logged and compared on resume.
    versions = get_registry(tuple(spec.plugins) + tuple(plugins)).outside_versions()
    role, match = "parent", {}
    if final:
        split = final_split(source.dates, until, t.train_years, t.valid_years, purge, spec.data.horizon)
        splits = [split]
        dates = np.asarray(source.dates).astype("datetime64[D]")
        role = "final"
        match = {"zoo.until": str(dates[split.valid[-1]]), "zoo.data_fingerprint": fingerprint}
    else:
        splits = rolling_splits(source.dates, t.test_years, t.train_years, t.valid_years, purge)
    parent = tracking.find_parent(c, experiment_id, h, role, match)
    if parent is None:
        tags = parent_tags(spec, h, source, fingerprint, versions, role, match if final else None)
        name = f"{run_name or spec.name}-final" if final else run_name or spec.name
        parent_id = create_parent(c, experiment_id, spec, tags, name)
        log(f"[{spec.name}] new {role} run {parent_id} (spec {h})")
        if final:
            log(f"[{spec.name}] final fit: {splits[0].describe(source.dates)}")
    else:
        parent_id = resume_parent(c, parent, versions, log, spec.name)
    kill_dead_children(c, experiment_id, parent_id)
    done = tracking.finished_children(c, experiment_id, parent_id, h)
    text = canonical_toml(spec)
    token = uuid.uuid4().hex[:8]
    scores: dict[tuple[int, int], xr.DataArray] = {}
    jobs: list[FitJob] = []
    for split in splits:
        for seed in t.seeds:
            key = (split.test_year, seed)
            if key in done:
                scores[key] = tracking.download_scores(c, done[key].info.run_id, "predictions/scores.zarr")
            else:
                jobs.append(FitJob(text, h, spec.name, tuple(plugins), split, seed, data, token))
    return SpecPlan(
        spec,
        h,
        source,
        experiment_id,
        parent_id,
        splits,
        purge,
        fingerprint,
        jobs,
        scores,
        len(scores),
        plugin_versions=versions,
        final=final,
    )
