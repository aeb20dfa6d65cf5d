"""Run specs rolling over test years and seeds: plan -> execute -> collect, tracked in MLflow.

- plan (``zoo.train.plan.plan_spec``): the spec's parent run and the fit jobs it still needs;
- execute (``zoo.train.execute.execute``): the jobs on an executor (``zoo.train.executors``, serial or
  Dask), their events and outcomes into child runs (``zoo.tracking.children.ChildLog``);
- collect (``zoo.train.collect.collect``): stitch the years, ensemble the seeds, log and close the parent.

This module only wires the three together for a list of specs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from zoo.tracking import runs as tracking
from zoo.tracking.children import ChildLog, Log, OnChildDone, interrupted, quiet
from zoo.train.collect import SpecResult, collect
from zoo.train.execute import execute
from zoo.train.executors import FitExecutor, SerialExecutor
from zoo.train.jobs import DEFAULT_OPENER, DataRef, forget_source, register_source
from zoo.train.plan import SpecPlan, plan_spec
from zoo.train.source import DaySource


def run_specs(
    runs: Sequence[tuple[Any, DaySource]],
    *,
    experiment: str | None = None,
    uri: str | None = None,
    executor: FitExecutor | None = None,
    opener: str = DEFAULT_OPENER,
    plugins: Sequence[str] = (),
    log: Log = quiet,
    on_child_done: OnChildDone | None = None,
    run_names: Sequence[str | None] = (),
    description: str = "",
    final: bool = False,
    until: str | None = None,
) -> list[SpecResult]:
    """Plan every ``(spec, source)``, run all their jobs on ``executor`` (serial by default), collect each.

    One experiment (``experiment`` or the first spec's name; its UI description ``description`` or the
    first spec's) holds a parent run per spec. A finished
    (year, seed) of a parent with the same spec hash is never redone. A failing job marks its child
    FAILED, the other jobs still finish and are kept, then its parent is FAILED and the error raised.
    """
    if not runs:
        return []
    executor = executor or SerialExecutor()
    uri = uri or tracking.tracking_uri(runs[0][0].train.tracking_uri)
    c = tracking.client(uri)
    exp_id = tracking.ensure_experiment(
        c, experiment or runs[0][0].name, uri, description=description or runs[0][0].description
    )
    registered: list[tuple[str, Any]] = []
    plans: list[SpecPlan] = []
    results: dict[int, SpecResult] = {}

    def on_spec_done(plan: SpecPlan) -> None:
        if not plan.errors and plan.complete:
            results[id(plan)] = collect(plan, c)

    if executor.remote:
        from zoo.train.jobs import resolve_opener

        resolve_opener(opener)  # workers will import it by name: fail here, clearly, when they cannot
    try:
        names = list(run_names) + [None] * (len(runs) - len(run_names))
        for (spec, source), run_name in zip(runs, names, strict=True):
            if not executor.remote:
                # The driver's own source serves its in-process jobs (and keeps its day cache).
                register_source(opener, spec.data, source)
                registered.append((opener, spec.data))
            plans.append(
                plan_spec(
                    spec,
                    source,
                    c,
                    exp_id,
                    data=DataRef(opener, str(source.store)),
                    plugins=plugins,
                    log=log,
                    run_name=run_name,
                    final=final,
                    until=until,
                )
            )
        n_jobs = sum(len(p.jobs) for p in plans)
        if n_jobs:
            log(f"{n_jobs} fits to run on {executor.describe()}")
        children = ChildLog(c, plans, log, on_child_done)
        try:
            execute(plans, executor, children, on_spec_done)
        finally:
            children.close()
        errors = [e for p in plans for e in p.errors]
        if errors:
            failed = [p.spec.name for p in plans if p.errors]
            log(
                f"{len(errors)} fit(s) failed in {failed}; every finished fit is kept, rerun to redo the rest"
            )
            raise errors[0]
    except BaseException:
        status = "KILLED" if interrupted() else "FAILED"
        for plan in plans:
            if not plan.closed:
                c.set_terminated(plan.parent_id, status=status)
        raise
    finally:
        for name, data_spec in registered:
            forget_source(name, data_spec)
    return [results[id(p)] for p in plans]


def run_spec(
    spec,
    source: DaySource,
    *,
    experiment: str | None = None,
    uri: str | None = None,
    executor: FitExecutor | None = None,
    log: Log = quiet,
    on_child_done: OnChildDone | None = None,
    run_name: str | None = None,
    plugins: Sequence[str] = (),
    final: bool = False,
    until: str | None = None,
) -> SpecResult:
    """Train ``spec`` rolling over its test years for every seed; one parent run, a child per (year, seed).

    ``final``: instead, one fit per seed on every labelled day up to ``until`` (the deployable model,
    logged as a ``zoo.role=final`` run with a ``model/`` folder for ``zoo predict``).
    """
    (result,) = run_specs(
        [(spec, source)],
        experiment=experiment,
        uri=uri,
        executor=executor,
        plugins=plugins,
        log=log,
        on_child_done=on_child_done,
        run_names=[run_name],
        final=final,
        until=until,
    )
    return result
